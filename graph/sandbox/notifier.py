"""Outbound HTTP of the emulator: validation handshakes, change notifications and lifecycle notifications.

Lives with a running Graph app (``cleanup_ctx``): it owns one ``aiohttp.ClientSession``, listens to the
state's event changes and POSTs Graph-shaped notifications to each matching live subscription's
``notificationUrl`` (``clientState`` echoed in every one). It behaves like Graph, not kinder, with the
timings in ``state.change_tracking`` (:class:`graph.sandbox.model.ChangeTracking`):

* a delivery is good only if a 2xx comes back within ``delivery_timeout`` (3 s); otherwise it is
  retried after each of ``retry_delays`` (about 4 hours in all), only for subscriptions still alive, then
  dropped, and each affected subscription that has a ``lifecycleNotificationUrl`` gets ``missed``;
* no notification is sent for a subscription after its ``expirationDateTime``; the ticker deletes
  expired subscriptions (silently: Graph documents no lifecycle event for plain expiry);
* ``reauthorizationRequired`` goes to the lifecycle URL once a subscription is within
  ``reauthorization_lead`` of expiry and again every ``reauthorization_repeat`` until it is renewed; a
  challenge left unanswered (no reauthorize, no renewal) for ``reauthorization_grace`` pauses delivery;
* :meth:`Notifier.lifecycle` sends any lifecycle event on request (``subscriptionRemoved`` also deletes
  the subscription, as when Graph removes one itself). Subscriptions without a lifecycle URL get no
  lifecycle notifications at all.

Every attempt is kept in ``state.notification_log``. On shutdown it waits briefly for in-flight deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp

from graph.sandbox.model import Change, NotificationRecord, Subscription
from graph.sandbox.state import EmulatorState, trim
from graph.sandbox.timefmt import fmt_sub_stamp

log = logging.getLogger("graph.sandbox")

LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")


def _with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(extra.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def lifecycle_entry(sub: Subscription, lifecycle_event: str) -> dict[str, Any]:
    return {
        "subscriptionId": sub.id,
        "subscriptionExpirationDateTime": fmt_sub_stamp(sub.expiration),
        "tenantId": sub.tenant_id,
        "clientState": sub.client_state,
        "lifecycleEvent": lifecycle_event,
    }


class Notifier:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.session: aiohttp.ClientSession | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._lock = threading.Lock()  # tests may tick or change state from another thread

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.session = aiohttp.ClientSession()
        self.state.add_listener(self.on_change)
        self.state.notifier = self
        self._ticker = self.loop.create_task(self._tick_forever())

    async def close(self) -> None:
        self.state.remove_listener(self.on_change)
        if self.state.notifier is self:
            self.state.notifier = None
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self.tasks:
            _, pending = await asyncio.wait(set(self.tasks), timeout=2)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def drain(self) -> None:
        """Wait until every delivery scheduled so far has finished, retries included (for tests)."""
        while self.tasks:
            await asyncio.gather(*set(self.tasks), return_exceptions=True)

    # ----------------------------------------------------------------------------- handshake

    async def validate(self, url: str) -> bool:
        """Graph's validation request: POST url?validationToken=... must echo the token as text/plain."""
        token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
        target = _with_query(url, {"validationToken": token})
        status: int | None = None
        error = None
        try:
            assert self.session is not None
            async with self.session.post(
                target,
                data=b"",
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=aiohttp.ClientTimeout(total=self.state.validation_timeout),
            ) as resp:
                status = resp.status
                text = await resp.text()
                ctype = resp.headers.get("Content-Type", "")
            valid = status == 200 and text == token and ctype.lower().startswith("text/plain")
            if not valid:
                error = f"status {status}, content-type {ctype!r}, body {text[:80]!r}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            valid, error = False, f"{type(exc).__name__}: {exc}"
        self._record(NotificationRecord(url, "validation", token, status, error))
        return valid

    # -------------------------------------------------------------------------- notifications

    def _live(self, sub: Subscription | None, now: datetime) -> bool:
        return sub is not None and sub.expiration > now and self.state.subscriptions.get(sub.id) is sub

    def _paused(self, sub: Subscription, now: datetime) -> bool:
        grace = self.state.change_tracking.reauthorization_grace
        since = sub.challenge_pending_since
        return grace is not None and since is not None and now - since > grace

    def on_change(self, change: Change) -> None:
        now = self.state.now()
        by_url: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for sub in list(self.state.subscriptions.values()):
            if sub.user_id != change.user_id or change.change_type not in sub.change_types:
                continue
            if not self._live(sub, now):
                continue
            resource = f"Users/{sub.user_id}/Events/{change.event_id}"
            note = {
                "id": uuid.uuid4().hex[:13],
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": fmt_sub_stamp(sub.expiration),
                "clientState": sub.client_state,
                "changeType": change.change_type,
                "resource": resource,
                "tenantId": sub.tenant_id,
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.Event",
                    "@odata.id": resource,
                    "@odata.etag": f'W/"{change.change_key}"',
                    "id": change.event_id,
                },
            }
            if self._paused(sub, now):
                log.info("subscription %s has an unanswered reauthorizationRequired: notification not sent", sub.id)
                self._record(NotificationRecord(sub.notification_url, "paused", {"value": [note]}, None))
                continue
            by_url[sub.notification_url].append(note)
        for url, value in by_url.items():
            self._schedule(url, {"value": value}, "notification")

    async def lifecycle(self, subscription_id: str, lifecycle_event: str) -> bool:
        """Send a lifecycle notification now and return whether it was delivered (after retries).
        ``subscriptionRemoved`` also deletes the subscription. A subscription without a
        ``lifecycleNotificationUrl`` gets nothing (False), as with Graph."""
        if lifecycle_event not in LIFECYCLE_EVENTS:
            raise ValueError(f"lifecycle_event must be one of {LIFECYCLE_EVENTS}")
        sub: Subscription = self.state.subscriptions[subscription_id]
        payload = {"value": [lifecycle_entry(sub, lifecycle_event)]}
        if lifecycle_event == "subscriptionRemoved":
            self.state.subscriptions.pop(sub.id, None)
        if sub.lifecycle_notification_url is None:
            log.info("subscription %s has no lifecycleNotificationUrl: %s not sent", sub.id, lifecycle_event)
            return False
        return await self._deliver(sub.lifecycle_notification_url, payload, "lifecycle")

    async def remove_subscription(self, subscription_id: str) -> bool:
        """Graph removes a subscription on its own (access changed, service event): ``subscriptionRemoved``."""
        return await self.lifecycle(subscription_id, "subscriptionRemoved")

    # --------------------------------------------------------------------------------- ticker

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.state.change_tracking.tick_interval)
            try:
                self.tick()
            except Exception:  # the ticker must outlive one bad check
                log.exception("subscription lifecycle check failed")

    def tick(self) -> None:
        """Delete expired subscriptions; send ``reauthorizationRequired`` to those about to expire.
        Runs every ``tick_interval`` seconds; tests call it directly after moving the clock."""
        policy = self.state.change_tracking
        now = self.state.now()
        challenges: dict[str, list[dict[str, Any]]] = defaultdict(list)
        with self._lock:
            for sub in list(self.state.subscriptions.values()):
                if sub.expiration <= now:
                    self.state.subscriptions.pop(sub.id, None)
                    log.info("subscription %s expired at %s and was deleted", sub.id, sub.expiration)
                    continue
                url = sub.lifecycle_notification_url
                if url is None or sub.expiration - now > policy.reauthorization_lead:
                    continue
                if sub.challenged_at is not None and now - sub.challenged_at < policy.reauthorization_repeat:
                    continue
                sub.challenged_at = now
                if sub.challenge_pending_since is None:
                    sub.challenge_pending_since = now
                challenges[url].append(lifecycle_entry(sub, "reauthorizationRequired"))
        for url, value in challenges.items():
            self._schedule(url, {"value": value}, "lifecycle")

    # ------------------------------------------------------------------------------- delivery

    def _schedule(self, url: str, payload: dict[str, Any], kind: str) -> None:
        """Start a delivery on the app's loop, even when the change came from another thread or loop
        (tests often change the state directly while the app runs elsewhere)."""
        if self.loop is None or self.loop.is_closed():
            log.warning("notifier not running: %s to %s dropped", kind, url)
            return
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is self.loop:
            self._spawn(url, payload, kind)
        else:
            self.loop.call_soon_threadsafe(self._spawn, url, payload, kind)

    def _spawn(self, url: str, payload: dict[str, Any], kind: str) -> None:
        assert self.loop is not None
        task = self.loop.create_task(self._deliver(url, payload, kind))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver(self, url: str, payload: dict[str, Any], kind: str) -> bool:
        """POST until a 2xx, retrying on Graph's schedule; then drop it (``missed`` for notifications)."""
        delays = self.state.change_tracking.retry_delays
        attempt = 0
        while True:
            attempt += 1
            if await self._post(url, payload, kind, attempt):
                return True
            if attempt > len(delays):
                break
            await asyncio.sleep(delays[attempt - 1])
            if kind == "notification":
                now = self.state.now()
                value = [
                    n for n in payload["value"] if self._live(self.state.subscriptions.get(n["subscriptionId"]), now)
                ]
                if not value:
                    log.info("notification to %s: its subscriptions are gone; not retried", url)
                    return False
                payload = {"value": value}
        log.warning("%s to %s dropped after %d attempts", kind, url, attempt)
        self._record(NotificationRecord(url, "dropped", payload, None, f"gave up after {attempt} attempts", attempt))
        if kind == "notification":
            self._missed(n["subscriptionId"] for n in payload["value"])
        return False

    def _missed(self, subscription_ids: Iterable[str]) -> None:
        by_url: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for sid in dict.fromkeys(subscription_ids):
            sub = self.state.subscriptions.get(sid)
            if sub is not None and sub.lifecycle_notification_url:
                by_url[sub.lifecycle_notification_url].append(lifecycle_entry(sub, "missed"))
        for url, value in by_url.items():
            self._schedule(url, {"value": value}, "lifecycle")

    async def _post(self, url: str, payload: dict[str, Any], kind: str, attempt: int) -> bool:
        status: int | None = None
        error = None
        try:
            assert self.session is not None
            timeout = aiohttp.ClientTimeout(total=self.state.change_tracking.delivery_timeout)
            async with self.session.post(url, json=payload, timeout=timeout) as resp:
                status = resp.status
                await resp.read()
            if not 200 <= status < 300:
                error = f"status {status}"
                log.warning("%s to %s answered %s (attempt %d)", kind, url, status, attempt)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("%s to %s failed (attempt %d): %s", kind, url, attempt, error)
        self._record(NotificationRecord(url, kind, payload, status, error, attempt))
        return error is None

    def _record(self, record: NotificationRecord) -> None:
        trim(self.state.notification_log)
        self.state.notification_log.append(record)
