"""The Microsoft Graph HTTP client: one httpx seam, bounded retries, per-mailbox concurrency, ``$batch``,
and the typed calendar operations Slotwise uses.

Every operation takes ``user_id`` first: the Slotwise user whose delegated token is used (the
``token_provider`` is asked for it) and whose mailbox ``/me`` means. What the client guarantees:

* a ``client-request-id`` GUID on every HTTP request: the id of the request (or background job pass) being
  served (``scheduling.correlation``; an id that is not a GUID is mapped to one, the same every time), else a
  fresh one per attempt; Graph's ``request-id`` is logged on errors;
* an optional :class:`GraphObserver` (metrics) is told every attempt's status and every wait before a retry;
* at most ``max_concurrency_per_mailbox`` (Outlook's limit: 4) requests in flight per target mailbox
  (``/me`` -> the token's user, ``/users/{x}`` -> ``x``); the slot is released while waiting to retry;
* 429, 503, 504, connect errors and timeouts are retried, honouring ``Retry-After`` (fractional
  seconds) or else with jittered exponential backoff, bounded in attempts and total wait; then
  :class:`GraphThrottled` / :class:`GraphTransient`;
* a 401 asks the token provider once more with ``force_refresh=True``; a second 401 is
  :class:`CalendarAuthError` (a CAE claims challenge is :class:`ClaimsChallenge` at once);
* paged reads follow ``@odata.nextLink`` to the end, using the link as given (no parameters re-added);
* ``getSchedule`` is split into calls of at most 20 schedules and windows of at most 61 days, and an
  errored schedule is an error value, never empty busy time;
* ``$batch`` sends at most 20 requests per call, matches answers by ``id``, and re-sends only the inner
  requests answered 429/503/504, in a new batch, after the longest of their ``Retry-After`` values.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

import httpx

from graph.errors import (
    AccessDenied,
    CalendarAuthError,
    GraphError,
    GraphTransient,
    MailboxNotEnabled,
    ScheduleUnavailable,
    claims_from_www_authenticate,
    graph_error,
)
from graph.eventbody import event_body, reschedule_patch
from graph.models import (
    BOOKING_EXPAND,
    BatchRequest,
    BatchResponse,
    DeltaResult,
    GraphCalendarInfo,
    GraphEvent,
    GraphUser,
    MailboxSettings,
    ScheduleItem,
    ScheduleResult,
    Subscription,
    parse_schedule_items,
)
from graph.retry import RETRYABLE_STATUSES, RetryPolicy, parse_retry_after
from graph.timefmt import iso_z, to_dtz
from scheduling.correlation import current_request_id
from scheduling.ports import EventDraft
from scheduling.rules import BusyStatus

log = logging.getLogger("slotwise.graph")

GRAPH_V1 = "https://graph.microsoft.com/v1.0"
MAX_BATCH = 20
MAX_SCHEDULES = 20
MAX_SCHEDULE_WINDOW = timedelta(days=61)
DEFAULT_PAGE_SIZE = 500
EVENT_SELECT = (
    "id,subject,start,end,isAllDay,showAs,isCancelled,type,seriesMasterId,iCalUId,"
    "isOnlineMeeting,onlineMeetingProvider,onlineMeeting,transactionId,isOrganizer,attendees"
)
BUSY_SELECT = "id,start,end,isAllDay,showAs,isCancelled,type"
_UTC_PREFER = 'outlook.timezone="UTC"'
#: getSchedule failures that are about the caller (their sign-in or their own mailbox), not the schedules
CALLER_ERRORS = (CalendarAuthError, MailboxNotEnabled, AccessDenied)
_AVAILABILITY_DIGITS = {
    "0": BusyStatus.FREE,
    "1": BusyStatus.TENTATIVE,
    "2": BusyStatus.BUSY,
    "3": BusyStatus.OOF,
    "4": BusyStatus.WORKING_ELSEWHERE,
}

TokenProvider = Callable[..., Awaitable[str]]
Sleep = Callable[[float], Awaitable[None]]
#: the namespace of the GUIDs derived from request ids that are not GUIDs themselves
_REQUEST_ID_NAMESPACE = uuid.UUID("5a0d1e0b-51a7-4c6e-9d1e-c0441e7a7e1d")
PROBE_TIMEOUT = 2.0  # seconds: how long the readiness probe waits for Graph to answer


class GraphObserver(Protocol):
    """Told what the client does (metrics). Must not raise or block."""

    def graph_response(self, method: str, status: int | None) -> None:
        """One HTTP attempt ended with ``status`` (None: no answer: a timeout or a network error)."""

    def graph_retry_wait(self, reason: str, seconds: float) -> None:
        """The client waits ``seconds`` before retrying, because of ``reason`` (``"429"``, ``"503"``, ``"504"``,
        ``"network"``, or ``"batch"`` for inner ``$batch`` answers)."""


class _NoObserver:
    def graph_response(self, method: str, status: int | None) -> None:
        return None

    def graph_retry_wait(self, reason: str, seconds: float) -> None:
        return None


def client_request_id(request_id: str | None = None) -> str:
    """The ``client-request-id`` for a call made while serving ``request_id`` (default: the current one): that
    id when it is a GUID, else a GUID derived from it (the same each time; Graph wants a GUID); a fresh GUID
    when no request is being served."""
    rid = request_id if request_id is not None else current_request_id()
    if rid is None:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(rid))
    except ValueError:
        return str(uuid.uuid5(_REQUEST_ID_NAMESPACE, rid))


@dataclass(frozen=True, slots=True)
class GraphResponse:
    status: int
    headers: Mapping[str, str]
    body: Any


def query(params: Mapping[str, object]) -> str:
    """OData-friendly query string: ``$`` and ``'()`` kept literal, spaces as ``%20``."""
    return urlencode({k: str(v) for k, v in params.items()}, quote_via=quote, safe="$,:'()/@")


def quote_id(item_id: str) -> str:
    """Graph ids contain ``/``, ``+`` and ``=``: encode them all inside a path segment."""
    return quote(item_id, safe="")


def _accepts_force_refresh(fn: Callable[..., object]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "force_refresh" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _json_body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    if "json" in response.headers.get("content-type", ""):
        try:
            return response.json()
        except ValueError:
            return response.text
    return response.text


def _windows(start: datetime, end: datetime, size: timedelta) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    cursor = start
    while cursor < end:
        nxt = min(end, cursor + size)
        out.append((cursor, nxt))
        cursor = nxt
    return out


class GraphClient:
    """Async Microsoft Graph client (see the module docstring for its guarantees).

    ``token_provider(user_id)`` (optionally accepting ``force_refresh``) returns a bearer token.
    ``transport`` is the httpx seam for tests; ``sleep`` is awaited between retries; ``now`` supplies
    the reference year for custom working-hours zones.
    """

    def __init__(
        self,
        base_url: str = GRAPH_V1,
        *,
        token_provider: TokenProvider,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 20.0,
        max_concurrency_per_mailbox: int = 4,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        max_total_wait: float = 30.0,
        max_retry_after: float = 30.0,
        sleep: Sleep = asyncio.sleep,
        page_size: int = DEFAULT_PAGE_SIZE,
        now: Callable[[], datetime] | None = None,
        observer: GraphObserver | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.observer: GraphObserver = observer or _NoObserver()
        self._base = urlsplit(self.base_url)
        self._token_provider = token_provider
        self._force_refresh_kw = _accepts_force_refresh(token_provider)
        self._http = httpx.AsyncClient(
            transport=transport, timeout=httpx.Timeout(timeout, connect=10.0), headers={"Accept": "application/json"}
        )
        self._limit = max_concurrency_per_mailbox
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self.retry = RetryPolicy(
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            max_total_wait=max_total_wait,
            max_retry_after=max_retry_after,
        )
        self._sleep = sleep
        self.page_size = page_size
        self._now = now or (lambda: datetime.now(UTC))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def unreachable(self, seconds: float = PROBE_TIMEOUT) -> str | None:
        """None when Graph's base URL answers HTTP within ``seconds`` (any status: an answer without a
        token is a 401, and that is enough to know Graph is there), else why not. For the readiness probe: one
        unauthenticated GET, no retries, not counted as a Graph call."""
        try:
            response = await self._http.get(self.base_url + "/", timeout=seconds)
            await response.aclose()
        except httpx.TimeoutException:
            return f"no answer within {seconds:g} s"
        except httpx.HTTPError as exc:
            return f"unreachable ({type(exc).__name__})"
        return None

    async def __aenter__(self) -> GraphClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ transport, retries, auth

    def url(self, path_or_url: str) -> str:
        """Absolute URL for ``/me/...`` or a link Graph returned.

        A link on another host (Graph's public host while ``base_url`` points at a proxy or the
        emulator) is re-rooted onto ``base_url`` by its path after the version segment."""
        if path_or_url.startswith(self.base_url):
            return path_or_url
        if "://" not in path_or_url:
            return self.base_url + "/" + path_or_url.lstrip("/")
        link = urlsplit(path_or_url)
        if link.netloc == self._base.netloc and link.scheme == self._base.scheme:
            return path_or_url
        version = "/" + self._base.path.rstrip("/").rsplit("/", 1)[-1] + "/"
        rest = link.path.split(version, 1)[1] if version in link.path else link.path.lstrip("/")
        return f"{self.base_url}/{rest}" + (f"?{link.query}" if link.query else "")

    def mailbox_key(self, user_id: str, path_or_url: str) -> str:
        """The mailbox a request targets: ``/users/{x}/...`` -> ``x``; anything else -> the token's user."""
        path = urlsplit(self.url(path_or_url)).path[len(self._base.path.rstrip("/")) :]
        parts = path.strip("/").split("/")
        if len(parts) >= 2 and parts[0].lower() == "users":
            return parts[1].lower()
        return user_id.lower()

    def _semaphore(self, key: str) -> asyncio.Semaphore:
        sem = self._semaphores.get(key)
        if sem is None:
            sem = self._semaphores[key] = asyncio.Semaphore(self._limit)
        return sem

    async def _token(self, user_id: str, force_refresh: bool) -> str:
        if force_refresh and self._force_refresh_kw:
            return await self._token_provider(user_id, force_refresh=True)
        return await self._token_provider(user_id)

    async def request(
        self,
        user_id: str,
        method: str,
        path_or_url: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        mailbox: str | None = None,
        what: str = "",
    ) -> GraphResponse:
        """One logical Graph call with retries; returns the 2xx answer or raises a :class:`GraphError`."""
        url = self.url(path_or_url)
        key = (mailbox or self.mailbox_key(user_id, url)).lower()
        what = what or f"{method} {urlsplit(url).path}"
        attempt, waited, refreshed = 0, 0.0, False
        while True:
            token = await self._token(user_id, force_refresh=refreshed)
            crid = client_request_id()
            req_headers = {
                "Authorization": f"Bearer {token}",
                "client-request-id": crid,
                "return-client-request-id": "true",
                **(headers or {}),
            }
            try:
                async with self._semaphore(key):
                    response = await self._http.request(method, url, json=json, headers=req_headers)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                self.observer.graph_response(method, None)
                delay = self.retry.delay(attempt, None, waited)
                log.info(
                    "graph %s failed (%s, client-request-id=%s); retry in %s", what, type(exc).__name__, crid, delay
                )
                if delay is None:
                    raise GraphTransient(detail=str(exc) or type(exc).__name__, client_request_id=crid) from exc
                self.observer.graph_retry_wait("network", delay)
                await self._sleep(delay)
                attempt, waited = attempt + 1, waited + delay
                continue
            status = response.status_code
            self.observer.graph_response(method, status)
            log.debug(
                "graph %s -> %s client-request-id=%s request-id=%s",
                what,
                status,
                crid,
                response.headers.get("request-id", "-"),
            )
            if status < 400:
                return GraphResponse(status, response.headers, _json_body(response))
            body = _json_body(response)
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if (
                status == 401
                and not refreshed
                and not claims_from_www_authenticate(response.headers.get("www-authenticate", ""))
            ):
                log.info("graph %s -> 401 (client-request-id=%s); retrying with a refreshed token", what, crid)
                refreshed = True
                continue
            if status in RETRYABLE_STATUSES:
                delay = self.retry.delay(attempt, retry_after, waited)
                if delay is not None:
                    log.info(
                        "graph %s -> %s (client-request-id=%s); retry %d in %.3fs",
                        what,
                        status,
                        crid,
                        attempt + 1,
                        delay,
                    )
                    self.observer.graph_retry_wait(str(status), delay)
                    await self._sleep(delay)
                    attempt, waited = attempt + 1, waited + delay
                    continue
            raise graph_error(
                status, body, response.headers, client_request_id=crid, retry_after=retry_after, what=what
            )

    async def get_json(
        self, user_id: str, path: str, *, headers: Mapping[str, str] | None = None, what: str = ""
    ) -> Any:
        return (await self.request(user_id, "GET", path, headers=headers, what=what)).body

    async def get_pages(
        self,
        user_id: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        first_page: Mapping[str, Any] | None = None,
        what: str = "",
    ) -> list[dict[str, Any]]:
        """All ``value`` items of a collection, following ``@odata.nextLink`` until it is absent.

        ``first_page`` is an already-fetched page (from ``$batch``): only its next links are followed."""
        items: list[dict[str, Any]] = []
        page: Any = (
            first_page if first_page is not None else await self.get_json(user_id, path, headers=headers, what=what)
        )
        while True:
            if not isinstance(page, Mapping):
                raise GraphError(detail=f"unexpected page shape for {what or path}")
            items.extend(page.get("value") or ())
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return items
            page = await self.get_json(user_id, str(next_link), headers=headers, what=what)

    # ------------------------------------------------------------------ $batch

    async def batch(self, user_id: str, requests: Sequence[BatchRequest]) -> dict[str, BatchResponse]:
        """Send ``requests`` through ``POST /$batch`` (chunks of 20), answers keyed by request id.

        Inner 429/503/504 answers are retried (only those, in a new batch, after the longest
        ``Retry-After``) within the retry policy; what still fails is returned as is, for the
        caller to turn into an error with :func:`inner_error`."""
        ids = [r.id for r in requests]
        if len({i.lower() for i in ids}) != len(ids):
            raise ValueError("batch request ids must be unique (case-insensitively)")
        by_id = {r.id: r for r in requests}
        results: dict[str, BatchResponse] = {}
        pending = list(requests)
        attempt, waited = 0, 0.0
        while pending:
            chunks = [pending[i : i + MAX_BATCH] for i in range(0, len(pending), MAX_BATCH)]
            answers = await asyncio.gather(*(self._send_batch(user_id, chunk) for chunk in chunks))
            retry: list[BatchRequest] = []
            waits: list[float] = []
            for answer in answers:
                for rid, resp in answer.items():
                    results[rid] = resp
                    if resp.status in RETRYABLE_STATUSES:
                        retry.append(by_id[rid])
                        ra = parse_retry_after(_header(resp.headers, "retry-after"))
                        if ra is not None:
                            waits.append(ra)
            if not retry:
                break
            delay = self.retry.delay(attempt, max(waits) if waits else None, waited)
            if delay is None:
                log.warning(
                    "batch: %d inner requests still throttled/unavailable after %d retries", len(retry), attempt
                )
                break
            log.info("batch: retrying %d inner requests in %.3fs", len(retry), delay)
            self.observer.graph_retry_wait("batch", delay)
            await self._sleep(delay)
            attempt, waited = attempt + 1, waited + delay
            pending = retry
        return {rid: results[rid] for rid in ids}

    async def _send_batch(self, user_id: str, chunk: Sequence[BatchRequest]) -> dict[str, BatchResponse]:
        payload = {"requests": [r.to_json() for r in chunk]}
        resp = await self.request(user_id, "POST", "/$batch", json=payload, what="$batch")
        answers: dict[str, BatchResponse] = {}
        wanted = {r.id.lower(): r.id for r in chunk}
        body = resp.body if isinstance(resp.body, Mapping) else {}
        for inner in body.get("responses") or ():
            rid = wanted.get(str(inner.get("id", "")).lower())
            if rid is None:
                continue
            answers[rid] = BatchResponse(
                rid, int(inner.get("status", 500)), dict(inner.get("headers") or {}), inner.get("body")
            )
        for rid in wanted.values():
            if rid not in answers:
                answers[rid] = BatchResponse(
                    rid, 503, {}, {"error": {"code": "missingBatchResponse", "message": "No answer in $batch"}}
                )
        return answers

    # ------------------------------------------------------------------ profile and settings

    async def me(self, user_id: str) -> GraphUser:
        select = query({"$select": "id,displayName,mail,userPrincipalName"})
        data = await self.get_json(user_id, f"/me?{select}", what="me")
        return GraphUser.from_json(data)

    async def mailbox_settings(self, user_id: str) -> MailboxSettings:
        """The mailbox time zone (IANA) and working hours (custom zones matched, see graph.customzone)."""
        data = await self.get_json(user_id, "/me/mailboxSettings", what="mailboxSettings")
        return MailboxSettings.from_json(data or {}, reference_year=self._now().year)

    async def list_calendars(self, user_id: str) -> list[GraphCalendarInfo]:
        items = await self.get_pages(user_id, "/me/calendars?" + query({"$top": 100}), what="calendars")
        return [GraphCalendarInfo.from_json(c) for c in items]

    # ------------------------------------------------------------------ free/busy

    async def get_schedule(
        self, user_id: str, schedules: Sequence[str], start: datetime, end: datetime, interval: int = 30
    ) -> dict[str, ScheduleResult]:
        """Free/busy of ``schedules`` (SMTP addresses) over ``[start, end)``, keyed as requested.

        A failure about the caller (:data:`CALLER_ERRORS`: their sign-in, their own mailbox) raises. Any
        other failed call becomes the ``error`` of each of its schedules (so one failed chunk doesn't lose
        the others), and every per-schedule ``freeBusyError`` Graph reports inside its 200 becomes a
        :class:`ScheduleUnavailable`. Requests go out concurrently (the per-mailbox limit applies)."""
        unique: dict[str, str] = {}
        for s in schedules:
            unique.setdefault(s.lower(), s)
        ids = list(unique.values())
        if not ids or end <= start:
            return {s: ScheduleResult(s) for s in ids}
        calls = [
            (chunk, w)
            for chunk in (ids[i : i + MAX_SCHEDULES] for i in range(0, len(ids), MAX_SCHEDULES))
            for w in _windows(start, end, MAX_SCHEDULE_WINDOW)
        ]
        answers = await asyncio.gather(
            *(self._schedule_call(user_id, chunk, ws, we, interval) for chunk, (ws, we) in calls),
            return_exceptions=True,
        )
        items: dict[str, list[ScheduleItem]] = {s.lower(): [] for s in ids}
        errors: dict[str, GraphError] = {}
        hours: dict[str, Any] = {}
        for (chunk, _), answer in zip(calls, answers, strict=True):
            if isinstance(answer, CALLER_ERRORS):
                raise answer
            if isinstance(answer, BaseException):
                if not isinstance(answer, GraphError):
                    raise answer
                for s in chunk:
                    errors.setdefault(s.lower(), answer)
                continue
            for key, result in answer.items():
                if result.error is not None:
                    errors.setdefault(key, result.error)
                else:
                    items[key].extend(result.items)
                    hours.setdefault(key, result.working_hours)
        out: dict[str, ScheduleResult] = {}
        for s in ids:
            key = s.lower()
            if key in errors:
                out[s] = ScheduleResult(s, error=errors[key])
            else:
                merged = tuple(sorted(set(items[key]), key=lambda i: (i.start, i.end)))
                out[s] = ScheduleResult(s, merged, working_hours=hours.get(key))
        return out

    async def _schedule_call(
        self, user_id: str, chunk: Sequence[str], start: datetime, end: datetime, interval: int
    ) -> dict[str, ScheduleResult]:
        body = {
            "schedules": list(chunk),
            "startTime": to_dtz(start, "UTC"),
            "endTime": to_dtz(end, "UTC"),
            "availabilityViewInterval": interval,
        }
        resp = await self.request(
            user_id, "POST", "/me/calendar/getSchedule", json=body, headers={"Prefer": _UTC_PREFER}, what="getSchedule"
        )
        values = list((resp.body or {}).get("value") or ()) if isinstance(resp.body, Mapping) else []
        by_id = {str(v.get("scheduleId", "")).lower(): v for v in values if isinstance(v, Mapping)}
        out: dict[str, ScheduleResult] = {}
        for position, s in enumerate(chunk):
            entry = by_id.get(s.lower())
            if entry is None and position < len(values) and not values[position].get("scheduleId"):
                entry = values[position]
            out[s.lower()] = self._schedule_result(s, entry, start, interval)
        return out

    def _schedule_result(
        self, schedule_id: str, entry: Mapping[str, Any] | None, start: datetime, interval: int
    ) -> ScheduleResult:
        if entry is None:
            return ScheduleResult(
                schedule_id,
                error=ScheduleUnavailable(
                    f"Microsoft 365 returned no free/busy information for {schedule_id}.", graph_code="missingSchedule"
                ),
            )
        error = entry.get("error")
        if error:
            code = str(error.get("responseCode") or "") if isinstance(error, Mapping) else ""
            detail = str(error.get("message") or "") if isinstance(error, Mapping) else str(error)
            log.warning("getSchedule: schedule %s failed: responseCode=%s %s", schedule_id, code, detail)
            return ScheduleResult(
                schedule_id,
                error=ScheduleUnavailable(
                    f"Microsoft 365 could not read the calendar of {schedule_id}: {detail or 'unknown error'}",
                    graph_code=code or "freeBusyError",
                    detail=detail,
                ),
            )
        hours_json = entry.get("workingHours")
        working = None
        if isinstance(hours_json, Mapping):
            working = MailboxSettings.from_json(
                {"workingHours": hours_json}, reference_year=self._now().year
            ).working_hours
        raw_items = entry.get("scheduleItems")
        if raw_items is None and entry.get("availabilityView") is not None:
            return ScheduleResult(
                schedule_id,
                _from_availability_view(str(entry["availabilityView"]), start, interval),
                working_hours=working,
            )
        if raw_items is None:
            return ScheduleResult(
                schedule_id,
                error=ScheduleUnavailable(
                    f"Microsoft 365 returned no free/busy items for {schedule_id}.", graph_code="noScheduleItems"
                ),
            )
        return ScheduleResult(schedule_id, parse_schedule_items(raw_items), working_hours=working)

    # ------------------------------------------------------------------ events

    def _view_path(
        self, start: datetime, end: datetime, calendar_id: str | None, select: str | None, expand: str | None = None
    ) -> str:
        base = f"/me/calendars/{quote_id(calendar_id)}/calendarView" if calendar_id else "/me/calendarView"
        params: dict[str, object] = {"startDateTime": iso_z(start), "endDateTime": iso_z(end), "$top": self.page_size}
        if select:
            params["$select"] = select
        if expand:
            params["$expand"] = expand
        return f"{base}?{query(params)}"

    async def calendar_view(
        self,
        user_id: str,
        start: datetime,
        end: datetime,
        calendar_id: str | None = None,
        select: str | None = EVENT_SELECT,
        expand: str | None = None,
    ) -> list[GraphEvent]:
        """Expanded events (occurrences included) in ``[start, end)``, every page."""
        path = self._view_path(start, end, calendar_id, select, expand)
        items = await self.get_pages(user_id, path, headers={"Prefer": _UTC_PREFER}, what="calendarView")
        return [GraphEvent.from_json(e) for e in items]

    async def calendar_views(
        self,
        user_id: str,
        calendar_ids: Sequence[str],
        start: datetime,
        end: datetime,
        select: str | None = BUSY_SELECT,
    ) -> dict[str, list[GraphEvent] | GraphError]:
        """``calendarView`` of several calendars in one ``$batch`` (per 20), each paged to the end;
        a calendar whose read failed maps to its error."""
        reqs = [
            BatchRequest(str(i + 1), "GET", self._view_path(start, end, cid, select), headers={"Prefer": _UTC_PREFER})
            for i, cid in enumerate(calendar_ids)
        ]
        answers = await self.batch(user_id, reqs)
        out: dict[str, list[GraphEvent] | GraphError] = {}
        for req, cid in zip(reqs, calendar_ids, strict=True):
            resp = answers[req.id]
            if not resp.ok:
                out[cid] = inner_error(resp, what=f"calendarView {cid}")
                continue
            try:
                items = await self.get_pages(
                    user_id, "", headers={"Prefer": _UTC_PREFER}, first_page=resp.body, what="calendarView"
                )
            except GraphError as exc:
                out[cid] = exc
                continue
            out[cid] = [GraphEvent.from_json(e) for e in items]
        return out

    async def create_event(
        self, user_id: str, draft: EventDraft, calendar_id: str | None = None, *, time_zone: str | None = None
    ) -> GraphEvent:
        """Create the booking's event (see :func:`graph.eventbody.event_body`); returns Graph's 201 copy."""
        path = f"/me/calendars/{quote_id(calendar_id)}/events" if calendar_id else "/me/events"
        resp = await self.request(
            user_id,
            "POST",
            path,
            json=event_body(draft, time_zone=time_zone),
            headers={"Prefer": _UTC_PREFER},
            what="create event",
        )
        return GraphEvent.from_json(resp.body)

    @staticmethod
    def event_path(event_id: str, calendar_id: str | None = None) -> str:
        """``/me/events/{id}``, or ``/me/calendars/{cal}/events/{id}`` for an event in a chosen calendar
        (needed for a calendar shared with the user: its events live in the sharer's mailbox, so
        ``/me/events/{id}`` does not find them)."""
        if calendar_id:
            return f"/me/calendars/{quote_id(calendar_id)}/events/{quote_id(event_id)}"
        return f"/me/events/{quote_id(event_id)}"

    async def get_event(
        self, user_id: str, event_id: str, select: str | None = None, calendar_id: str | None = None
    ) -> GraphEvent:
        """One event with the Slotwise booking tag expanded; :class:`GraphNotFound` if it is gone."""
        params: dict[str, object] = {"$expand": BOOKING_EXPAND}
        if select:
            params["$select"] = select
        data = await self.get_json(
            user_id,
            f"{self.event_path(event_id, calendar_id)}?{query(params)}",
            headers={"Prefer": _UTC_PREFER},
            what="get event",
        )
        return GraphEvent.from_json(data)

    async def update_event(
        self, user_id: str, event_id: str, patch: Mapping[str, Any], calendar_id: str | None = None
    ) -> GraphEvent:
        """``PATCH`` the event with exactly ``patch`` (see :func:`graph.eventbody.reschedule_patch`)."""
        resp = await self.request(
            user_id,
            "PATCH",
            self.event_path(event_id, calendar_id),
            json=dict(patch),
            headers={"Prefer": _UTC_PREFER},
            what="update event",
        )
        return GraphEvent.from_json(resp.body)

    async def reschedule_event(
        self,
        user_id: str,
        event_id: str,
        start: datetime,
        end: datetime,
        time_zone: str,
        calendar_id: str | None = None,
    ) -> GraphEvent:
        """Move the event: start and end only, so the body (and its Teams meeting) is untouched."""
        return await self.update_event(user_id, event_id, reschedule_patch(start, end, time_zone), calendar_id)

    async def cancel_event(
        self, user_id: str, event_id: str, comment: str = "", calendar_id: str | None = None
    ) -> None:
        """Organizer only: attendees get a cancellation with ``comment``; the event goes to Deleted Items."""
        await self.request(
            user_id,
            "POST",
            self.event_path(event_id, calendar_id) + "/cancel",
            json={"comment": comment},
            what="cancel event",
        )

    async def delete_event(self, user_id: str, event_id: str, calendar_id: str | None = None) -> None:
        await self.request(user_id, "DELETE", self.event_path(event_id, calendar_id), what="delete event")

    async def find_tagged_events(
        self, user_id: str, start: datetime, end: datetime, calendar_id: str | None = None
    ) -> list[GraphEvent]:
        """Events in ``[start, end)`` that carry the Slotwise booking tag (calendarView with the tag
        expanded; untagged events are dropped here)."""
        events = await self.calendar_view(user_id, start, end, calendar_id, select=EVENT_SELECT, expand=BOOKING_EXPAND)
        return [e for e in events if e.booking_id]

    # ------------------------------------------------------------------ change tracking

    async def create_subscription(
        self,
        user_id: str,
        *,
        notification_url: str,
        expiration: datetime,
        client_state: str,
        resource: str = "me/events",
        change_type: str = "created,updated,deleted",
        lifecycle_notification_url: str | None = None,
    ) -> Subscription:
        """``POST /subscriptions`` (Graph first runs the validation handshake against both URLs: an
        endpoint that does not echo ``validationToken`` makes this a :class:`GraphBadRequest`). Graph may
        move ``expiration`` (an expiry under 45 minutes away is raised to 45): use the returned one."""
        body: dict[str, Any] = {
            "changeType": change_type,
            "notificationUrl": notification_url,
            "resource": resource,
            "expirationDateTime": iso_z(expiration),
            "clientState": client_state,
            "latestSupportedTlsVersion": "v1_2",
        }
        if lifecycle_notification_url:
            body["lifecycleNotificationUrl"] = lifecycle_notification_url
        resp = await self.request(user_id, "POST", "/subscriptions", json=body, what="create subscription")
        return Subscription.from_json(resp.body)

    async def renew_subscription(self, user_id: str, subscription_id: str, expiration: datetime) -> Subscription:
        """``PATCH`` the expiry (this also reauthorizes); :class:`GraphNotFound` if the subscription is gone
        (expired or removed: create a new one)."""
        resp = await self.request(
            user_id,
            "PATCH",
            f"/subscriptions/{quote_id(subscription_id)}",
            json={"expirationDateTime": iso_z(expiration)},
            what="renew subscription",
        )
        return Subscription.from_json(resp.body)

    async def reauthorize_subscription(self, user_id: str, subscription_id: str) -> None:
        """Answer a ``reauthorizationRequired`` lifecycle notification without changing the expiry
        (``POST /subscriptions/{id}/reauthorize``, 204). Don't also renew the same subscription within
        10 minutes (Graph warns of inconsistent state): a renewal reauthorizes by itself."""
        await self.request(
            user_id, "POST", f"/subscriptions/{quote_id(subscription_id)}/reauthorize", what="reauthorize subscription"
        )

    async def get_subscription(self, user_id: str, subscription_id: str) -> Subscription:
        """The subscription as Graph has it; :class:`GraphNotFound` once it expired or was removed."""
        data = await self.get_json(user_id, f"/subscriptions/{quote_id(subscription_id)}", what="get subscription")
        return Subscription.from_json(data)

    async def delete_subscription(self, user_id: str, subscription_id: str) -> None:
        await self.request(user_id, "DELETE", f"/subscriptions/{quote_id(subscription_id)}", what="delete subscription")

    async def calendar_view_delta(
        self,
        user_id: str,
        *,
        delta_link: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        page_size: int | None = None,
    ) -> DeltaResult:
        """One delta round of the primary calendar's view, followed through every ``@odata.nextLink`` to its
        ``@odata.deltaLink``: from ``delta_link`` (incremental), or a full sync of ``[start, end)``.

        ``changes`` are new or changed instances (the last version when one repeats); ``removed_ids`` are
        instances reported ``@removed`` (deleted, cancelled, or moved out of the window: Graph also lists
        changes *outside* the window this way). An expired token (410, ``syncStateNotFound``,
        ``resyncRequired``), also mid-round, raises :class:`DeltaTokenExpired`: start a full sync.
        ``page_size`` is sent as ``Prefer: odata.maxpagesize`` (default: the client's page size)."""
        if delta_link:
            url = delta_link
        elif start is not None and end is not None:
            window = query({"startDateTime": iso_z(start), "endDateTime": iso_z(end)})
            url = f"/me/calendarView/delta?{window}"
        else:
            raise ValueError("calendar_view_delta needs a delta_link or a start and end")
        headers = {"Prefer": f"{_UTC_PREFER}, odata.maxpagesize={page_size or self.page_size}"}
        changes: dict[str, GraphEvent] = {}
        removed: dict[str, None] = {}
        while True:
            page = await self.get_json(user_id, url, headers=headers, what="calendarView delta")
            if not isinstance(page, Mapping):
                raise GraphError(detail="calendarView delta returned no JSON page")
            for item in page.get("value") or ():
                item_id = str(item.get("id") or "")
                if "@removed" in item:
                    changes.pop(item_id, None)
                    removed[item_id] = None
                    continue
                try:
                    changes[item_id] = GraphEvent.from_json(item)
                except ValueError:
                    log.warning("delta: event %s has no readable start/end; skipped", item_id)
                    continue
                removed.pop(item_id, None)
            if page.get("@odata.nextLink"):
                url = str(page["@odata.nextLink"])
                continue
            link = page.get("@odata.deltaLink")
            if not link:
                raise GraphError(detail="calendarView delta ended without a deltaLink")
            return DeltaResult(tuple(changes.values()), tuple(removed), str(link))


def inner_error(resp: BatchResponse, *, what: str = "") -> GraphError:
    """The :class:`GraphError` for a failed inner ``$batch`` answer."""
    return graph_error(
        resp.status,
        resp.body,
        resp.headers,
        retry_after=parse_retry_after(_header(resp.headers, "retry-after")),
        what=what,
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for k, v in headers.items():
        if k.lower() == name:
            return str(v)
    return None


def _from_availability_view(view: str, start: datetime, interval: int) -> tuple[ScheduleItem, ...]:
    """Items from ``availabilityView`` digits (used only when Graph sends no ``scheduleItems``)."""
    out: list[ScheduleItem] = []
    step = timedelta(minutes=interval)
    for i, digit in enumerate(view):
        status = _AVAILABILITY_DIGITS.get(digit, BusyStatus.UNKNOWN)
        if status is BusyStatus.FREE:
            continue
        s = start + i * step
        if out and out[-1].status is status and out[-1].end == s:
            out[-1] = ScheduleItem(out[-1].start, s + step, status)
        else:
            out.append(ScheduleItem(s, s + step, status))
    return tuple(out)


__all__ = [
    "GRAPH_V1",
    "GraphClient",
    "GraphObserver",
    "GraphResponse",
    "client_request_id",
    "inner_error",
    "query",
    "quote_id",
]
