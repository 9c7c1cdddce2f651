"""Fault injection for the Graph emulator, settable per test.

``throttle`` and ``unavailable`` queue rules that the next matching requests consume (429 with
``Retry-After``, or 503/504/500). A rule can be limited to one user (matching either the caller or the
mailbox the request targets, by id or UPN) and to paths containing a substring. The outer ``$batch``
request is never matched unless the rule's ``path`` names ``$batch``: faults land on the inner requests,
each with its own ``Retry-After``, as Graph does.

``latency_ms`` delays every request; ``mailbox_concurrency_limit`` is Outlook's 4-concurrent-requests
per mailbox (more in flight -> 429 ``ApplicationThrottled`` without innerError; ``None`` disables it).

Random faults (``rate``, 0..1, the emulator process's ``--fault-rate``): every Graph request that passed
authentication and routing (inner ``$batch`` requests each on their own, never the outer ``$batch``), and
that no queued rule matched, independently gets with probability ``rate`` one fault drawn evenly from
:data:`RANDOM_KINDS`: 429 ``TooManyRequests`` with ``Retry-After``, 503 ``serviceNotAvailable`` with
``Retry-After``, 429 ``ApplicationThrottled`` (MailboxConcurrency, no ``Retry-After``, as Outlook sends it),
or a latency spike (``spike_ms`` more, then served normally). The draw happens before the handler, so a
faulted write changes nothing. ``ghost_write_rate`` is the other kind of failure real Graph has: the write
*is* applied, then the answer is a 504 (:meth:`Faults.ghost`, applied by the Graph app to HTTP requests).
Draws come from random sources seeded by ``seed`` (:meth:`Faults.reseed`), so a run is reproducible for
the same sequence of requests.

A spike is handed to the request pipeline through :attr:`Faults.latency_ms`: :meth:`take` notes it for
the request it was drawn for, and the pipeline reads ``latency_ms`` right after ``take`` in the same
synchronous step (the next ``take`` clears it).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

from graph.sandbox.errors import (
    GraphError,
    access_denied,
    mailbox_concurrency,
    service_unavailable,
    too_many_requests,
)

#: The faults a random draw picks from (evenly), by the name ``injected`` counts them under.
RANDOM_KINDS = ("throttle", "unavailable", "mailboxConcurrency", "latencySpike")
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass(eq=False)
class FaultRule:
    kind: str
    remaining: int
    status: int
    retry_after: float | None
    user: str | None
    code: str
    path: str | None

    def error(self) -> GraphError:
        if self.kind == "throttle":
            if self.code == "ApplicationThrottled":
                return mailbox_concurrency(self.retry_after)
            return too_many_requests(self.retry_after, self.code)
        if self.kind == "deny":
            return access_denied()
        return service_unavailable(self.status, self.retry_after)


class Faults:
    """Injected failures and limits; ``clear()`` restores the defaults."""

    def __init__(self, *, seed: int | str | None = None) -> None:
        self.rules: list[FaultRule] = []
        self.base_latency_ms: float = 0
        self.mailbox_concurrency_limit: int | None = 4
        self.concurrency_retry_after: float | None = None
        self.rate: float = 0.0  # probability of a random fault per Graph request
        self.ghost_write_rate: float = 0.0  # probability that an applied write is answered 504
        self.spike_ms: float = 500.0  # a random latency spike
        self.random_retry_after: float = 1.0  # Retry-After of random 429 TooManyRequests and 503
        self.injected: Counter[str] = Counter()  # random faults (RANDOM_KINDS), "ghostWrite", "rule"
        self.statuses: Counter[int] = Counter()  # HTTP answers of the Graph app by status ($batch: once)
        self._spike = False
        self.reseed(seed)

    def reseed(self, seed: int | str | None) -> None:
        """Start the random draws afresh from ``seed`` (None: unpredictable)."""
        self._rng = random.Random(seed)
        self._ghost_rng = random.Random(None if seed is None else f"ghost:{seed}")

    @property
    def latency_ms(self) -> float:
        """Delay of the request being served: the base latency, plus a spike when one was drawn for it."""
        return self.base_latency_ms + (self.spike_ms if self._spike else 0)

    @latency_ms.setter
    def latency_ms(self, value: float) -> None:
        self.base_latency_ms = value

    def throttle(
        self,
        count: int = 1,
        retry_after: float | None = 0.2,
        user: str | None = None,
        code: str = "TooManyRequests",
        path: str | None = None,
    ) -> None:
        """The next ``count`` matching requests get 429 ``code`` with ``Retry-After`` (None: no header)."""
        self.rules.append(FaultRule("throttle", count, 429, retry_after, user, code, path))

    def unavailable(
        self,
        count: int = 1,
        status: int = 503,
        retry_after: float | None = None,
        user: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next ``count`` matching requests get ``status`` (503, 504 or 500), optionally Retry-After."""
        if status not in (500, 502, 503, 504):
            raise ValueError("unavailable() takes a 5xx status: 500, 502, 503 or 504")
        self.rules.append(FaultRule("unavailable", count, status, retry_after, user, "", path))

    def deny(self, count: int = 1, user: str | None = None, path: str | None = None) -> None:
        """The next ``count`` matching requests get 403 ErrorAccessDenied (e.g. an app access policy)."""
        self.rules.append(FaultRule("deny", count, 403, None, user, "ErrorAccessDenied", path))

    def clear(self) -> None:
        self.rules.clear()
        self.latency_ms = 0
        self.mailbox_concurrency_limit = 4
        self.concurrency_retry_after = None
        self.rate = 0.0
        self.ghost_write_rate = 0.0
        self._spike = False

    def take(self, *, identities: Collection[str], path: str, outer_batch: bool) -> FaultRule | None:
        """Consume and return the first rule matching this request, if any; else, at ``rate``, a random
        fault (a latency spike is not returned: it shows in :attr:`latency_ms` for this request)."""
        self._spike = False
        for rule in self.rules:
            if rule.remaining <= 0:
                continue
            if rule.user is not None and rule.user.lower() not in identities:
                continue
            if rule.path is not None and rule.path.lower() not in path.lower():
                continue
            if outer_batch and (rule.path is None or "$batch" not in rule.path):
                continue
            rule.remaining -= 1
            self.rules = [r for r in self.rules if r.remaining > 0]
            self.injected["rule"] += 1
            return rule
        if outer_batch or self.rate <= 0 or self._rng.random() >= self.rate:
            return None
        kind = self._rng.choice(RANDOM_KINDS)
        self.injected[kind] += 1
        retry = self.random_retry_after
        if kind == "throttle":
            return FaultRule("throttle", 0, 429, retry, None, "TooManyRequests", None)
        if kind == "unavailable":
            return FaultRule("unavailable", 0, 503, retry, None, "", None)
        if kind == "mailboxConcurrency":
            return FaultRule("throttle", 0, 429, None, None, "ApplicationThrottled", None)
        self._spike = True
        return None

    def ghost(self, method: str) -> bool:
        """Whether this applied write (POST, PATCH, PUT, DELETE) is answered as if it failed (504)."""
        if self.ghost_write_rate <= 0 or method.upper() not in WRITE_METHODS:
            return False
        if self._ghost_rng.random() >= self.ghost_write_rate:
            return False
        self.injected["ghostWrite"] += 1
        return True
