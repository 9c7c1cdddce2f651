"""Rate limits shared by every replica: counters in the database, one sliding window per (rule, key).

A :class:`RateLimit` names a rule (``api``: requests per API key a minute); :meth:`RateLimitService.hit` counts
one event of a key under a rule and says whether it is allowed, and when not, how long to wait. The counters
live behind the :class:`~scheduling.stores.CounterStore` port (``storage.api``: one row per key and window,
incremented by a conditional upsert), so N replicas enforce one limit, not N.

The window slides: counts are kept per fixed window of the rule's length, and the estimate at a moment is the
current window's count plus the previous window's count weighted by how much of it still lies within one
window length of now (the common two-bucket approximation): no burst of twice the limit across a window edge,
two writes at most per event. An event over the limit is not counted (a client that keeps knocking is not
locked out longer than the limit says). Any rule can use it: the REST API's per key (``api``), and the public
pages' per client address (``booking``: booking submissions and manage actions; ``slots``: slot reads, JSON and
week views), each handed to its adapter as a :class:`Throttle` (one rule of the service, failing open).

Pure: the time comes from the :class:`~scheduling.ports.Clock`; no I/O but the store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from scheduling.errors import SlotwiseError
from scheduling.ports import Clock

if TYPE_CHECKING:
    from scheduling.stores import CounterStore

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``limit`` events per ``window`` for each key, under the rule ``name``."""

    name: str
    limit: int
    window: timedelta = timedelta(minutes=1)

    def __post_init__(self) -> None:
        if not self.name or ":" in self.name:
            raise ValueError("a rate limit has a name without ':'")
        if self.limit < 1:
            raise ValueError("a rate limit allows at least one event")
        if self.window < timedelta(seconds=1):
            raise ValueError("a rate limit's window is at least a second")


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int  # events still allowed right now (0 when refused)
    retry_after: timedelta  # zero when allowed: how long until one more event is allowed
    failure: Exception | None = None  # Throttle only: the counters failed, the event was let through uncounted


class RateLimited(SlotwiseError):
    """Too many requests: try again after ``retry_after`` (whole seconds, at least 1)."""

    code = "rate_limited"

    def __init__(self, retry_after: timedelta, limit: int, window: timedelta) -> None:
        self.retry_after_seconds = max(1, math.ceil(retry_after.total_seconds()))
        per = f"{int(window.total_seconds())} seconds" if window != timedelta(minutes=1) else "minute"
        super().__init__(
            f"Too many requests: at most {limit} a {per}. Try again in {self.retry_after_seconds} seconds."
        )
        self.limit = limit


def window_start(now: datetime, window: timedelta) -> datetime:
    """The start of the fixed window of length ``window`` that holds ``now`` (windows are aligned to the epoch)."""
    return _EPOCH + (now - _EPOCH) // window * window


def wait_for_room(limit: int, previous: int, current: int, elapsed: float) -> float:
    """How long (in windows) until the sliding estimate lets one more event in, from ``elapsed`` (0..1) of the
    current window with ``previous`` and ``current`` events counted: 0 when there is room now."""

    def room_at(f: float, prev: int, cur: int) -> bool:
        return math.ceil(prev * (1 - f) - 1e-9) + cur + 1 <= limit

    if room_at(elapsed, previous, current):
        return 0.0
    if current + 1 <= limit and previous > 0:
        needed = 1 - (limit - 1 - current) / previous  # prev * (1 - f) <= limit - 1 - current
        if needed < 1:
            return max(needed - elapsed, 0.0) + 1e-6
    # the next window: this window's count becomes the previous one, weighted down as the window goes on
    if current <= limit - 1:
        return 1 - elapsed
    return 1 - elapsed + (1 - (limit - 1) / current) + 1e-6


REMEMBERED_WINDOWS = 10_000  # closed windows' counts a service keeps (beyond it, they are read each time)


class RateLimitService:
    """Counts events under rules (see the module docstring). An allowed event costs one conditional upsert: the
    previous window's count, the one other number the estimate needs, is read once per key and window and then
    remembered, since a window that has ended no longer changes (bar an event in flight across the edge)."""

    def __init__(self, *, store: CounterStore, clock: Clock) -> None:
        self._store = store
        self.clock = clock
        self._closed: dict[tuple[str, datetime], int] = {}  # (rule:key, window start) -> its final count
        self._pruned = _EPOCH

    async def _closed_count(self, name: str, start: datetime) -> int:
        """The count of ``name`` in the window that started at ``start`` and has ended (remembered)."""
        found = self._closed.get((name, start))
        if found is not None:
            return found
        found = await self._store.counted(name, start)
        if len(self._closed) >= REMEMBERED_WINDOWS and start > self._pruned:  # forget windows older than this one
            self._pruned = start
            self._closed = {k: v for k, v in self._closed.items() if k[1] >= start}
        if len(self._closed) < REMEMBERED_WINDOWS:
            self._closed[(name, start)] = found
        return found

    async def hit(self, rule: RateLimit, key: str) -> RateDecision:
        """Count one event of ``key`` under ``rule`` if the limit allows it (see the module docstring)."""
        now = self.clock.now()
        start = window_start(now, rule.window)
        name = f"{rule.name}:{key}"
        elapsed = (now - start) / rule.window
        previous = await self._closed_count(name, start - rule.window)
        carried = math.ceil(previous * (1 - elapsed) - 1e-9)
        room = rule.limit - carried
        count = await self._store.take(name, start, limit=room, expires_at=start + 2 * rule.window)
        if count is not None:
            return RateDecision(True, rule.limit, max(room - count, 0), timedelta(0))
        current = await self._store.counted(name, start)
        wait = wait_for_room(rule.limit, previous, current, elapsed)
        return RateDecision(False, rule.limit, 0, max(rule.window * wait, timedelta(seconds=1)))

    async def check(self, rule: RateLimit, key: str) -> RateDecision:
        """:meth:`hit`, raising :class:`RateLimited` when the event is over the limit."""
        decision = await self.hit(rule, key)
        if not decision.allowed:
            raise RateLimited(decision.retry_after, rule.limit, rule.window)
        return decision

    async def purge(self) -> int:
        """Forget the counters of windows that can no longer matter; how many were dropped."""
        return await self._store.purge(self.clock.now())

    def throttle(self, rule: RateLimit) -> Throttle:
        """``rule`` bound to these counters, for an adapter to count its events by key (see :class:`Throttle`)."""
        return Throttle(self, rule)


class Throttle:
    """One rule of a :class:`RateLimitService`: what an adapter that limits by a key it reads off the wire (the
    public pages: booking attempts and slot reads per client address) is handed, instead of the service, its
    store or the rule's numbers. :meth:`hit` counts one event, first thing, before the work it guards.

    Fails open: when the counters can't be read or written (the database down, locked past its busy timeout,
    refusing the statement), the event is let through uncounted and the decision carries the error in
    ``failure`` for the adapter to log. The limit guards the pages against floods; an outage of its counters
    must not turn every page view into an error (whatever the page itself needs from the database fails, or
    not, on its own).
    """

    def __init__(self, limits: RateLimitService, rule: RateLimit) -> None:
        self._limits = limits
        self.rule = rule

    async def hit(self, key: str) -> RateDecision:
        """Count one event of ``key`` under the rule if the limit allows it (:meth:`RateLimitService.hit`)."""
        try:
            return await self._limits.hit(self.rule, key)
        except Exception as exc:  # fail open, whatever failed in the counters (see the class docstring)
            return RateDecision(True, self.rule.limit, self.rule.limit, timedelta(0), failure=exc)
