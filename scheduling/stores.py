"""Persistence ports of the core. ``storage/`` implements them on SQLite and PostgreSQL.

The invariants live in the store, enforced by the database, never by in-process locks (several
replicas may run against one PostgreSQL):

* no two *holding* entries (PENDING or CONFIRMED bookings, and holds that have not expired) of one
  host overlap, where each entry occupies its padded interval
  ``[start - buffer_before, end + buffer_after)`` (half-open: touching is fine);
* one booking per (event type, idempotency key) — the key as the core stores it, prefixed with the
  caller's namespace (``Caller.scoped_key``), so callers never share keys;
* a single-use link has at most one holding booking;
* caps are checked in the same transaction as the reservation;
* an outbox item is written in the same transaction as the change it announces, at most once per
  ``dedupe_key``, and leased by one worker at a time;
* a background job's lease has one holder at a time;
* a booking's reminder is enqueued at most once per start it has (``ReminderStore.mark_reminded``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from scheduling.domain import (
    Booking,
    CapCheck,
    ConnectionStatus,
    EventType,
    OutboxItem,
    Team,
    User,
)
from scheduling.intervals import Interval
from scheduling.ports import BookedInterval, BusyInterval
from scheduling.sync import CachedBusy, CacheState, HostSubscription, SyncRequest, SyncWork

if TYPE_CHECKING:  # these modules use the ports below (REST API v1 and webhooks)
    from scheduling.api_keys import ApiKey
    from scheduling.webhooks import DeliveryRecord, DeliveryStatus, NewDelivery, WebhookSubscription


class BookingStore(Protocol):
    async def reserve(
        self,
        booking: Booking,
        *,
        cap_checks: Sequence[CapCheck] = (),
        single_use: bool = False,
        hold_id: str | None = None,
    ) -> tuple[Booking, bool]:
        """Insert ``booking`` as PENDING and reserve its padded interval for each of its hosts, in one
        transaction, unless another holding entry of any of those hosts overlaps it (the hold
        ``hold_id``, if given, is consumed and does not count), a cap check fails, or (``single_use``)
        the event type already has a holding booking: then raise SlotUnavailable and change nothing.

        If a booking with the same (event_type_id, idempotency_key) exists, return ``(existing, False)``
        and change nothing; otherwise ``(stored, True)``.
        """
        ...

    async def get(self, booking_id: str) -> Booking | None: ...

    async def get_by_idempotency_key(self, event_type_id: str, key: str) -> Booking | None:
        """The booking stored with exactly this (namespaced) key for this event type."""
        ...

    async def get_by_manage_token_hash(self, token_hash: str) -> Booking | None: ...

    async def confirm(
        self,
        booking_id: str,
        *,
        graph_event_id: str,
        ical_uid: str | None,
        join_url: str | None,
        join_url_missing: bool,
        outbox: Sequence[OutboxItem] = (),
    ) -> Booking:
        """PENDING -> CONFIRMED with the event's ids, and enqueue ``outbox``, atomically. A booking that
        is already CONFIRMED is returned unchanged (idempotent); any other status is returned as is and
        nothing is written (the caller decides)."""
        ...

    async def release(self, booking_id: str, reason: str) -> Booking:
        """PENDING -> RELEASED (frees the interval). Other statuses are returned unchanged."""
        ...

    async def move(
        self,
        booking_id: str,
        *,
        start: datetime,
        end: datetime,
        expected_version: int,
        cap_checks: Sequence[CapCheck] = (),
        outbox: Sequence[OutboxItem] = (),
    ) -> Booking:
        """Atomically move a CONFIRMED booking: reserve the new padded interval (its own old one does
        not count), free the old, bump ``version``, set calendar_sync UPDATE_PENDING, enqueue ``outbox``.
        Raises SlotUnavailable on overlap or cap, Conflict when ``expected_version`` is stale or the
        booking is not CONFIRMED."""
        ...

    async def cancel(
        self, booking_id: str, *, reason: str, expected_version: int | None = None, outbox: Sequence[OutboxItem] = ()
    ) -> Booking:
        """PENDING/CONFIRMED -> CANCELLED (frees the interval), calendar_sync CANCEL_PENDING when it has a
        Graph event, enqueue ``outbox``. Raises Conflict when already cancelled/released or stale."""
        ...

    async def mark_synced(self, booking_id: str, version: int) -> None:
        """calendar_sync -> IN_SYNC if the booking is still at ``version``."""
        ...

    async def host_bookings(
        self,
        host_ids: Sequence[str],
        window: Interval,
        *,
        caps_event_type_id: str | None = None,
        exclude_booking_id: str | None = None,
    ) -> Mapping[str, list[BookedInterval]]:
        """Holding entries of each host whose padded interval overlaps ``window`` (every host id is a
        key). ``counts_toward_caps`` is true for bookings of ``caps_event_type_id``; holds never count."""
        ...

    async def place_hold(
        self,
        hold_id: str,
        host_ids: Sequence[str],
        start: datetime,
        end: datetime,
        buffer_before: int,
        buffer_after: int,
        expires_at: datetime,
    ) -> None:
        """Reserve like a booking, until ``expires_at``; raises SlotUnavailable on overlap."""
        ...

    async def release_hold(self, hold_id: str) -> None: ...

    async def pending_past_deadline(self, now: datetime) -> list[Booking]: ...

    async def out_of_sync(self) -> list[Booking]:
        """Bookings whose calendar_sync is not IN_SYNC."""
        ...

    async def released_since(self, since: datetime) -> list[Booking]: ...

    async def upcoming_for_host(self, tenant_id: str, user_id: str, after: datetime, limit: int = 20) -> list[Booking]:
        """CONFIRMED (and PENDING) bookings of this host ending after ``after``, soonest first."""
        ...


class UserStore(Protocol):
    async def get(self, user_id: str) -> User | None: ...

    async def get_by_aad(self, tenant_id: str, aad_object_id: str) -> User | None: ...

    async def get_by_handle(self, handle: str) -> User | None: ...

    async def upsert(self, user: User) -> User:
        """Insert or update by (tenant_id, aad_object_id); a new user gets a unique ``handle`` derived
        from their email or name when ``user.handle`` is empty or taken. Returns what is stored."""
        ...

    async def set_connection(self, user_id: str, status: ConnectionStatus, error: str = "") -> None: ...

    async def set_conversation_reference(self, user_id: str, reference: Mapping[str, object]) -> None: ...


class EventTypeStore(Protocol):
    async def create(self, event_type: EventType, outbox: Sequence[OutboxItem] = ()) -> EventType:
        """Raises Conflict when the owner (user or team) already has a link with that slug; ``outbox`` items are
        written in the same transaction (none when the link isn't)."""
        ...

    async def update(self, event_type: EventType) -> EventType:
        """Saves if the stored version equals ``event_type.version`` (then bumps it); else Conflict."""
        ...

    async def get(self, event_type_id: str) -> EventType | None: ...

    async def get_by_owner_slug(self, owner_user_id: str, slug: str) -> EventType | None: ...

    async def get_by_handle_slug(self, handle: str, slug: str) -> tuple[EventType, User] | None:
        """The personal link at /book/{handle}/{slug} and its owner (one read; the handle as users store it)."""
        ...

    async def get_by_team_slug(self, team_id: str, slug: str) -> EventType | None: ...

    async def list_for_owner(self, tenant_id: str, owner_user_id: str) -> list[EventType]: ...

    async def delete(self, tenant_id: str, event_type_id: str) -> None: ...


class TeamStore(Protocol):
    async def get(self, team_id: str) -> Team | None: ...

    async def get_by_slug(self, slug: str) -> Team | None: ...

    async def save(self, team: Team) -> Team: ...


@dataclass(frozen=True, slots=True)
class LeasedItem:
    """An outbox item claimed by one worker until its lease runs out: ``attempts`` failed so far,
    ``enqueued_at`` when it was written."""

    id: str
    item: OutboxItem
    attempts: int
    enqueued_at: datetime


class OutboxStore(Protocol):
    """The durable outbox. An item is, in turn: due (leasable), leased (one worker has it until its lease runs
    out), held (waiting for its recipient to become reachable; never leased), and finally delivered or dead
    (a dead letter kept for inspection). Delivery is at least once: a worker that dies mid-item only delays
    it until its lease runs out."""

    async def enqueue(self, items: Sequence[OutboxItem]) -> int:
        """Add items not tied to a booking change (e.g. host.reconnect); duplicates by dedupe_key are
        skipped. Returns how many were new."""
        ...

    async def lease(
        self, now: datetime, limit: int, lease_seconds: int, *, channel: str | None = None
    ) -> list[LeasedItem]:
        """Claim up to ``limit`` due items (not delivered, not dead, not held, not leased by anyone else, retry
        time reached) of ``channel`` (every channel when None) for ``lease_seconds``, oldest due first. Uses
        row locks with SKIP LOCKED on PostgreSQL, so replicas never claim the same item."""
        ...

    async def give_back(self, item_ids: Sequence[str]) -> None:
        """End the lease of items that were leased but not attempted (the worker is stopping): another
        worker may lease them at once."""
        ...

    async def mark_delivered(self, item_id: str) -> None:
        """Delivered (or no longer needed): never leased again."""
        ...

    async def mark_failed(self, item_id: str, error: str, retry_at: datetime | None) -> None:
        """Record a failed attempt; ``retry_at`` None gives up (dead letter)."""
        ...

    async def hold(self, item_id: str, recipient_id: str, reason: str) -> None:
        """Hold the item until :meth:`release_held` is called for ``recipient_id``: it is not leased meanwhile
        and no attempt is counted. Its current lease goes on (:meth:`give_back` ends it)."""
        ...

    async def release_held(self, recipient_id: str) -> int:
        """``recipient_id`` can be reached now: their held items become due again (at once, unless a lease
        taken before the hold is still running). Returns how many were released."""
        ...


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    """A channel's undelivered outbox items (neither delivered, dead, nor held for their recipient): how many,
    and when the oldest was written."""

    channel: str
    pending: int
    oldest: datetime


class OperationsStore(Protocol):
    """What an operator watches, read when metrics are scraped (``scheduling.operations``)."""

    async def outbox_backlog(self) -> list[OutboxBacklog]:
        """One entry per channel that has undelivered items (none for a channel that is up to date)."""
        ...

    async def subscription_count(self) -> int:
        """How many Graph subscriptions (one per synced host) are kept."""
        ...


class JobLease(Protocol):
    """Who runs a background job (reconciliation, subscription renewal...) across replicas: at most one holder
    per job name at a time, until the lease runs out. A replica that dies keeps it only until then."""

    async def acquire(self, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
        """Take (or extend) the lease of job ``name`` for ``holder`` until ``now + ttl``; True when it is
        ``holder``'s: nobody held it, its lease had run out, or ``holder`` held it already."""
        ...

    async def renew(self, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
        """Extend ``holder``'s lease to ``now + ttl``; False when ``holder`` no longer holds it (another
        replica took it after it ran out, or it was released)."""
        ...

    async def release(self, name: str, holder: str) -> None:
        """Give the lease up (shutting down): another replica may take it at once. Nothing when
        ``holder`` does not hold it."""
        ...


class ReminderStore(Protocol):
    """Booked meetings due a reminder to their hosts (``scheduling.reminders``), and recording one as sent."""

    async def due_reminders(self, now: datetime, *, limit: int) -> list[Booking]:
        """Up to ``limit`` CONFIRMED bookings, soonest first, that have not begun at ``now``, whose link's reminder
        is on and due (``start - reminder <= now``) and that were not reminded for their current start."""
        ...

    async def mark_reminded(self, booking_id: str, start: datetime, outbox: Sequence[OutboxItem]) -> bool:
        """In one transaction: record that the booking was reminded for ``start`` and enqueue ``outbox``, only if it
        is still CONFIRMED at ``start`` and was not reminded for it yet; False (nothing written) otherwise."""
        ...


# ------------------------------------------------------------------ calendar sync (scheduling.sync)


class SubscriptionStore(Protocol):
    """The hosts' Graph subscriptions, one per host (``clientState`` kept hashed)."""

    async def subscription_of(self, host_id: str) -> HostSubscription | None: ...

    async def subscriptions_by_ids(self, subscription_ids: Sequence[str]) -> Mapping[str, HostSubscription]:
        """The stored subscriptions among ``subscription_ids`` (by id); unknown ids are left out."""
        ...

    async def save_subscription(self, subscription: HostSubscription) -> HostSubscription | None:
        """Make ``subscription`` the host's one subscription; returns the one it replaced, if any."""
        ...

    async def delete_subscription(self, host_id: str) -> HostSubscription | None:
        """Forget the host's subscription; returns what was deleted."""
        ...

    async def lease_renewals(
        self,
        now: datetime,
        *,
        due_before: datetime,
        quiet_since: datetime,
        urgent_before: datetime,
        limit: int,
        lease_seconds: int,
    ) -> list[HostSubscription]:
        """Claim up to ``limit`` subscriptions expiring at or before ``due_before`` that nobody else holds, for
        ``lease_seconds``, soonest expiry first; one reauthorized after ``quiet_since`` only when it expires
        at or before ``urgent_before``. SKIP LOCKED on PostgreSQL: replicas never claim the same one."""
        ...

    async def renewed(self, subscription_id: str, expires_at: datetime, now: datetime) -> None:
        """Record a renewal (new expiry, ``renewed_at`` = now) and end the lease."""
        ...

    async def reauthorized(self, subscription_id: str, now: datetime) -> None: ...

    async def subscriptions_elsewhere(self, endpoint: str, *, limit: int) -> list[HostSubscription]:
        """Subscriptions made for another notification address than ``endpoint``, that have no queued work."""
        ...

    async def needs_subscription(self, host_id: str) -> bool:
        """The rule of :meth:`scheduling.sync.CalendarSyncService.needs_subscription`: the user's calendar is
        connected and they have an active personal link or are in a team's rotation."""
        ...

    async def hosts_out_of_step(self, limit: int) -> list[str]:
        """Candidates for :meth:`scheduling.sync.CalendarSyncService.needs_subscription` to decide on: users who
        need a subscription (:meth:`needs_subscription`) but have no subscription row and no queued work, and
        users with a subscription whose calendar is not connected."""
        ...


class BusyCacheStore(Protocol):
    """Per host: the busy intervals of their primary calendar over a window, by event id, with the delta
    cursor that continues them; shared by every replica."""

    async def cached_busy(self, host_id: str, window: Interval) -> CachedBusy | None:
        """The cache header (with the subscription's expiry) and the intervals overlapping ``window``."""
        ...

    async def cache_state(self, host_id: str) -> CacheState | None: ...

    async def replace_busy(
        self,
        host_id: str,
        *,
        window: Interval,
        cursor: str,
        busy: Mapping[str, BusyInterval],
        synced_at: datetime,
        started_at: datetime,
    ) -> None:
        """Replace the host's cache by a full round. ``dirty_since`` and ``stale_since`` are cleared unless set
        after ``started_at`` (the round began then: a later notification may not be in it)."""
        ...

    async def apply_busy(
        self,
        host_id: str,
        *,
        expected_cursor: str,
        cursor: str,
        blocking: Mapping[str, BusyInterval],
        cleared: Sequence[str],
        synced_at: datetime,
        started_at: datetime,
    ) -> bool:
        """Apply an incremental round if the stored cursor is still ``expected_cursor`` (else False, nothing
        written): drop ``cleared`` ids, set ``blocking``, store ``cursor``; dirty/stale as in replace_busy."""
        ...

    async def drop_cache(self, host_id: str) -> None: ...

    async def hosts_behind(self, *, window_end_before: datetime, limit: int) -> list[str]:
        """Hosts whose cached window ends before ``window_end_before`` (time for a new window)."""
        ...


class SyncWorkQueue(Protocol):
    """Queued sync work, one row per host: requests merge into it, and a worker leases it whole."""

    async def request_work(
        self,
        host_id: str,
        request: SyncRequest,
        *,
        due_at: datetime,
        now: datetime,
        dirty: bool = False,
        stale_reason: str | None = None,
    ) -> None:
        """Merge ``request`` into the host's row (created if missing) and make it due by ``due_at``; in the same
        transaction mark the host's cache dirty since ``now`` (``dirty``, kept if already dirty) and/or stale
        with ``stale_reason``."""
        ...

    async def lease_work(self, now: datetime, limit: int, lease_seconds: int) -> list[SyncWork]:
        """Claim up to ``limit`` due rows nobody else holds for ``lease_seconds`` (SKIP LOCKED on PostgreSQL)."""
        ...

    async def finish_work(self, host_id: str, generation: int) -> None:
        """Done: delete the row if nothing was requested since the lease (``generation`` unchanged), else end
        the lease so the newer requests run."""
        ...

    async def fail_work(self, host_id: str, error: str, retry_at: datetime) -> None:
        """Keep every request, count the failure, and make the row due again at ``retry_at``."""
        ...

    async def forget_work(self, host_id: str) -> None: ...


class OutlookBookingIndex(Protocol):
    """Bookings by their Outlook event, for applying Outlook-side changes."""

    async def confirmed_bookings_for_events(
        self, host_id: str, event_ids: Sequence[str], booking_ids: Sequence[str], *, unchanged_since: datetime
    ) -> list[Booking]:
        """CONFIRMED bookings organised by ``host_id`` whose Outlook event id is in ``event_ids`` or whose id is
        in ``booking_ids`` (the booking tag read from an event), last changed at or before ``unchanged_since``."""
        ...

    async def confirmed_bookings_between(
        self, host_id: str, window: Interval, *, unchanged_since: datetime
    ) -> list[Booking]:
        """CONFIRMED bookings organised by ``host_id`` with an Outlook event, overlapping ``window``, last changed
        at or before ``unchanged_since``."""
        ...


# ------------------------------------------------------------------ REST API v1, rate limits and webhooks (issue 13)


class CounterStore(Protocol):
    """Event counters per (key, window start), shared by every replica (``scheduling.ratelimit``)."""

    async def counted(self, key: str, window_start: datetime) -> int:
        """How many events of ``key`` are counted in the window starting at ``window_start`` (0 when none)."""
        ...

    async def take(self, key: str, window_start: datetime, *, limit: int, expires_at: datetime) -> int | None:
        """Count one event of ``key`` in that window if fewer than ``limit`` are counted there, atomically (two
        replicas never both take the last one); the new count, or None when the window is full (nothing
        written; also when ``limit`` < 1). The counter may be forgotten after ``expires_at``."""
        ...

    async def purge(self, now: datetime) -> int:
        """Forget counters whose ``expires_at`` has passed; how many."""
        ...


class ApiKeyStore(Protocol):
    """API keys by the SHA-256 of the key (``scheduling.api_keys``); the key itself is never stored."""

    async def add(self, key: ApiKey, key_hash: str) -> ApiKey: ...

    async def by_hash(self, key_hash: str) -> ApiKey | None: ...

    async def for_user(self, user_id: str) -> list[ApiKey]:
        """Every key of the user, revoked ones included."""
        ...

    async def revoke(self, key_id: str, user_id: str, at: datetime) -> ApiKey | None:
        """Revoke ``user_id``'s key ``key_id`` (kept revoked at its first revocation); None when they have no such
        key."""
        ...

    async def touch(self, key_id: str, at: datetime, unless_since: datetime) -> None:
        """Record a use at ``at`` unless one was recorded after ``unless_since``."""
        ...


class BookingQueries(Protocol):
    """Bookings as the REST API lists them."""

    async def hosted_page(
        self,
        user_id: str,
        *,
        event_type_id: str | None,
        statuses: Sequence[str],
        start_from: datetime | None,
        start_before: datetime | None,
        after: tuple[datetime, str] | None,
        limit: int,
        event_type_ids: Sequence[str] = (),
    ) -> list[Booking]:
        """Bookings ``user_id`` holds time for (any status), and every booking of the links ``event_type_ids`` (the
        team links they manage, whoever hosts them), by (start, id), from just after ``after``; filtered by link,
        by status (none: all) and by start in [start_from, start_before)."""
        ...


class LinkExpiryStore(Protocol):
    """When a link stops taking bookings (``scheduling.api``: a single-use link with an expiry, for instance)."""

    async def set_expiry(self, event_type_id: str, expires_at: datetime | None) -> None:
        """Set (None: clear) the expiry of a link; a new expiry is due again."""
        ...

    async def expiries(self, event_type_ids: Sequence[str]) -> Mapping[str, datetime]: ...

    async def due_expiries(self, now: datetime, limit: int) -> list[str]:
        """Links whose expiry has passed and that were not switched off for it yet."""
        ...

    async def expired(self, event_type_id: str, at: datetime) -> None:
        """The link was switched off for its expiry (or is gone)."""
        ...


class WebhookStore(Protocol):
    """Webhook subscriptions (signing secrets encrypted at rest) and their deliveries (``scheduling.webhooks``)."""

    async def add_subscription(self, subscription: WebhookSubscription) -> WebhookSubscription: ...

    async def subscription(self, subscription_id: str) -> WebhookSubscription | None: ...

    async def subscriptions_of(self, user_id: str) -> list[WebhookSubscription]: ...

    async def save_subscription(self, subscription: WebhookSubscription) -> WebhookSubscription:
        """Save if the stored version equals ``subscription.version`` (then bump it); else Conflict."""
        ...

    async def delete_subscription(self, subscription_id: str) -> None: ...

    async def audience(self, tenant_id: str, user_ids: Sequence[str], event: str) -> list[WebhookSubscription]:
        """The enabled subscriptions of these users (in ``tenant_id``) that want ``event``."""
        ...

    async def fan_out(self, deliveries: Sequence[NewDelivery]) -> list[str]:
        """Write each delivery's outbox item and its (pending) delivery record, in one transaction; an item whose
        ``dedupe_key`` exists already is skipped with its record. The ids (``webhook-id``) of what was written."""
        ...

    async def attempted(
        self,
        delivery_id: str,
        subscription_id: str,
        *,
        status: DeliveryStatus,
        response_code: int | None,
        error: str,
        at: datetime,
        succeeded: bool = False,
    ) -> None:
        """Record an attempt on the delivery (``attempts`` + 1 unless ``status`` is SKIPPED) and, when it
        ``succeeded``, the subscription's last success."""
        ...

    async def disable(self, subscription_id: str, reason: str, at: datetime, notice: OutboxItem) -> bool:
        """Disable an enabled subscription and enqueue ``notice`` (its owner is told), in one transaction; False
        when it was disabled or gone already (nothing written)."""
        ...

    async def deliveries(self, subscription_id: str, limit: int) -> list[DeliveryRecord]:
        """The newest ``limit`` deliveries of the subscription, newest first."""
        ...
