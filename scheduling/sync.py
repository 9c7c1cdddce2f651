"""Two-way sync with Outlook: Graph subscriptions per host, a busy cache kept by delta, and Outlook-side
changes to booked events applied to their bookings. The use cases, written against ports.

Who is subscribed: :meth:`CalendarSyncService.needs_subscription` is the rule: a host whose calendar is
connected (:func:`wants_subscription`) and who has an active personal link or is in a team's rotation. A host
gets a subscription on connect (:meth:`host_connected` queues it), loses it on disconnect
(:meth:`host_disconnected`) and on leaving a team's rotation when nothing else needs it
(:meth:`host_left_rotation`); :meth:`CalendarSyncService.maintain` repairs whatever drifted (a host who needs
one without one, a subscription of a host no longer connected) and deletes, instead of renewing, a due
subscription nobody needs any more (links deleted or switched off, a member taken out by a team manager).

Notifications (:meth:`accept`): the web adapter parses Graph's POST into :class:`ChangeNotice` values and
answers 202 at once; here each one is matched by ``subscriptionId`` against the stored subscriptions and
its ``clientState`` compared with the stored hash (a mismatch or an unknown id is dropped and reported,
and changes nothing). Accepted work is only *queued* in the database (one row per host, coalesced):
a change marks the host's cache *dirty*; ``missed`` and ``subscriptionRemoved`` mark it *stale*.

The worker (:meth:`run_due`) leases queued hosts (one replica per host at a time) and, per host:
recreates or creates the subscription when asked, answers a reauthorization challenge, and runs one delta
round (:meth:`~scheduling.ports.CalendarSyncPort.busy_changes`): the first round, a forgotten cursor
or a horizon that moved replaces the cache; otherwise the changes are applied to it. The same round's
changed and removed events are compared with the host's confirmed bookings: an event deleted or cancelled
in Outlook cancels its booking, an event moved there reschedules it (``"by": "outlook"`` in the outbox
item, which is the host's chat notice and later the webhook). A move onto another Slotwise booking (or its
buffers) is not applied (no two reservations of a host overlap): the booking keeps its old time and the host
gets a chat notice saying so, once per such move (``booking.outlook_move_refused``, deduplicated by its key).
Slotwise's own moves and cancels come back
as notifications too: they are recognised because the booking already has the event's times (or is not
confirmed and in sync any more), and every change is made with the booking's version, so a race loses
cleanly.

Slot views read the cache (:meth:`CachedBusy.serves` is the rule for "fresh"): zero Graph calls while
the host's subscription is alive, the cache is not stale, no queued change is older than
``SyncPolicy.max_lag`` and the asked stretch is inside the cached window. Otherwise they fall back to the
live read. A booking always re-checks its exact interval live.

Renewal (:meth:`maintain`, run periodically by any number of replicas): the store leases subscriptions
that are due, so each is renewed by one replica; Graph sends nothing when a subscription simply expires,
so an expired or vanished one is created again here. A renewal also reauthorizes, and a subscription is
never reauthorized and renewed within ``SyncPolicy.reauthorize_gap`` of each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from scheduling.domain import Booking, BookingStatus, CalendarSync, ConnectionStatus, User
from scheduling.errors import IntegrationError, NotFound, SlotUnavailable
from scheduling.intervals import Interval
from scheduling.ports import BusyChanges, BusyInterval, CalendarEvent, CalendarPort, CalendarSyncPort, Clock

if TYPE_CHECKING:
    from scheduling.booking import BookingService
    from scheduling.connect import ConnectionService
    from scheduling.stores import (
        BusyCacheStore,
        OutboxStore,
        OutlookBookingIndex,
        SubscriptionStore,
        SyncWorkQueue,
        UserStore,
    )

LifecycleEvent = Literal["reauthorizationRequired", "subscriptionRemoved", "missed"]
LIFECYCLE_EVENTS: tuple[str, ...] = ("reauthorizationRequired", "subscriptionRemoved", "missed")
#: Graph's maximum for subscriptions on Outlook events (minutes); the default lifetime stays just under it.
GRAPH_MAX_EVENT_SUBSCRIPTION_MINUTES = 10_080
_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def wants_subscription(user: User) -> bool:
    """The part of who gets a Graph subscription (and so a busy cache) that the user alone tells: their calendar
    is connected. The rest (an active personal link, or a place in a team's rotation) is in the database: see
    :meth:`CalendarSyncService.needs_subscription`."""
    return user.connection_status is ConnectionStatus.CONNECTED


def hash_client_state(client_state: str) -> str:
    """What is kept of a subscription's ``clientState``: its SHA-256 (hex)."""
    return hashlib.sha256(client_state.encode()).hexdigest()


def client_state_matches(client_state: str | None, stored_hash: str) -> bool:
    if not client_state or not stored_hash:
        return False
    return hmac.compare_digest(hash_client_state(client_state), stored_hash)


@dataclass(frozen=True, slots=True)
class SyncPolicy:
    """The timings of calendar sync (settings in ``app.py``)."""

    subscription_lifetime: timedelta = timedelta(minutes=GRAPH_MAX_EVENT_SUBSCRIPTION_MINUTES - 10)
    renew_before: timedelta = timedelta(hours=24)  # renew once a subscription is this close to expiry
    reauthorize_gap: timedelta = timedelta(minutes=10)  # never reauthorize and renew closer than this
    horizon: timedelta = timedelta(days=92)  # how far ahead the cache covers (a link's booking window)
    rewindow_after: timedelta = timedelta(days=1)  # a new full round once the window is this much behind
    max_lag: timedelta = timedelta(seconds=30)  # a queued change older than this makes the cache stale
    lease: timedelta = timedelta(seconds=60)  # a worker's hold on a host's queued work / a renewal
    first_retry: timedelta = timedelta(seconds=5)
    max_retry: timedelta = timedelta(minutes=10)
    batch: int = 10

    def window(self, now: datetime) -> Interval:
        """The stretch a new delta round covers: from the start of yesterday (UTC) to the horizon's day end."""
        today = _EPOCH + (now - _EPOCH) // _DAY * _DAY
        return Interval(today - _DAY, today + self.horizon + _DAY)

    def window_outdated(self, window: Interval, now: datetime) -> bool:
        return window.end < now + self.horizon - self.rewindow_after or window.start > now

    def retry_at(self, now: datetime, failures: int) -> datetime:
        return now + min(self.first_retry * (1 << min(max(failures - 1, 0), 20)), self.max_retry)


# --------------------------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class HostSubscription:
    """A host's Graph subscription as Slotwise keeps it: the secret ``clientState`` only as its hash."""

    host_id: str
    subscription_id: str
    client_state_hash: str
    expires_at: datetime
    created_at: datetime
    renewed_at: datetime | None = None
    reauthorized_at: datetime | None = None
    endpoint: str = ""  # where Graph delivers its notifications (the app's public notification URL)


@dataclass(frozen=True, slots=True)
class CachedBusy:
    """A host's busy cache as a slot view reads it: the cached window, whether it can be trusted, and the
    busy intervals overlapping what was asked."""

    host_id: str
    window: Interval
    has_cursor: bool
    stale_since: datetime | None
    dirty_since: datetime | None
    subscription_expires_at: datetime | None
    busy: tuple[BusyInterval, ...] = ()

    def serves(self, asked: Interval, now: datetime, max_lag: timedelta) -> bool:
        """The rule for a fresh cache: a delta cursor, not stale, the subscription alive, no change queued for
        longer than ``max_lag``, and ``asked`` inside the cached window."""
        return (
            self.has_cursor
            and self.stale_since is None
            and self.subscription_expires_at is not None
            and self.subscription_expires_at > now
            and (self.dirty_since is None or now - self.dirty_since <= max_lag)
            and self.window.contains(asked)
        )


@dataclass(frozen=True, slots=True)
class CacheState:
    """What the worker needs of a host's cache: the window its cursor belongs to, and the cursor."""

    host_id: str
    window: Interval
    cursor: str | None
    stale_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """What is asked of the worker for a host (requests for one host are merged)."""

    delta: bool = False  # run a delta round
    full: bool = False  # ...starting over (cursor None)
    subscribe: bool = False  # make sure a live subscription exists
    recreate: bool = False  # create a new one: Graph removed ``removed_subscription_id``
    reauthorize: bool = False  # answer a reauthorizationRequired challenge
    removed_subscription_id: str | None = None

    def merged(self, other: SyncRequest) -> SyncRequest:
        return SyncRequest(
            self.delta or other.delta,
            self.full or other.full,
            self.subscribe or other.subscribe,
            self.recreate or other.recreate,
            self.reauthorize or other.reauthorize,
            other.removed_subscription_id or self.removed_subscription_id,
        )


@dataclass(frozen=True, slots=True)
class SyncWork:
    """A host's queued work as leased by a worker; ``generation`` tells whether more was asked meanwhile."""

    host_id: str
    request: SyncRequest
    generation: int
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class ChangeNotice:
    """One entry of a Graph notification POST, as the web adapter read it. ``lifecycle_event`` is set for
    lifecycle notifications; ``event_id`` (from ``resourceData.id``) for change notifications."""

    subscription_id: str
    client_state: str | None
    change_type: str = ""
    event_id: str = ""
    lifecycle_event: str = ""


@dataclass(frozen=True, slots=True)
class DroppedNotice:
    subscription_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class IntakeReport:
    accepted: int
    dropped: tuple[DroppedNotice, ...] = ()
    hosts: tuple[str, ...] = ()


@dataclass
class SyncReport:
    """What one pass of the worker or of the renewal job did (for the runner's log)."""

    leased: int = 0  # hosts whose queued work this pass took
    synced: list[str] = field(default_factory=list)
    subscribed: list[str] = field(default_factory=list)
    renewed: list[str] = field(default_factory=list)
    reauthorized: list[str] = field(default_factory=list)
    unsubscribed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)  # bookings cancelled in Outlook
    moved: list[str] = field(default_factory=list)  # bookings moved in Outlook
    refused: list[str] = field(default_factory=list)  # moved in Outlook onto another booking: the host was told
    failed: list[tuple[str, str]] = field(default_factory=list)  # (host id, why)


# --------------------------------------------------------------------------------------------- service


class CalendarSyncService:
    """Subscriptions, notifications, the busy cache and Outlook-side changes (see the module docstring).

    ``endpoint`` is where Graph delivers this app's notifications (its public notification URL): a subscription
    made for another one (the public address changed) is created again by :meth:`maintain`, or Graph would go
    on delivering to the old address while the cache looked fresh here.

    ``on_work`` is called (in this process) whenever work was queued, so a local worker can start at once
    instead of waiting for its next poll."""

    def __init__(
        self,
        *,
        sync: CalendarSyncPort,
        calendar: CalendarPort,
        subscriptions: SubscriptionStore,
        cache: BusyCacheStore,
        queue: SyncWorkQueue,
        index: OutlookBookingIndex,
        users: UserStore,
        bookings: BookingService,
        clock: Clock,
        policy: SyncPolicy | None = None,
        endpoint: str = "",
        new_secret: Callable[[], str] = lambda: secrets.token_urlsafe(48),
        connections: ConnectionService | None = None,
        outbox: OutboxStore | None = None,
    ) -> None:
        self._sync = sync
        self._calendar = calendar
        self._subscriptions = subscriptions
        self._cache = cache
        self._queue = queue
        self._index = index
        self._users = users
        self._bookings = bookings
        self.clock = clock
        self.policy = policy or SyncPolicy()
        self.endpoint = endpoint
        self._new_secret = new_secret
        self._connections = connections  # a host who must sign in again is marked broken (None: left as is)
        self._outbox = outbox  # the host's notice of an Outlook move Slotwise could not apply (None: not told)
        self.on_work: Callable[[], None] | None = None

    # ------------------------------------------------------------------ connect / disconnect hooks

    async def host_connected(self, user: User) -> None:
        """A host connected their calendar: queue their subscription and a delta round (a full one the first
        time). The sync worker makes both: Graph's handshake calls back into this app, which must be serving."""
        if wants_subscription(user):
            await self._request(user.id, SyncRequest(subscribe=True, delta=True))

    async def host_disconnected(self, user: User) -> None:
        """A host disconnects: forget their subscription, cache and queued work here, then delete the
        subscription at Graph (while their tokens still exist; one already gone is fine)."""
        await self._unsubscribe(user)

    async def host_left_rotation(self, user: User) -> bool:
        """``user`` left a team's rotation: when nothing needs their subscription any more (no active personal
        link, no other rotation), it is deleted with their busy cache, as on disconnect. True when deleted."""
        if await self.needs_subscription(user):
            return False
        return await self._unsubscribe(user)

    async def host_became_bookable(self, user: User) -> bool:
        """``user`` made a personal link or joined a team's rotation: when they need a subscription and have none
        (it was dropped while nothing needed it), one is queued now rather than at the next :meth:`maintain`.
        True when queued."""
        if not wants_subscription(user) or await self._subscriptions.subscription_of(user.id) is not None:
            return False
        await self._request(user.id, SyncRequest(subscribe=True, delta=True))
        return True

    async def needs_subscription(self, user: User) -> bool:
        """The rule of who has a Graph subscription: a connected host with an active personal link, or in a
        team's rotation (the database answers the second part, :meth:`SubscriptionStore.needs_subscription`)."""
        return wants_subscription(user) and await self._subscriptions.needs_subscription(user.id)

    async def _unsubscribe(self, user: User) -> bool:
        """Forget the host's subscription, cache and queued work here, then delete the subscription at Graph.
        True when there was a subscription."""
        removed = await self._subscriptions.delete_subscription(user.id)
        await self._queue.forget_work(user.id)
        await self._cache.drop_cache(user.id)
        self._bookings.forget_busy([user.id])
        if removed is None:
            return False
        # (on failure Graph lets it expire; notifications for it no longer match anything here)
        with contextlib.suppress(IntegrationError):
            await self._sync.unsubscribe(user.host_calendar(), removed.subscription_id)
        return True

    # ------------------------------------------------------------------ notifications

    async def accept(self, notices: Sequence[ChangeNotice]) -> IntakeReport:
        """Queue the work a POST of notifications asks for; nothing is processed here. Each notice must name a
        stored subscription and carry its ``clientState``; any other is dropped and reported."""
        ids = sorted({n.subscription_id for n in notices if n.subscription_id})
        known = await self._subscriptions.subscriptions_by_ids(ids) if ids else {}
        dropped: list[DroppedNotice] = []
        requests: dict[str, SyncRequest] = {}
        dirty: set[str] = set()
        stale: dict[str, str] = {}
        accepted = 0
        for notice in notices:
            sub = known.get(notice.subscription_id)
            if sub is None:
                dropped.append(DroppedNotice(notice.subscription_id, "unknown subscription"))
                continue
            if not client_state_matches(notice.client_state, sub.client_state_hash):
                dropped.append(DroppedNotice(notice.subscription_id, "clientState mismatch"))
                continue
            if notice.lifecycle_event:
                if notice.lifecycle_event not in LIFECYCLE_EVENTS:
                    dropped.append(
                        DroppedNotice(
                            notice.subscription_id, f"unknown lifecycle event {notice.lifecycle_event[:40]!r}"
                        )
                    )
                    continue
                request, reason = self._lifecycle_request(sub, notice.lifecycle_event)
                if reason:
                    stale[sub.host_id] = reason
            else:
                request = SyncRequest(delta=True)
                dirty.add(sub.host_id)
            accepted += 1
            requests[sub.host_id] = requests.get(sub.host_id, SyncRequest()).merged(request)
        for host_id, request in requests.items():
            await self._request(host_id, request, dirty=host_id in dirty, stale_reason=stale.get(host_id))
        return IntakeReport(accepted, tuple(dropped), tuple(requests))

    @staticmethod
    def _lifecycle_request(sub: HostSubscription, event: str) -> tuple[SyncRequest, str]:
        if event == "subscriptionRemoved":
            return (
                SyncRequest(recreate=True, delta=True, removed_subscription_id=sub.subscription_id),
                "subscription removed",
            )
        if event == "missed":
            return SyncRequest(delta=True), "notifications missed"
        return SyncRequest(reauthorize=True), ""

    async def _request(
        self, host_id: str, request: SyncRequest, *, dirty: bool = False, stale_reason: str | None = None
    ) -> None:
        now = self.clock.now()
        await self._queue.request_work(host_id, request, due_at=now, now=now, dirty=dirty, stale_reason=stale_reason)
        if stale_reason is not None:
            self._bookings.forget_busy([host_id])  # this process's views stop trusting the cache at once
        if self.on_work is not None:
            self.on_work()

    # ------------------------------------------------------------------ the worker

    async def run_due(self) -> SyncReport:
        """Lease due hosts and do their queued work (several hosts at once); returns what was done."""
        report = SyncReport()
        now = self.clock.now()
        leased = await self._queue.lease_work(now, self.policy.batch, int(self.policy.lease.total_seconds()))
        report.leased = len(leased)
        if not leased:
            return report
        results = await asyncio.gather(*(self._work(item, report) for item in leased), return_exceptions=True)
        unexpected = [r for r in results if isinstance(r, BaseException)]
        if unexpected:
            raise unexpected[0]
        return report

    async def _work(self, work: SyncWork, report: SyncReport) -> None:
        try:
            await self._process(work, report)
        except IntegrationError as exc:
            report.failed.append((work.host_id, exc.message))
            await self._connection_failed(work.host_id, exc)
            await self._queue.fail_work(
                work.host_id, exc.message, self.policy.retry_at(self.clock.now(), work.attempts + 1)
            )
            return
        except BaseException as exc:
            await self._queue.fail_work(
                work.host_id, f"{type(exc).__name__}: {exc}", self.policy.retry_at(self.clock.now(), work.attempts + 1)
            )
            raise
        await self._queue.finish_work(work.host_id, work.generation)

    async def _process(self, work: SyncWork, report: SyncReport) -> None:
        user = await self._users.get(work.host_id)
        if user is None or not wants_subscription(user):
            if user is not None:
                await self.host_disconnected(user)
            else:
                await self._subscriptions.delete_subscription(work.host_id)
                await self._cache.drop_cache(work.host_id)
            report.unsubscribed.append(work.host_id)
            return
        request = work.request
        if request.recreate:
            await self._recreate(user, request.removed_subscription_id, report)
        elif request.subscribe:
            await self._ensure_subscription(user, report)
        if request.reauthorize and not request.recreate:  # a new subscription needs no reauthorization
            await self._reauthorize(user, report)
        if request.delta or request.full or request.recreate or request.subscribe:
            await self.delta_round(user, report, full=request.full)

    # ------------------------------------------------------------------ subscriptions

    async def _ensure_subscription(self, user: User, report: SyncReport) -> HostSubscription:
        existing = await self._subscriptions.subscription_of(user.id)
        if existing is not None and existing.expires_at > self.clock.now():
            return existing
        return await self._subscribe(user, report)

    async def _subscribe(self, user: User, report: SyncReport) -> HostSubscription:
        now = self.clock.now()
        secret = self._new_secret()
        created = await self._sync.subscribe(
            user.host_calendar(), client_state=secret, expires_at=now + self.policy.subscription_lifetime
        )
        stored = HostSubscription(
            user.id, created.id, hash_client_state(secret), created.expires_at, now, endpoint=self.endpoint
        )
        replaced = await self._subscriptions.save_subscription(stored)
        report.subscribed.append(user.id)
        if replaced is not None and replaced.subscription_id != created.id:
            # (on failure it expires on its own; its notifications match nothing here any more)
            with contextlib.suppress(IntegrationError):
                await self._sync.unsubscribe(user.host_calendar(), replaced.subscription_id)
        return stored

    async def _recreate(self, user: User, removed_id: str | None, report: SyncReport) -> None:
        current = await self._subscriptions.subscription_of(user.id)
        if (
            current is not None
            and removed_id is not None
            and current.subscription_id != removed_id
            and current.expires_at > self.clock.now()
        ):
            return  # already replaced (a repeated subscriptionRemoved)
        await self._subscribe(user, report)

    async def _reauthorize(self, user: User, report: SyncReport) -> None:
        sub = await self._subscriptions.subscription_of(user.id)
        now = self.clock.now()
        if sub is None:
            return
        gap = self.policy.reauthorize_gap
        if (sub.renewed_at is not None and now - sub.renewed_at < gap) or (
            sub.reauthorized_at is not None and now - sub.reauthorized_at < gap
        ):
            return  # a renewal reauthorizes by itself; never both within the gap
        if sub.expires_at - now <= self.policy.renew_before:
            await self._renew(user, sub, report)
            return
        if await self._sync.reauthorize_subscription(user.host_calendar(), sub.subscription_id):
            await self._subscriptions.reauthorized(sub.subscription_id, now)
            report.reauthorized.append(user.id)
        else:
            await self._subscribe(user, report)
            await self._request(user.id, SyncRequest(delta=True))

    async def _renew(self, user: User, sub: HostSubscription, report: SyncReport) -> None:
        now = self.clock.now()
        renewed = await self._sync.renew_subscription(
            user.host_calendar(), sub.subscription_id, now + self.policy.subscription_lifetime
        )
        if renewed is None:  # expired or removed at Graph: Graph says nothing then, so create it again
            await self._subscribe(user, report)
            await self._request(user.id, SyncRequest(delta=True))
            return
        await self._subscriptions.renewed(sub.subscription_id, renewed.expires_at, now)
        report.renewed.append(user.id)

    async def maintain(self) -> SyncReport:
        """The periodic job: renew subscriptions that are due (each leased by one replica; one nobody needs any
        more is deleted instead), queue a subscription for hosts who need one and have none, drop those of
        hosts no longer connected, queue new ones
        for subscriptions made for another notification address, and a new full round for caches whose
        window fell behind."""
        report = SyncReport()
        now = self.clock.now()
        policy = self.policy
        due = await self._subscriptions.lease_renewals(
            now,
            due_before=now + policy.renew_before,
            quiet_since=now - policy.reauthorize_gap,
            urgent_before=now + policy.reauthorize_gap,
            limit=100,
            lease_seconds=int(policy.lease.total_seconds()),
        )
        for sub in due:
            user = await self._users.get(sub.host_id)
            try:
                if user is None or not await self.needs_subscription(user):
                    if user is not None:
                        await self._unsubscribe(user)
                    else:
                        await self._subscriptions.delete_subscription(sub.host_id)
                        await self._cache.drop_cache(sub.host_id)
                    report.unsubscribed.append(sub.host_id)
                    continue
                await self._renew(user, sub, report)
            except IntegrationError as exc:
                report.failed.append((sub.host_id, exc.message))  # the lease runs out: retried after it
                await self._connection_failed(sub.host_id, exc)
        for host_id in await self._subscriptions.hosts_out_of_step(limit=500):
            user = await self._users.get(host_id)
            if user is not None and await self.needs_subscription(user):
                await self._request(host_id, SyncRequest(subscribe=True, delta=True))
            elif user is not None:
                await self.host_disconnected(user)
                report.unsubscribed.append(host_id)
        if self.endpoint:  # the public address changed: Graph delivers to the old one until they are made again
            for sub in await self._subscriptions.subscriptions_elsewhere(self.endpoint, limit=500):
                await self._request(
                    sub.host_id,
                    SyncRequest(recreate=True, delta=True, removed_subscription_id=sub.subscription_id),
                    stale_reason="notification address changed",
                )
        behind = now + policy.horizon - policy.rewindow_after  # as SyncPolicy.window_outdated
        for host_id in await self._cache.hosts_behind(window_end_before=behind, limit=500):
            await self._request(host_id, SyncRequest(delta=True, full=True))
        return report

    async def _connection_failed(self, host_id: str, exc: IntegrationError) -> None:
        """A Graph call for the host failed because they must sign in again: mark the connection broken (the
        host gets the once-a-day reconnect notice, their links stop offering times), as a live read does."""
        if getattr(exc, "reconnect_required", False) and self._connections is not None:
            await self._connections.mark_broken(host_id, exc.message)

    # ------------------------------------------------------------------ delta rounds and the cache

    async def delta_round(self, user: User, report: SyncReport, *, full: bool = False) -> BusyChanges:
        """One round of change tracking for ``user``: into the cache, then onto their bookings."""
        started = self.clock.now()
        state = await self._cache.cache_state(user.id)
        host = user.host_calendar()
        incremental = (
            state is not None and state.cursor and not full and not self.policy.window_outdated(state.window, started)
        )
        if incremental:
            assert state is not None
            changes = await self._sync.busy_changes(host, state.window, state.cursor)
        else:
            changes = await self._sync.busy_changes(host, self.policy.window(started), None)
        done = self.clock.now()
        if changes.full:
            await self._cache.replace_busy(
                user.id,
                window=changes.window,
                cursor=changes.cursor,
                busy=changes.blocking,
                synced_at=done,
                started_at=started,
            )
        else:
            assert state is not None
            applied = await self._cache.apply_busy(
                user.id,
                expected_cursor=state.cursor or "",
                cursor=changes.cursor,
                blocking=changes.blocking,
                cleared=changes.cleared_ids,
                synced_at=done,
                started_at=started,
            )
            if not applied:  # someone else moved the cursor meanwhile: go again from theirs
                await self._request(user.id, SyncRequest(delta=True))
        report.synced.append(user.id)
        self._bookings.forget_busy([user.id])  # this process's copy of the cache: read it again
        await self._outlook_changes(user, changes, report, started)
        return changes

    # ------------------------------------------------------------------ Outlook -> Slotwise

    async def _outlook_changes(self, user: User, changes: BusyChanges, report: SyncReport, started: datetime) -> None:
        """Apply what the round saw of booked events to their bookings. Only bookings unchanged since the round
        began: a booking Slotwise changed meanwhile may have been read in Outlook before Slotwise wrote the
        change there (its own write comes back as a notification, and the next round compares again)."""
        changed = {e.event_id: e for e in changes.changed}
        tagged = {e.booking_id: e for e in changes.changed if e.booking_id}
        event_ids = sorted(set(changed) | set(changes.removed_ids))
        matched: set[str] = set()
        if event_ids or tagged:
            for booking in await self._index.confirmed_bookings_for_events(
                user.id, event_ids, sorted(tagged), unchanged_since=started
            ):
                matched.add(booking.id)
                event = changed.get(booking.graph_event_id or "") or tagged.get(booking.id)
                if event is None:  # reported removed: deleted, cancelled, or moved out of the window
                    event = await self._read_event(user, booking)
                await self._apply_to_booking(booking, event, report)
        if changes.full:
            # A full round lists what exists in the window: a booking whose event is not in it was deleted
            # while nobody listened (or lives outside the primary calendar): read the event to know.
            for booking in await self._index.confirmed_bookings_between(
                user.id, changes.window, unchanged_since=started
            ):
                if booking.id in matched or (booking.graph_event_id or "") in changed:
                    continue
                await self._apply_to_booking(booking, await self._read_event(user, booking), report)

    async def _read_event(self, user: User, booking: Booking) -> CalendarEvent | None:
        if booking.graph_event_id is None:
            return None
        return await self._calendar.get_event(user.calendar_for(booking), booking.graph_event_id)

    async def _apply_to_booking(self, booking: Booking, event: CalendarEvent | None, report: SyncReport) -> None:
        if booking.status is not BookingStatus.CONFIRMED or booking.calendar_sync is not CalendarSync.IN_SYNC:
            return  # Slotwise's own change is on its way to Outlook (or the booking is over): nothing to learn
        try:
            if event is None or event.is_cancelled:
                if await self._bookings.cancelled_in_outlook(booking) is not None:
                    report.cancelled.append(booking.id)
            elif (event.start, event.end) != (booking.start, booking.end):
                await self._moved(booking, event, report)
        except NotFound:
            return  # the link or host is gone: reconciliation's business

    async def _moved(self, booking: Booking, event: CalendarEvent, report: SyncReport) -> None:
        """Reschedule the booking to the time Outlook shows; when that time overlaps another booking (or its
        buffers), the booking keeps its old time and the host is told, once per move (the notice's dedupe key)."""
        try:
            if await self._bookings.moved_in_outlook(booking, event.start, event.end) is not None:
                report.moved.append(booking.id)
        except SlotUnavailable:
            if self._outbox is None:
                return
            notice = await self._bookings.outlook_move_refused(booking, event.start, event.end)
            if await self._outbox.enqueue([notice]):
                report.refused.append(booking.id)

    # ------------------------------------------------------------------ reads for slot views and tests

    async def cached_busy(self, host_id: str, window: Interval) -> CachedBusy | None:
        return await self._cache.cached_busy(host_id, window)

    async def subscription_of(self, host_id: str) -> HostSubscription | None:
        return await self._subscriptions.subscription_of(host_id)
