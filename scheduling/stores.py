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
  ``dedupe_key``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

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
from scheduling.ports import BookedInterval


class BookingStore(Protocol):
    async def reserve(self, booking: Booking, *, cap_checks: Sequence[CapCheck] = (),
                      single_use: bool = False, hold_id: str | None = None) -> tuple[Booking, bool]:
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

    async def confirm(self, booking_id: str, *, graph_event_id: str, ical_uid: str | None,
                      join_url: str | None, join_url_missing: bool,
                      outbox: Sequence[OutboxItem] = ()) -> Booking:
        """PENDING -> CONFIRMED with the event's ids, and enqueue ``outbox``, atomically. A booking that
        is already CONFIRMED is returned unchanged (idempotent); any other status is returned as is and
        nothing is written (the caller decides)."""
        ...

    async def release(self, booking_id: str, reason: str) -> Booking:
        """PENDING -> RELEASED (frees the interval). Other statuses are returned unchanged."""
        ...

    async def move(self, booking_id: str, *, start: datetime, end: datetime, expected_version: int,
                   cap_checks: Sequence[CapCheck] = (), outbox: Sequence[OutboxItem] = ()) -> Booking:
        """Atomically move a CONFIRMED booking: reserve the new padded interval (its own old one does
        not count), free the old, bump ``version``, set calendar_sync UPDATE_PENDING, enqueue ``outbox``.
        Raises SlotUnavailable on overlap or cap, Conflict when ``expected_version`` is stale or the
        booking is not CONFIRMED."""
        ...

    async def cancel(self, booking_id: str, *, reason: str, expected_version: int | None = None,
                     outbox: Sequence[OutboxItem] = ()) -> Booking:
        """PENDING/CONFIRMED -> CANCELLED (frees the interval), calendar_sync CANCEL_PENDING when it has a
        Graph event, enqueue ``outbox``. Raises Conflict when already cancelled/released or stale."""
        ...

    async def mark_synced(self, booking_id: str, version: int) -> None:
        """calendar_sync -> IN_SYNC if the booking is still at ``version``."""
        ...

    async def host_bookings(self, host_ids: Sequence[str], window: Interval, *,
                            caps_event_type_id: str | None = None,
                            exclude_booking_id: str | None = None) -> Mapping[str, list[BookedInterval]]:
        """Holding entries of each host whose padded interval overlaps ``window`` (every host id is a
        key). ``counts_toward_caps`` is true for bookings of ``caps_event_type_id``; holds never count."""
        ...

    async def place_hold(self, hold_id: str, host_ids: Sequence[str], start: datetime, end: datetime,
                         buffer_before: int, buffer_after: int, expires_at: datetime) -> None:
        """Reserve like a booking, until ``expires_at``; raises SlotUnavailable on overlap."""
        ...

    async def release_hold(self, hold_id: str) -> None: ...

    async def pending_past_deadline(self, now: datetime) -> list[Booking]: ...

    async def out_of_sync(self) -> list[Booking]:
        """Bookings whose calendar_sync is not IN_SYNC."""
        ...

    async def released_since(self, since: datetime) -> list[Booking]: ...

    async def upcoming_for_host(self, tenant_id: str, user_id: str, after: datetime,
                                limit: int = 20) -> list[Booking]:
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
    async def create(self, event_type: EventType) -> EventType:
        """Raises Conflict when the owner (user or team) already has a link with that slug."""
        ...

    async def update(self, event_type: EventType) -> EventType:
        """Saves if the stored version equals ``event_type.version`` (then bumps it); else Conflict."""
        ...

    async def get(self, event_type_id: str) -> EventType | None: ...

    async def get_by_owner_slug(self, owner_user_id: str, slug: str) -> EventType | None: ...

    async def get_by_team_slug(self, team_id: str, slug: str) -> EventType | None: ...

    async def list_for_owner(self, tenant_id: str, owner_user_id: str) -> list[EventType]: ...

    async def delete(self, tenant_id: str, event_type_id: str) -> None: ...


class TeamStore(Protocol):
    async def get(self, team_id: str) -> Team | None: ...

    async def get_by_slug(self, slug: str) -> Team | None: ...

    async def save(self, team: Team) -> Team: ...


class OutboxStore(Protocol):
    async def enqueue(self, items: Sequence[OutboxItem]) -> int:
        """Add items not tied to a booking change (e.g. host.reconnect); duplicates by dedupe_key are
        skipped. Returns how many were new."""
        ...

    async def lease(self, now: datetime, limit: int, lease_seconds: int) -> list[tuple[str, OutboxItem, int]]:
        """Claim up to ``limit`` due items (not delivered, not leased by anyone else, retry time
        reached) for ``lease_seconds``; returns (item id, item, attempts so far). Uses row locks with
        SKIP LOCKED on PostgreSQL, so replicas never claim the same item."""
        ...

    async def mark_delivered(self, item_id: str) -> None: ...

    async def mark_failed(self, item_id: str, error: str, retry_at: datetime | None) -> None:
        """Record a failed attempt; ``retry_at`` None gives up (dead letter)."""
        ...
