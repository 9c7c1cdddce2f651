"""Outbound HTTP of the emulator: subscription validation handshakes and change notifications.

Lives with a running Graph app (``cleanup_ctx``): it owns one ``aiohttp.ClientSession``, listens to the
state's event changes, and POSTs Graph-shaped notifications to each matching subscription's
``notificationUrl`` as fire-and-forget tasks (failures are logged and kept in
``state.notification_log``). On shutdown it waits briefly for in-flight deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp

from graph.sandbox.model import Change, NotificationRecord, Subscription
from graph.sandbox.state import EmulatorState, trim
from graph.sandbox.timefmt import fmt_sub_stamp

log = logging.getLogger("graph.sandbox")

DELIVERY_TIMEOUT = 10.0
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")


def _with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(extra.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


class Notifier:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.session: aiohttp.ClientSession | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.session = aiohttp.ClientSession()
        self.state.add_listener(self.on_change)
        self.state.notifier = self

    async def close(self) -> None:
        self.state.remove_listener(self.on_change)
        if self.state.notifier is self:
            self.state.notifier = None
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
        """Wait until every notification scheduled so far has been delivered (for tests)."""
        while self.tasks:
            await asyncio.gather(*set(self.tasks), return_exceptions=True)

    # ----------------------------------------------------------------------------- handshake

    async def validate(self, url: str) -> bool:
        """Graph's validation request: POST url?validationToken=... must echo the token as text/plain."""
        token = (f"Validation: Testing client application reachability for subscription Request-Id: "
                 f"{uuid.uuid4()}")
        target = _with_query(url, {"validationToken": token})
        status: int | None = None
        error = None
        try:
            assert self.session is not None
            async with self.session.post(target, data=b"", headers={"Content-Type": "text/plain; charset=utf-8"},
                                         timeout=aiohttp.ClientTimeout(total=self.state.validation_timeout)) as resp:
                status = resp.status
                text = await resp.text()
                ctype = resp.headers.get("Content-Type", "")
            valid = status == 200 and text == token and ctype.lower().startswith("text/plain")
            if not valid:
                error = f"status {status}, content-type {ctype!r}, body {text[:80]!r}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            valid, error = False, f"{type(exc).__name__}: {exc}"
        trim(self.state.notification_log)
        self.state.notification_log.append(NotificationRecord(url, "validation", token, status, error))
        return valid

    # -------------------------------------------------------------------------- notifications

    def on_change(self, change: Change) -> None:
        now = self.state.now()
        by_url: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for sub in list(self.state.subscriptions.values()):
            if sub.user_id != change.user_id or change.change_type not in sub.change_types:
                continue
            if sub.expiration <= now:
                continue
            resource = f"Users/{sub.user_id}/Events/{change.event_id}"
            by_url[sub.notification_url].append({
                "id": uuid.uuid4().hex[:13],
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": fmt_sub_stamp(sub.expiration),
                "clientState": sub.client_state,
                "changeType": change.change_type,
                "resource": resource,
                "tenantId": sub.tenant_id,
                "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": resource,
                                 "@odata.etag": f'W/"{change.change_key}"', "id": change.event_id},
            })
        for url, value in by_url.items():
            self._schedule(url, {"value": value}, "notification")

    async def lifecycle(self, subscription_id: str, lifecycle_event: str) -> None:
        """Send a lifecycle notification (``subscriptionRemoved`` also deletes the subscription)."""
        if lifecycle_event not in LIFECYCLE_EVENTS:
            raise ValueError(f"lifecycle_event must be one of {LIFECYCLE_EVENTS}")
        sub: Subscription = self.state.subscriptions[subscription_id]
        url = sub.lifecycle_notification_url or sub.notification_url
        payload = {"value": [{"subscriptionId": sub.id,
                              "subscriptionExpirationDateTime": fmt_sub_stamp(sub.expiration),
                              "tenantId": sub.tenant_id, "clientState": sub.client_state,
                              "lifecycleEvent": lifecycle_event}]}
        if lifecycle_event == "subscriptionRemoved":
            self.state.subscriptions.pop(sub.id, None)
        await self._post(url, payload, "lifecycle")

    def _schedule(self, url: str, payload: dict[str, Any], kind: str) -> None:
        """Start a delivery on the app's loop, even when the change came from another thread or loop
        (tests often change the state directly while the app runs elsewhere)."""
        if self.loop is None or self.loop.is_closed():
            log.warning("notifier not running: notification to %s dropped", url)
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
        task = self.loop.create_task(self._post(url, payload, kind))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _post(self, url: str, payload: dict[str, Any], kind: str) -> None:
        status: int | None = None
        error = None
        try:
            assert self.session is not None
            async with self.session.post(url, json=payload,
                                         timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT)) as resp:
                status = resp.status
                await resp.read()
            if status >= 300:
                error = f"status {status}"
                log.warning("notification to %s answered %s", url, status)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("notification to %s failed: %s", url, error)
        trim(self.state.notification_log)
        self.state.notification_log.append(NotificationRecord(url, kind, payload, status, error))
