"""``GraphChangeTracking``: the core's :class:`scheduling.ports.CalendarSyncPort` over Microsoft Graph.

What it does, and Graph's rules it follows (graph-facts §2 and §5, checked against Microsoft's docs):

* **Subscriptions** on ``me/events`` (every event in the host's mailbox, all their own calendars;
  Graph offers no change notifications for calendars shared with the host under delegated access),
  change types ``created,updated,deleted``, the configured ``notificationUrl`` and
  ``lifecycleNotificationUrl``, the caller's ``clientState``. Graph validates both URLs first (the
  endpoint must echo ``validationToken`` as text/plain within 10 s). The expiry is capped at
  ``max_lifetime`` (Outlook events: 10,080 minutes today; a longer request is a 400), and Graph raises
  one under 45 minutes to 45. Renewing (PATCH) also reauthorizes; ``reauthorize`` answers a
  ``reauthorizationRequired`` challenge without extending. A subscription Graph no longer has (expired,
  removed) comes back as None / False: create a new one and resync.
* **Busy changes** from ``calendarView/delta`` of the host's *primary* calendar (Graph v1.0 has delta
  for the primary calendar only), over the window widened by a day for all-day events, followed through
  every ``@odata.nextLink`` to the ``@odata.deltaLink`` (the returned ``cursor``). An expired cursor
  (410 / ``syncStateNotFound`` / ``resyncRequired``) starts a full round on its own: ``full`` and
  ``resynced`` are then true. A cursor is bound to its window: when the horizon moves, start a new
  round with ``cursor=None``. Events become busy intervals exactly as in ``GraphCalendar.busy`` (host-
  local all-day days; cancelled and ``free`` events block nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from graph.adapter import event_busy, host_zone, to_calendar_event
from graph.client import GraphClient
from graph.errors import DeltaTokenExpired, GraphNotFound, MailboxNotEnabled
from graph.models import DeltaResult, Subscription
from scheduling.intervals import Interval
from scheduling.ports import BusyChanges, BusyInterval, CalendarEvent, EventSubscription, HostCalendar

log = logging.getLogger("slotwise.graph")

#: Graph's maximum lifetime of a subscription on Outlook events without resource data (minutes), as the current
#: table on learn.microsoft.com is quoted; asking for more fails.
OUTLOOK_EVENT_SUBSCRIPTION_MAX_MINUTES = 10080
#: The maximum Microsoft documented before (and some of its pages still state): 4,230 minutes. A lifetime under
#: both figures is valid whichever one a tenant's Graph applies; the default asks for just under it.
OUTLOOK_EVENT_SUBSCRIPTION_SAFE_MINUTES = 4230 - 10
#: Graph raises a requested expiry sooner than this to it (minutes).
SUBSCRIPTION_MIN_MINUTES = 45
EVENTS_RESOURCE = "me/events"
CHANGE_TYPES = "created,updated,deleted"
_DAY = timedelta(days=1)


class GraphChangeTracking:
    """:class:`scheduling.ports.CalendarSyncPort` implemented with :class:`graph.client.GraphClient`.

    ``notification_url`` / ``lifecycle_url`` are Slotwise's public endpoints (``{public}/graph/notifications``
    and ``{public}/graph/lifecycle``); ``max_lifetime`` caps requested expiries (a minute of margin is kept
    for clock skew); ``page_size`` is the delta page size asked for."""

    def __init__(
        self,
        client: GraphClient,
        *,
        notification_url: str,
        lifecycle_url: str | None,
        max_lifetime: timedelta = timedelta(minutes=OUTLOOK_EVENT_SUBSCRIPTION_MAX_MINUTES),
        page_size: int | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.client = client
        self.notification_url = notification_url
        self.lifecycle_url = lifecycle_url
        self.max_lifetime = max_lifetime
        self.page_size = page_size
        self._now = now or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------ subscriptions

    def _capped(self, expires_at: datetime) -> datetime:
        latest = self._now() + self.max_lifetime - timedelta(minutes=1)
        if expires_at > latest:
            log.info("subscription expiry %s is beyond Graph's limit; asking for %s", expires_at, latest)
            return latest
        return expires_at

    @staticmethod
    def _subscription(sub: Subscription) -> EventSubscription:
        return EventSubscription(id=sub.id, expires_at=sub.expiration)

    async def subscribe(self, host: HostCalendar, *, client_state: str, expires_at: datetime) -> EventSubscription:
        sub = await self.client.create_subscription(
            host.user_id,
            notification_url=self.notification_url,
            expiration=self._capped(expires_at),
            client_state=client_state,
            resource=EVENTS_RESOURCE,
            change_type=CHANGE_TYPES,
            lifecycle_notification_url=self.lifecycle_url,
        )
        return self._subscription(sub)

    async def renew_subscription(
        self, host: HostCalendar, subscription_id: str, expires_at: datetime
    ) -> EventSubscription | None:
        try:
            sub = await self.client.renew_subscription(host.user_id, subscription_id, self._capped(expires_at))
        except MailboxNotEnabled:
            raise
        except GraphNotFound:
            log.info("subscription %s of %s is gone; it must be created again", subscription_id, host.user_id)
            return None
        return self._subscription(sub)

    async def reauthorize_subscription(self, host: HostCalendar, subscription_id: str) -> bool:
        try:
            await self.client.reauthorize_subscription(host.user_id, subscription_id)
        except MailboxNotEnabled:
            raise
        except GraphNotFound:
            return False
        return True

    async def unsubscribe(self, host: HostCalendar, subscription_id: str) -> None:
        try:
            await self.client.delete_subscription(host.user_id, subscription_id)
        except MailboxNotEnabled:
            raise
        except GraphNotFound:
            log.info("subscription %s of %s was already gone", subscription_id, host.user_id)

    # ------------------------------------------------------------------ busy changes

    async def _full_round(self, host: HostCalendar, window: Interval) -> DeltaResult:
        return await self.client.calendar_view_delta(
            host.user_id, start=window.start - _DAY, end=window.end + _DAY, page_size=self.page_size
        )

    async def busy_changes(self, host: HostCalendar, window: Interval, cursor: str | None = None) -> BusyChanges:
        resynced = False
        if cursor:
            try:
                result = await self.client.calendar_view_delta(
                    host.user_id, delta_link=cursor, page_size=self.page_size
                )
            except DeltaTokenExpired:
                log.info("delta token of %s expired; full resync", host.user_id)
                result, resynced = await self._full_round(host, window), True
        else:
            result = await self._full_round(host, window)
        zone_name = host_zone(host)
        blocking: dict[str, BusyInterval] = {}
        cleared: list[str] = []
        changed: list[CalendarEvent] = []
        for event in result.changes:
            changed.append(to_calendar_event(event))
            busy = event_busy(event, zone_name, window)
            if busy is None:
                cleared.append(event.id)
            else:
                blocking[event.id] = busy
        cleared.extend(result.removed_ids)
        return BusyChanges(
            window=window,
            full=not cursor or resynced,
            blocking=blocking,
            cleared_ids=tuple(cleared),
            changed=tuple(changed),
            removed_ids=result.removed_ids,
            cursor=result.delta_link,
            resynced=resynced,
        )
