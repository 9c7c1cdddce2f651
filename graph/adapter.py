"""``GraphCalendar``: the core's :class:`scheduling.ports.CalendarPort` over Microsoft Graph.

Reads fail closed: a failed read raises (or, in ``busy_many``, maps the host to its error value); it is
never an empty list. Errors are :class:`graph.errors.GraphError` when a Graph call failed (with
``reconnect_required`` for sign-in problems) and :class:`scheduling.errors.HostUnavailable` (caused by a
:class:`graph.errors.ScheduleUnavailable`) when Graph answered but could not give that host's free/busy
(a per-schedule ``freeBusyError`` inside ``getSchedule``).

Free/busy:

* a host without ``conflict_calendar_ids`` -> ``getSchedule`` for their mailbox (one request for up to
  61 days); ``busy_many`` asks for up to 20 such hosts in ONE request with one connected host's token
  (if that host can't be the caller - sign-in failed, no mailbox - it maps to that error and the next
  host's token is tried);
* a host with ``conflict_calendar_ids`` (own calendars or ones shared with them) -> ``calendarView`` of
  each calendar in ONE ``$batch`` (per 20 calendars; a calendar with more than 500 events in the window
  adds one request per further page), with the window widened by a day for all-day events (which are
  dates: they block host-local midnight to midnight); cancelled and ``free`` events never block, every
  other ``showAs`` is returned with its status for the core's blocking rule. Any calendar that can't be
  read (share withdrawn: 404, no access: 403) fails the whole read.

Events: created in ``write_calendar_id`` (``POST /me/calendars/{id}/events``; default calendar when
None) with the Teams flags, ``transactionId`` and the booking tag; ``create_event`` returns Graph's answer
to the create as it is (the booking pipeline reads the event back once, in the core, and reports a Teams
link that tenant policy dropped, ``join_url=None``). Reads and writes of an event go through the write
calendar first (an event in a calendar shared with the host is not in their mailbox, so ``/me/events``
can't reach it) and, on 404, through ``/me/events``. A move PATCHes start/end only (never subject or
attendees: Graph replaces the whole attendee list on PATCH); the fallback location is a location-only
PATCH. ``list_calendars`` lists the host's own and shared calendars.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar

from graph.client import CALLER_ERRORS, GraphClient
from graph.errors import (
    GraphError,
    GraphNotFound,
    MailboxNotEnabled,
    ScheduleUnavailable,
    TimeZoneNotSupported,
)
from graph.eventbody import location_patch, reschedule_patch
from graph.models import GraphEvent, ScheduleResult, WorkingHours
from graph.timefmt import iana_zone_name
from scheduling.errors import HostUnavailable, IntegrationError, UnknownTimeZone
from scheduling.intervals import Interval
from scheduling.ports import (
    BusyInterval,
    BusyResult,
    CalendarEvent,
    CalendarInfo,
    EventDraft,
    HostCalendar,
    Location,
    LocationKind,
    MailboxDefaults,
)
from scheduling.rules import BusyStatus
from scheduling.timezones import iana_to_windows, is_valid_zone, zone

log = logging.getLogger("slotwise.graph")

T = TypeVar("T")
_DAY = timedelta(days=1)


def host_zone(host: HostCalendar) -> str:
    try:
        return iana_zone_name(host.time_zone)
    except UnknownTimeZone:
        log.warning("host %s has unknown zone %r; all-day events read as UTC days", host.user_id, host.time_zone)
        return "UTC"


def _local_midnight(day: date, zone_name: str) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone(zone_name)).astimezone(UTC)


def event_busy(event: GraphEvent, zone_name: str, window: Interval) -> BusyInterval | None:
    """The busy interval an event contributes inside ``window`` (None if it blocks nothing there)."""
    if event.is_cancelled or event.show_as is BusyStatus.FREE:
        return None
    if event.is_all_day and event.all_day_dates:
        start = _local_midnight(event.all_day_dates[0], zone_name)
        end = _local_midnight(event.all_day_dates[1], zone_name)
    else:
        start, end = event.start, event.end
    if end <= start or not (start < window.end and window.start < end):
        return None
    return BusyInterval(start, end, event.show_as)


def _schedule_busy(result: ScheduleResult, window: Interval) -> list[BusyInterval]:
    return [
        BusyInterval(i.start, i.end, i.status)
        for i in result.items
        if i.status is not BusyStatus.FREE and i.end > i.start and i.start < window.end and window.start < i.end
    ]


def _schedule_error(host: HostCalendar, error: GraphError) -> IntegrationError:
    """A per-schedule failure as the core sees it: the call's own error, or HostUnavailable for a
    ``freeBusyError`` about this host."""
    if not isinstance(error, ScheduleUnavailable):
        return error
    exc = HostUnavailable(
        f"The calendar of {host.mailbox} can't be read right now, so no times are shown "
        f"for them. ({error.detail or error.message})",
        host_id=host.user_id,
    )
    exc.__cause__ = error
    return exc


def to_calendar_event(event: GraphEvent, booking_id: str | None = None) -> CalendarEvent:
    return CalendarEvent(
        event_id=event.id,
        start=event.start,
        end=event.end,
        ical_uid=event.ical_uid,
        join_url=event.join_url,
        is_online_meeting=event.is_online_meeting,
        booking_id=event.booking_id or booking_id,
        transaction_id=event.transaction_id,
        is_cancelled=event.is_cancelled,
        attendees=event.attendees,
        subject=event.subject,
    )


class GraphCalendar:
    """:class:`scheduling.ports.CalendarPort` implemented with :class:`graph.client.GraphClient`.

    ``HostCalendar.user_id`` selects the token (the host's own delegated sign-in), ``mailbox`` is the
    SMTP address used for ``getSchedule``, ``time_zone`` (IANA) is used for all-day events and as the
    fallback mailbox zone."""

    def __init__(
        self, client: GraphClient, *, schedule_interval: int = 30, now: Callable[[], datetime] | None = None
    ) -> None:
        self.client = client
        self.schedule_interval = schedule_interval
        self._now = now or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------ free/busy

    async def busy(self, host: HostCalendar, window: Interval) -> list[BusyInterval]:
        if window.is_empty:
            return []
        if not host.conflict_calendar_ids:
            results = await self.client.get_schedule(
                host.user_id, [host.mailbox], window.start, window.end, self.schedule_interval
            )
            result = results[host.mailbox]
            if result.error is not None:
                raise _schedule_error(host, result.error)
            return _schedule_busy(result, window)
        return await self._view_busy(host, window)

    async def _view_busy(self, host: HostCalendar, window: Interval) -> list[BusyInterval]:
        views = await self.client.calendar_views(
            host.user_id, host.conflict_calendar_ids, window.start - _DAY, window.end + _DAY
        )
        zone_name = host_zone(host)
        busy: list[BusyInterval] = []
        for calendar_id in host.conflict_calendar_ids:
            events = views[calendar_id]
            if isinstance(events, GraphError):
                raise events
            busy.extend(b for b in (event_busy(e, zone_name, window) for e in events) if b is not None)
        busy.sort(key=lambda b: (b.start, b.end))
        return busy

    async def busy_many(self, hosts: Sequence[HostCalendar], window: Interval) -> Mapping[str, BusyResult]:
        view_hosts = [h for h in hosts if h.conflict_calendar_ids]
        schedule_hosts = [h for h in hosts if not h.conflict_calendar_ids]
        views = asyncio.gather(*(self.busy(h, window) for h in view_hosts), return_exceptions=True)
        try:
            results = await self._schedule_many(schedule_hosts, window)
        finally:
            outcomes = await views
        for host, outcome in zip(view_hosts, outcomes, strict=True):
            if isinstance(outcome, IntegrationError):
                results[host.user_id] = outcome
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                results[host.user_id] = outcome
        return {h.user_id: results[h.user_id] for h in hosts}

    async def _schedule_many(self, hosts: Sequence[HostCalendar], window: Interval) -> dict[str, BusyResult]:
        results: dict[str, BusyResult] = {}
        pending = list(hosts)
        if window.is_empty:
            return {h.user_id: [] for h in pending}
        while pending:
            holder = pending[0]
            try:
                answer = await self.client.get_schedule(
                    holder.user_id, [h.mailbox for h in pending], window.start, window.end, self.schedule_interval
                )
            except CALLER_ERRORS as exc:
                log.warning(
                    "free/busy: %s can't be used to read free/busy (%s); trying the next host's token",
                    holder.user_id,
                    type(exc).__name__,
                )
                results[holder.user_id] = exc
                pending = pending[1:]
                continue
            except GraphError as exc:
                results.update({h.user_id: exc for h in pending})
                return results
            by_mailbox = {k.lower(): v for k, v in answer.items()}
            for h in pending:
                result = by_mailbox[h.mailbox.lower()]
                results[h.user_id] = (
                    _schedule_error(h, result.error) if result.error is not None else _schedule_busy(result, window)
                )
            return results
        return results

    # ------------------------------------------------------------------ events

    async def _zone_fallback(self, draft_zone: str, call: Callable[[str | None], Awaitable[T]]) -> T:
        """Run ``call`` with the IANA zone; if Graph rejects it, once more with its Windows name."""
        try:
            return await call(None)
        except TimeZoneNotSupported as exc:
            try:
                windows = iana_to_windows(draft_zone)
            except UnknownTimeZone:
                raise exc from None
            log.info("Graph rejected zone %r; retrying as %r", draft_zone, windows)
            return await call(windows)

    async def create_event(self, host: HostCalendar, draft: EventDraft) -> CalendarEvent:
        async def create(tz: str | None) -> GraphEvent:
            return await self.client.create_event(host.user_id, draft, host.write_calendar_id, time_zone=tz)

        event = await self._zone_fallback(draft.time_zone, create)
        if draft.location.kind is LocationKind.TEAMS and not event.join_url:  # the core reads it back once
            log.warning(
                "Teams meeting missing from event %s of %s as created (tenant policy?): isOnlineMeeting=%s provider=%s",
                event.id,
                host.user_id,
                event.is_online_meeting,
                event.online_meeting_provider or "-",
            )
        return to_calendar_event(event, booking_id=draft.booking_id)

    async def _on_event(self, host: HostCalendar, call: Callable[[str | None], Awaitable[T]]) -> T:
        """Run ``call`` on the event through the host's write calendar (the only way to reach an event in
        a calendar shared with them), then, if Graph says it isn't there, through ``/me/events`` (an event
        written before the host picked another calendar of their own)."""
        if not host.write_calendar_id:
            return await call(None)
        try:
            return await call(host.write_calendar_id)
        except MailboxNotEnabled:
            raise
        except GraphNotFound:
            log.info("event not in the write calendar of %s; trying the whole mailbox", host.user_id)
            return await call(None)

    async def get_event(self, host: HostCalendar, event_id: str) -> CalendarEvent | None:
        async def get(calendar_id: str | None) -> GraphEvent:
            return await self.client.get_event(host.user_id, event_id, calendar_id=calendar_id)

        try:
            event = await self._on_event(host, get)
        except MailboxNotEnabled:
            raise
        except GraphNotFound:
            return None
        return to_calendar_event(event)

    async def move_event(
        self, host: HostCalendar, event_id: str, start: datetime, end: datetime, time_zone: str
    ) -> CalendarEvent:
        """PATCH ``start``/``end`` only (wall time in ``time_zone``, sent explicitly): the subject, the
        attendees the host may have added in Outlook and the body with its Teams meeting are untouched."""

        async def patch(tz: str | None) -> GraphEvent:
            async def send(calendar_id: str | None) -> GraphEvent:
                return await self.client.update_event(
                    host.user_id, event_id, reschedule_patch(start, end, tz or time_zone), calendar_id
                )

            return await self._on_event(host, send)

        return to_calendar_event(await self._zone_fallback(time_zone, patch))

    async def set_event_location(self, host: HostCalendar, event_id: str, location: Location) -> CalendarEvent:
        """PATCH the location fields only (nothing else about the event changes)."""
        body = location_patch(location)

        async def send(calendar_id: str | None) -> GraphEvent:
            if not body:
                return await self.client.get_event(host.user_id, event_id, calendar_id=calendar_id)
            return await self.client.update_event(host.user_id, event_id, body, calendar_id)

        return to_calendar_event(await self._on_event(host, send))

    async def cancel_event(self, host: HostCalendar, event_id: str, comment: str) -> None:
        """Cancel with a message to attendees; an event already gone from Outlook counts as cancelled."""

        async def cancel(calendar_id: str | None) -> None:
            await self.client.cancel_event(host.user_id, event_id, comment, calendar_id)

        try:
            await self._on_event(host, cancel)
        except MailboxNotEnabled:
            raise
        except GraphNotFound:
            log.info("cancel: event %s of %s is already gone", event_id, host.user_id)

    async def find_booking_events(self, host: HostCalendar, window: Interval) -> list[CalendarEvent]:
        events = await self.client.find_tagged_events(host.user_id, window.start, window.end, host.write_calendar_id)
        return [to_calendar_event(e) for e in events]

    # ------------------------------------------------------------------ mailbox

    async def list_calendars(self, host: HostCalendar) -> list[CalendarInfo]:
        """``GET /me/calendars`` (every page): the host's own calendars and the ones shared with them,
        default first. One request for up to 100 calendars."""
        calendars = await self.client.list_calendars(host.user_id)
        infos = [
            CalendarInfo(
                id=c.id,
                name=c.name,
                owner_name=c.owner_name,
                owner_email=c.owner_address,
                can_edit=c.can_edit,
                is_default=c.is_default,
            )
            for c in calendars
            if c.id
        ]
        return sorted(infos, key=lambda c: not c.is_default)

    async def mailbox_defaults(self, host: HostCalendar) -> MailboxDefaults:
        """Zone and working hours from mailboxSettings, name and address from the profile.

        An empty or unmappable mailbox zone falls back to ``host.time_zone`` (then the working-hours
        zone); working hours kept in another zone are converted to the mailbox zone (as of today)."""
        settings, me = await asyncio.gather(self.client.mailbox_settings(host.user_id), self.client.me(host.user_id))
        time_zone = settings.time_zone
        if not settings.time_zone_known and is_valid_zone(host.time_zone):
            time_zone = host.time_zone
        defaults = MailboxDefaults(time_zone=time_zone, display_name=me.display_name, email=me.mail)
        hours = settings.working_hours
        if hours is None:
            return defaults
        start, end = self._hours_in_zone(hours, time_zone)
        return MailboxDefaults(
            time_zone=time_zone,
            working_days=hours.days or defaults.working_days,
            working_start=start,
            working_end=end,
            display_name=me.display_name,
            email=me.mail,
        )

    def _hours_in_zone(self, hours: WorkingHours, time_zone: str) -> tuple[int, int]:
        if hours.time_zone == time_zone or not is_valid_zone(hours.time_zone):
            return hours.start_minute, hours.end_minute
        today = self._now().astimezone(zone(hours.time_zone)).date()
        base = datetime.combine(today, time(), tzinfo=zone(hours.time_zone))
        converted = []
        for minute in (hours.start_minute, hours.end_minute):
            local = (base + timedelta(minutes=minute)).astimezone(zone(time_zone))
            converted.append((local.date() - today).days * 1440 + local.hour * 60 + local.minute)
        start, end = converted
        if not (0 <= start < end <= 1440):
            return hours.start_minute, hours.end_minute
        return start, end
