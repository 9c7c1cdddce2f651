"""The emulator's world in a file, so a sandbox is a place you can come back to.

:func:`to_document` turns an :class:`EmulatorState` into one versioned JSON document and
:func:`restore` puts such a document back into a fresh state; :class:`StateFile` keeps the document in a
file: read once at start (:meth:`StateFile.load`), written atomically (a temporary file, then a rename)
shortly after changes and on shutdown (:meth:`StateFile.keep`, an aiohttp ``cleanup_ctx``).

The document (``FORMAT``, version ``VERSION``) holds everything a restart must not lose:

* the directory: tenant, users (mailboxes with their settings), calendars with their shares, the Teams
  people linked to mailboxes (``directory``), the random source ids are minted from;
* events: single instances and series masters, with their exceptions and deleted occurrences, and the
  ``transactionId`` index (a retried create still finds its event);
* identity: access tokens still valid, refresh tokens, unexpired authorization codes, consented tenants,
  registered Application ID URIs (so the token caches the app stored keep working after a restart);
* change tracking: subscriptions, delta rounds and the delta pages not yet read.

Not kept: request and notification logs, injected faults (``faults``, ``token_errors``), deliveries in
flight (Graph drops those too when it gives up) and settings the owner passes to ``EmulatorState``
(clock, lifetimes, ``change_tracking``). Each record is written with its dataclass's field names, one
codec per field (:data:`RECORDS`); a field with a default that an older document lacks takes its default.

Loading checks every field's type, the references between records, time zones, event times and
recurrences (by the rules a POSTed recurrence obeys); Graph JSON kept as the client sent it (attendees,
locations, extensions) is checked for its shape only. A file that can't be used (not JSON, another format,
an unknown version, inconsistent records) never stops the start: it is logged, moved aside
(``<name>.unreadable``) and the sandbox starts fresh.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from graph.sandbox.errors import GraphError
from graph.sandbox.model import (
    AccessToken,
    AuthCode,
    Calendar,
    DeltaPage,
    DeltaSync,
    EmUser,
    RefreshToken,
    StoredEvent,
    Subscription,
)
from graph.sandbox.recurrence import Recurrence, RecurrenceError, parse_recurrence
from graph.sandbox.state import TOKEN_STATE_LIMIT, EmulatorState
from graph.sandbox.timefmt import resolve_zone

log = logging.getLogger("graph.sandbox")

FORMAT = "slotwise/graph-sandbox-state"
VERSION = 1
REFRESH_TOKEN_LIMIT = 5_000  # newest kept; MSAL replaces its refresh token at every refresh


class StateFormatError(ValueError):
    """The document is not a saved emulator world this version can read; the message says where."""


# ------------------------------------------------------------------------------------------ codecs


@dataclass(frozen=True, slots=True)
class Codec:
    """How one field goes to JSON (``encode``) and back (``decode(value, where)``, raising
    StateFormatError naming ``where`` for a value of the wrong shape)."""

    encode: Callable[[Any], Any]
    decode: Callable[[Any, str], Any]
    fields: tuple[str, ...] = ()  # a record's fields, in the order written


def _fail(where: str, what: str) -> StateFormatError:
    return StateFormatError(f"{where}: {what}")


def _typed(kind: type, name: str) -> Codec:
    def decode(value: Any, where: str) -> Any:
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise _fail(where, f"expected {name}")
        return value

    return Codec(lambda v: v, decode)


STR = _typed(str, "a string")
INT = _typed(int, "an integer")
BOOL = _typed(bool, "true or false")
OBJECT = _typed(dict, "an object")  # JSON as Graph or the client sent it (locations, meetings, zones...)
LIST = _typed(list, "a list")


def _optional(codec: Codec) -> Codec:
    return Codec(
        lambda v: None if v is None else codec.encode(v), lambda v, where: None if v is None else codec.decode(v, where)
    )


def _decode_datetime(value: Any, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(STR.decode(value, where))
    except ValueError as exc:
        raise _fail(where, "expected an ISO 8601 date and time") from exc
    if parsed.tzinfo is None:
        raise _fail(where, "expected a date and time with its UTC offset")
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:
        raise _fail(where, "a date and time out of range") from exc


def _decode_date(value: Any, where: str) -> date:
    try:
        return date.fromisoformat(STR.decode(value, where))
    except ValueError as exc:
        raise _fail(where, "expected an ISO 8601 date") from exc


def _decode_bytes(value: Any, where: str) -> bytes:
    try:
        return base64.b64decode(STR.decode(value, where), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _fail(where, "expected base64") from exc


def _sequence(item: Codec, build: Callable[[list[Any]], Any]) -> Codec:
    def decode(value: Any, where: str) -> Any:
        return build([item.decode(x, f"{where}[{i}]") for i, x in enumerate(LIST.decode(value, where))])

    return Codec(lambda v: [item.encode(x) for x in v], decode)


def _mapping(value_codec: Codec) -> Codec:
    """``dict[str, V]``."""

    def decode(value: Any, where: str) -> dict[str, Any]:
        return {k: value_codec.decode(v, f"{where}.{k}") for k, v in OBJECT.decode(value, where).items()}

    return Codec(lambda v: {k: value_codec.encode(x) for k, x in v.items()}, decode)


DATETIME = Codec(lambda v: v.isoformat(), _decode_datetime)
DATE = Codec(lambda v: v.isoformat(), _decode_date)
BYTES = Codec(lambda v: base64.b64encode(v).decode(), _decode_bytes)
STR_TUPLE = _sequence(STR, tuple)
INT_TUPLE = _sequence(INT, tuple)
DATE_SET = Codec(
    lambda v: sorted(d.isoformat() for d in v), lambda v, where: set(_sequence(DATE, list).decode(v, where))
)


def _decode_pair(value: Any, where: str) -> tuple[str, str]:
    items = _sequence(STR, tuple).decode(value, where)
    if len(items) != 2:
        raise _fail(where, "expected two strings")
    return items[0], items[1]


def _decode_zone(value: Any, where: str) -> str | dict[str, Any] | None:
    if value is None or isinstance(value, (str, dict)):
        return value
    raise _fail(where, "expected a zone name, a customTimeZone object or null")


PAIR = Codec(list, _decode_pair)
ANY_ZONE = Codec(lambda v: v, _decode_zone)


def record(cls: type, table: Mapping[str, Codec]) -> Codec:
    """A dataclass as an object of its fields, each through its codec."""

    def encode(obj: Any) -> dict[str, Any]:
        return {name: codec.encode(getattr(obj, name)) for name, codec in table.items()}

    def decode(value: Any, where: str) -> Any:
        data = OBJECT.decode(value, where)
        kwargs = {name: codec.decode(data[name], f"{where}.{name}") for name, codec in table.items() if name in data}
        try:
            return cls(**kwargs)
        except TypeError as exc:  # a field without a default is missing
            raise _fail(where, f"not a {cls.__name__} ({exc})") from exc

    return Codec(encode, decode, tuple(table))


USER = record(
    EmUser,
    {
        "id": STR,
        "upn": STR,
        "display_name": STR,
        "tenant_id": STR,
        "time_zone": STR,
        "working_days": STR_TUPLE,
        "working_start": STR,
        "working_end": STR,
        "working_time_zone": ANY_ZONE,
        "mailbox_enabled": BOOL,
        "drop_online_meetings": BOOL,
        "job_title": _optional(STR),
        "office_location": _optional(STR),
        "preferred_language": STR,
    },
)
CALENDAR = record(
    Calendar,
    {
        "id": STR,
        "owner_id": STR,
        "name": STR,
        "is_default": BOOL,
        "change_key": STR,
        "color": STR,
        "hex_color": STR,
        "shares": _mapping(BOOL),
    },
)
RECURRENCE = record(
    Recurrence,
    {
        "type": STR,
        "interval": INT,
        "days_of_week": INT_TUPLE,
        "first_day_of_week": INT,
        "day_of_month": INT,
        "month": INT,
        "index": STR,
        "range_type": STR,
        "start_date": DATE,
        "end_date": _optional(DATE),
        "count": INT,
        "recurrence_time_zone": _optional(STR),
    },
)
_EVENT_FIELDS: dict[str, Codec] = {
    "id": STR,
    "key": BYTES,
    "owner_id": STR,
    "calendar_id": STR,
    "ical_uid": STR,
    "change_key": STR,
    "created": DATETIME,
    "modified": DATETIME,
    "start": DATETIME,
    "end": DATETIME,
    "start_tz": STR,
    "end_tz": STR,
    "subject": STR,
    "body_type": STR,
    "body_content": STR,
    "importance": STR,
    "sensitivity": STR,
    "show_as": STR,
    "categories": _sequence(STR, list),
    "is_all_day": BOOL,
    "all_day_start": _optional(DATE),
    "all_day_end": _optional(DATE),
    "location": OBJECT,
    "locations": _sequence(OBJECT, list),
    "attendees": _sequence(OBJECT, list),
    "organizer": OBJECT,
    "is_organizer": BOOL,
    "response_status": _mapping(STR),
    "is_online_meeting": BOOL,
    "online_meeting_provider": STR,
    "online_meeting": _optional(OBJECT),
    "recurrence": _optional(RECURRENCE),
    "deleted_dates": DATE_SET,
    "type": STR,
    "series_master_id": _optional(STR),
    "original_start": _optional(DATETIME),
    "original_date": _optional(DATE),
    "transaction_id": _optional(STR),
    "ext_props": _mapping(PAIR),
    "extensions": _sequence(OBJECT, list),
    "is_reminder_on": BOOL,
    "reminder_minutes": INT,
    "response_requested": BOOL,
    "allow_new_time_proposals": BOOL,
    "hide_attendees": BOOL,
    "is_cancelled": BOOL,
}


def _encode_exceptions(value: dict[date, StoredEvent]) -> dict[str, Any]:
    return {day.isoformat(): EVENT.encode(ev) for day, ev in sorted(value.items())}


def _decode_exceptions(value: Any, where: str) -> dict[date, StoredEvent]:
    return {
        _decode_date(day, f"{where} key"): EVENT.decode(ev, f"{where}.{day}")
        for day, ev in OBJECT.decode(value, where).items()
    }


_EVENT_FIELDS["exceptions"] = Codec(_encode_exceptions, _decode_exceptions)
EVENT = record(StoredEvent, _EVENT_FIELDS)
ACCESS_TOKEN = record(AccessToken, {"user_id": STR, "expires_at": DATETIME, "app_id": STR, "scopes": STR_TUPLE})
REFRESH_TOKEN = record(RefreshToken, {"user_id": STR, "client_id": STR, "scope": STR, "revoked": BOOL})
AUTH_CODE = record(
    AuthCode,
    {
        "user_id": STR,
        "client_id": STR,
        "redirect_uri": STR,
        "scope": STR,
        "code_challenge": _optional(STR),
        "code_challenge_method": STR,
        "nonce": _optional(STR),
        "expires_at": DATETIME,
        "used": BOOL,
    },
)
SUBSCRIPTION = record(
    Subscription,
    {
        "id": STR,
        "user_id": STR,
        "resource": STR,
        "change_types": STR_TUPLE,
        "notification_url": STR,
        "lifecycle_notification_url": _optional(STR),
        "expiration": DATETIME,
        "client_state": _optional(STR),
        "application_id": STR,
        "creator_id": STR,
        "tenant_id": STR,
        "latest_tls": STR,
        "challenged_at": _optional(DATETIME),
        "challenge_pending_since": _optional(DATETIME),
    },
)
DELTA_SYNC = record(
    DeltaSync,
    {
        "user_id": STR,
        "calendar_id": STR,
        "start": DATETIME,
        "end": DATETIME,
        "seen": _mapping(STR),
        "expired": BOOL,
        "issued": _optional(DATETIME),
    },
)
DELTA_PAGE = record(
    DeltaPage, {"user_id": STR, "items": _sequence(OBJECT, list), "sync": DELTA_SYNC, "issued": _optional(DATETIME)}
)

# Every record the document holds, by type (a test checks each codec covers all of its dataclass's fields).
RECORDS: dict[type, Codec] = {
    EmUser: USER,
    Calendar: CALENDAR,
    Recurrence: RECURRENCE,
    StoredEvent: EVENT,
    AccessToken: ACCESS_TOKEN,
    RefreshToken: REFRESH_TOKEN,
    AuthCode: AUTH_CODE,
    Subscription: SUBSCRIPTION,
    DeltaSync: DELTA_SYNC,
    DeltaPage: DELTA_PAGE,
}


# ---------------------------------------------------------------------------------------- document


def to_document(state: EmulatorState) -> dict[str, Any]:
    """The world as a JSON-able document (expired tokens and codes left out)."""
    now = state.now()
    refresh = list(state.refresh_tokens.items())[-REFRESH_TOKEN_LIMIT:]
    return {
        "format": FORMAT,
        "version": VERSION,
        "default_tenant_id": state.default_tenant_id,
        "ids": state.ids.get_state(),
        "users": [USER.encode(u) for u in state.users.values()],
        "calendars": [CALENDAR.encode(c) for c in state.calendars.values()],
        "events": [EVENT.encode(e) for e in state.all_stored_events()],
        "transactions": [[mailbox, tx, event] for (mailbox, tx), event in state.transaction_ids().items()],
        "directory": [[tenant, oid, mailbox] for (tenant, oid), mailbox in state.directory.items()],
        "access_tokens": {t: ACCESS_TOKEN.encode(r) for t, r in state.access_tokens.items() if r.expires_at > now},
        "refresh_tokens": {t: REFRESH_TOKEN.encode(r) for t, r in refresh},
        "auth_codes": {
            c: AUTH_CODE.encode(r) for c, r in state.auth_codes.items() if not r.used and r.expires_at > now
        },
        "consented_tenants": sorted(state.consented_tenants),
        "app_id_uris": {client: list(uris) for client, uris in state.app_id_uris.items()},
        "subscriptions": [SUBSCRIPTION.encode(s) for s in state.subscriptions.values()],
        "delta_syncs": {t: DELTA_SYNC.encode(s) for t, s in state.delta_syncs.items()},
        "delta_pages": {t: DELTA_PAGE.encode(p) for t, p in state.delta_pages.items()},
    }


def _triples(value: Any, where: str) -> list[tuple[str, str, str]]:
    out = []
    for i, item in enumerate(LIST.decode(value, where)):
        parts = _sequence(STR, tuple).decode(item, f"{where}[{i}]")
        if len(parts) != 3:
            raise _fail(f"{where}[{i}]", "expected three strings")
        out.append((parts[0], parts[1], parts[2]))
    return out


def _check_version(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise StateFormatError(f'not a saved Graph sandbox (its "format" is not {FORMAT!r})')
    if doc.get("version") != VERSION:
        raise StateFormatError(
            f"saved by another version of the emulator (format version "
            f"{doc.get('version')!r}; this one reads version {VERSION})"
        )
    return doc


def _check_consistent(users: list[EmUser], calendars: list[Calendar], events: list[StoredEvent]) -> None:
    """References resolve, ids are unique, zones are known: a restored world never fails a request later."""
    user_ids = {u.id for u in users}
    if len(user_ids) != len(users) or len({u.upn.lower() for u in users}) != len(users):
        raise StateFormatError("users: two users share an id or a UPN")
    calendar_ids = {c.id for c in calendars}
    if len(calendar_ids) != len(calendars):
        raise StateFormatError("calendars: two calendars share an id")
    for cal in calendars:
        if cal.owner_id not in user_ids or not set(cal.shares) <= user_ids:
            raise StateFormatError(f"calendar {cal.id}: owner or sharee is not a user")
    defaults = [c.owner_id for c in calendars if c.is_default]
    if sorted(defaults) != sorted(user_ids):
        raise StateFormatError("calendars: every user needs exactly one default calendar")
    try:
        for user in users:
            if user.time_zone.strip():
                resolve_zone(user.time_zone)
        for ev in events:
            for inst in (ev, *ev.exceptions.values()):
                resolve_zone(inst.start_tz)
                resolve_zone(inst.end_tz)
                if inst.recurrence is not None and inst.recurrence.recurrence_time_zone:
                    resolve_zone(inst.recurrence.recurrence_time_zone)
    except GraphError as exc:
        raise StateFormatError(f"unknown time zone: {exc}") from exc
    if len({e.id for e in events}) != len(events):
        raise StateFormatError("events: two events share an id")
    for ev in events:
        if ev.owner_id not in user_ids or ev.calendar_id not in calendar_ids:
            raise StateFormatError(f"event {ev.id}: owner or calendar is unknown")
        for inst in (ev, *ev.exceptions.values()):
            _check_event(inst)


def _check_event(ev: StoredEvent) -> None:
    """What the emulator itself guarantees of every event it stores (reading one would fail otherwise)."""
    if ev.end < ev.start or (ev.is_all_day and (ev.all_day_start is None or ev.all_day_end is None)):
        raise StateFormatError(f"event {ev.id}: its times are inconsistent")
    if ev.exceptions and ev.recurrence is None:
        raise StateFormatError(f"event {ev.id}: exceptions without a recurrence")
    rec = ev.recurrence
    if rec is None:
        return
    if not (all(0 <= d <= 6 for d in rec.days_of_week) and 0 <= rec.first_day_of_week <= 6):
        raise StateFormatError(f"event {ev.id}: recurrence days are not days of the week")
    try:  # the same rules as a POSTed recurrence (an interval of 0 would never end, for one)
        parse_recurrence(rec.to_graph("UTC"), rec.start_date)
    except RecurrenceError as exc:
        raise StateFormatError(f"event {ev.id}: {exc}") from exc


def restore(state: EmulatorState, doc: Any) -> None:
    """Put a document from :func:`to_document` into ``state`` (a fresh one: its world is replaced).

    Raises StateFormatError, leaving ``state`` untouched, when the document can't be read."""
    doc = _check_version(doc)

    def field(name: str) -> Any:
        if name not in doc:
            raise StateFormatError(f"{name}: missing")
        return doc[name]

    tenant = STR.decode(field("default_tenant_id"), "default_tenant_id")
    users = _sequence(USER, list).decode(field("users"), "users")
    calendars = _sequence(CALENDAR, list).decode(field("calendars"), "calendars")
    events = _sequence(EVENT, list).decode(field("events"), "events")
    _check_consistent(users, calendars, events)
    event_ids = {e.id for e in events}
    user_ids = {u.id for u in users}
    transactions = {(m, tx): ev for m, tx, ev in _triples(field("transactions"), "transactions") if ev in event_ids}
    directory = {(t, oid): m for t, oid, m in _triples(field("directory"), "directory") if m in user_ids}
    access = _mapping(ACCESS_TOKEN).decode(field("access_tokens"), "access_tokens")
    refresh = _mapping(REFRESH_TOKEN).decode(field("refresh_tokens"), "refresh_tokens")
    codes = _mapping(AUTH_CODE).decode(field("auth_codes"), "auth_codes")
    consented = _sequence(STR, set).decode(field("consented_tenants"), "consented_tenants")
    app_uris = _mapping(STR_TUPLE).decode(field("app_id_uris"), "app_id_uris")
    subscriptions = _sequence(SUBSCRIPTION, list).decode(field("subscriptions"), "subscriptions")
    syncs = _mapping(DELTA_SYNC).decode(field("delta_syncs"), "delta_syncs")
    pages = _mapping(DELTA_PAGE).decode(field("delta_pages"), "delta_pages")
    ids_state = field("ids")
    probe = type(state.ids)()
    try:
        probe.set_state(ids_state)
    except ValueError as exc:
        raise StateFormatError(f"ids: {exc}") from exc
    # Everything read: now replace the world in one go.
    state.ids.set_state(ids_state)
    state.default_tenant_id = tenant
    state.load(users=users, calendars=calendars, events=events, transactions=transactions)
    state.directory = directory
    state.access_tokens = {t: r for t, r in access.items() if r.user_id in user_ids}
    state.refresh_tokens = {t: r for t, r in refresh.items() if r.user_id in user_ids}
    state.auth_codes = {c: r for c, r in codes.items() if r.user_id in user_ids}
    state.consented_tenants = consented
    state.app_id_uris = app_uris
    state.subscriptions = {s.id: s for s in subscriptions if s.user_id in user_ids}
    state.delta_syncs = dict(list(syncs.items())[-TOKEN_STATE_LIMIT:])
    state.delta_pages = dict(list(pages.items())[-TOKEN_STATE_LIMIT:])


def dumps(state: EmulatorState) -> str:
    return json.dumps(to_document(state), ensure_ascii=False, separators=(",", ":"))


# -------------------------------------------------------------------------------------------- file


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a reader (or a crash) sees the old file or the new one, never
    half of one: write a temporary file next to it (owner-only: it holds tokens), flush it, rename it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


class StateFile:
    """One emulator world kept in ``path``: :meth:`load` at start, :meth:`keep` while the app runs.

    While kept, the world is written ``debounce`` seconds after a change is noted (``state.touch()``:
    every Graph and login request, every event change; several changes in that time give one write), at
    least every ``check_every`` seconds if it changed unnoticed (the notifier expiring subscriptions), and
    once more on shutdown. A write happens only when the document differs from the file's."""

    def __init__(self, path: Path, *, debounce: float = 1.0, check_every: float = 30.0) -> None:
        self.path = path
        self.debounce = debounce
        self.check_every = check_every
        self._written: str | None = None  # digest of the document in the file
        self._failing = False

    @property
    def aside(self) -> Path:
        return self.path.with_name(self.path.name + ".unreadable")

    def load(self, state: EmulatorState) -> bool:
        """Restore ``state`` from the file; False (state untouched) when there is none or it can't be read,
        in which case the file is moved aside and the reason logged."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return False
        except (OSError, UnicodeDecodeError) as exc:
            return self._unreadable(f"it can't be read ({exc})")
        try:
            restore(state, json.loads(text))
        except json.JSONDecodeError as exc:
            return self._unreadable(f"it is not JSON ({exc})")
        except StateFormatError as exc:
            return self._unreadable(str(exc))
        except (ValueError, TypeError, KeyError, OverflowError) as exc:  # anything else: still never a crash
            return self._unreadable(f"{type(exc).__name__}: {exc}")
        self._written = _digest(text)
        log.info(
            "Graph sandbox restored from %s: %d mailboxes, %d events",
            self.path,
            len(state.users),
            len(state.all_stored_events()),
        )
        return True

    def _unreadable(self, reason: str) -> bool:
        try:
            os.replace(self.path, self.aside)
            kept = f"the file was moved to {self.aside}"
        except OSError as exc:
            kept = f"the file could not be moved aside ({exc}) and will be overwritten"
        log.warning(
            "Graph sandbox: starting with a fresh world, because the saved one in %s can't be used: %s; %s",
            self.path,
            reason,
            kept,
        )
        return False

    def save(self, state: EmulatorState) -> bool:
        """Write the world if it changed since the last write; True when written."""
        text = dumps(state)
        digest = _digest(text)
        if digest == self._written:
            return False
        write_atomically(self.path, text)
        self._written = digest
        return True

    async def _save_soon(self, state: EmulatorState) -> None:
        text = dumps(state)  # in the loop: the state is not thread-safe
        digest = _digest(text)
        if digest == self._written:
            return
        await asyncio.to_thread(write_atomically, self.path, text)
        self._written = digest

    async def run(self, state: EmulatorState) -> None:
        """Write changes until cancelled (a failed write is logged and tried again at the next change)."""
        loop = asyncio.get_running_loop()
        seen = state.revision
        next_check = loop.time() + self.check_every
        while True:
            await asyncio.sleep(self.debounce)
            if state.revision == seen and loop.time() < next_check:
                continue
            seen = state.revision
            next_check = loop.time() + self.check_every
            await self._save_logged(state)

    async def _save_logged(self, state: EmulatorState) -> None:
        """Save; a failure is logged once (not at every change) until a save works again."""
        try:
            await self._save_soon(state)
        except (OSError, TypeError, ValueError):
            if not self._failing:
                log.exception("Graph sandbox: could not save the world to %s; trying again at each change", self.path)
            self._failing = True
            return
        if self._failing:
            log.info("Graph sandbox: saved the world to %s again", self.path)
        self._failing = False

    def keep(self, state: EmulatorState) -> Callable[[web.Application], AsyncIterator[None]]:
        """An aiohttp ``cleanup_ctx`` that runs :meth:`run` and saves once more on shutdown."""

        async def ctx(_app: web.Application) -> AsyncIterator[None]:
            task = asyncio.create_task(self.run(state))
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._failing = False  # the last chance: always say when it fails
            await self._save_logged(state)

        return ctx


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
