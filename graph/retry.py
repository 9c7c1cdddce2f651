"""When and how long to wait before retrying a Graph request.

Graph asks callers to honour ``Retry-After`` on 429, 503 and 504 (seconds, possibly fractional such as
``2.128``; an HTTP date is accepted too) and otherwise to back off exponentially. :class:`RetryPolicy`
bounds both the number of attempts and the total time spent waiting, so a throttled mailbox turns into
a :class:`graph.errors.GraphThrottled` instead of a hung booking page.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({429, 503, 504})


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (``"2.128"``, ``"3"`` or an HTTP date); None if absent
    or unreadable. Negative values become 0."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    with contextlib.suppress(ValueError):  # seconds ("2.128"), else an HTTP date below
        return max(0.0, float(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries: at most ``max_retries`` extra attempts and ``max_total_wait`` seconds of sleeping.

    Without ``Retry-After`` the wait is "full jitter" exponential backoff:
    ``uniform(0, min(backoff_cap, backoff_base * 2**attempt))``, never below ``backoff_base / 4``.
    A ``Retry-After`` above ``max_retry_after`` is not waited for at all (the error is raised at once).
    """

    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_total_wait: float = 30.0
    max_retry_after: float = 30.0

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Jittered exponential delay before retry number ``attempt`` (0-based)."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2**attempt))
        draw = (rng or random).uniform(0, ceiling)
        return max(self.backoff_base / 4, draw)

    def delay(
        self, attempt: int, retry_after: float | None, waited: float, rng: random.Random | None = None
    ) -> float | None:
        """Seconds to sleep before retry ``attempt`` (0-based), or None when the budget is spent."""
        if attempt >= self.max_retries:
            return None
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            wait = retry_after
        else:
            wait = self.backoff(attempt, rng)
        if waited + wait > self.max_total_wait:
            return None
        return wait
