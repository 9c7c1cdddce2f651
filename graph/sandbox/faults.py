"""Fault injection for the Graph emulator, settable per test.

``throttle`` and ``unavailable`` queue rules that the next matching requests consume (429 with
``Retry-After``, or 503/504/500). A rule can be limited to one user (matching either the caller or the
mailbox the request targets, by id or UPN) and to paths containing a substring. The outer ``$batch``
request is never matched unless the rule's ``path`` names ``$batch``: faults land on the inner requests,
each with its own ``Retry-After``, as Graph does.

``latency_ms`` delays every request; ``mailbox_concurrency_limit`` is Outlook's 4-concurrent-requests
per mailbox (more in flight -> 429 ``ApplicationThrottled`` without innerError; ``None`` disables it).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from graph.sandbox.errors import (
    GraphError,
    access_denied,
    mailbox_concurrency,
    service_unavailable,
    too_many_requests,
)


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

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self.latency_ms: float = 0
        self.mailbox_concurrency_limit: int | None = 4
        self.concurrency_retry_after: float | None = None

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

    def take(self, *, identities: Collection[str], path: str, outer_batch: bool) -> FaultRule | None:
        """Consume and return the first rule matching this request, if any."""
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
            return rule
        return None
