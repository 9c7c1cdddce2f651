"""Proactive notifications: the outbox runner that tells hosts in Teams what happened.

Kinds delivered to the host's personal chat (the reference stored at install / on their messages):

* ``booking.created`` / ``booking.rescheduled`` / ``booking.cancelled`` (written by the booking use
  cases in the same transaction as the change): the host_notification card;
* ``host.reconnect`` (the calendar connection broke; at most one a day): the reconnect card with a fresh
  sign-in link, unless the host has reconnected meanwhile;
* ``host.connected`` (the web sign-in finished): the first-run card with the detected zone and hours;
* ``host.sign_in`` (a sign-in, consent or MFA card asked for in a group chat or channel, bot.private):
  the card drawn now, with a fresh sign-in link;
* ``host.private`` (another private reply asked for in a group chat or channel, bot.private): the reply.

The runner:

1. leases due items (``NoticeService.lease``; SKIP LOCKED on PostgreSQL, so replicas never share one);
2. sends the card with ``continue_conversation``;
3. ``delivered`` (a delivered item is never leased again), or ``failed`` with an
   exponential retry time; after ``max_attempts`` failures, or for an item that can never be
   delivered (unknown kind, host gone), it gives up (``retry_at`` None: a dead letter kept for
   inspection).

``dedupe_key`` is unique in the outbox, so one event is one item. Each send is bounded well inside the
lease, so a slow send can't outlive the lease and be picked up by a second worker. Delivery is at
least once: only a crash between the send and ``delivered`` repeats a message. Items for other
channels (webhooks) are left alone; their lease simply runs out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

from botbuilder.core import BotAdapter, TurnContext
from botbuilder.schema import ConversationReference

from bot.context import stored_reference
from bot.deps import BotDeps
from bot.host import sign_in_reply
from bot.private import PRIVATE_KIND, SIGN_IN_KIND, reply_from_payload
from bot.reply import Json, Reply, message_activity
from cards import consent_blocked, first_run, host_notification, reconnect_required
from cards.bookings import NotificationKind
from cards.help import connect_prompt
from scheduling.domain import ConnectionStatus, OutboxItem, User
from scheduling.links import availability_from_mailbox

log = logging.getLogger("slotwise.notifications")

BOOKING_KINDS: Mapping[str, NotificationKind] = {
    "booking.created": "booking.created",
    "booking.rescheduled": "booking.rescheduled",
    "booking.cancelled": "booking.cancelled",
}
TEAMS_CHANNEL = "teams"


class Undeliverable(Exception):
    """This item can never be delivered; retrying is pointless."""


class Obsolete(Exception):
    """This item no longer needs saying (e.g. "reconnect" after the host reconnected)."""


class NotReachable(Exception):
    """The host can't be messaged yet (no conversation reference): retry later."""


class ProactiveSender(Protocol):
    async def send(self, reference: ConversationReference, tenant_id: str, message: Reply) -> None: ...


class AdapterSender:
    """Sends a message (card, text, OAuthCard) into a stored conversation with the Bot Framework adapter."""

    def __init__(self, adapter: BotAdapter, app_id: str) -> None:
        self.adapter = adapter
        self.app_id = app_id

    async def send(self, reference: ConversationReference, tenant_id: str, message: Reply) -> None:
        failures: list[Exception] = []

        async def callback(context: TurnContext) -> None:
            activity = message_activity(message)
            if tenant_id:
                activity.channel_data = {"tenant": {"id": tenant_id}}
            try:
                await context.send_activity(activity)
            except Exception as exc:  # the adapter would swallow it (on_turn_error): keep it for the caller
                failures.append(exc)

        await self.adapter.continue_conversation(reference, callback, self.app_id)
        if failures:
            raise failures[0]


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


class OutboxRunner:
    def __init__(self, deps: BotDeps, sender: ProactiveSender, *, lease_seconds: int = 60, batch: int = 20,
                 max_attempts: int = 8, first_retry: timedelta = timedelta(seconds=30),
                 max_retry: timedelta = timedelta(hours=2), send_timeout: float = 20.0) -> None:
        if send_timeout >= lease_seconds:
            raise ValueError("a send must end well before its lease does")
        self.deps = deps
        self.sender = sender
        self.clock = deps.clock
        self.lease_seconds = lease_seconds
        self.batch = batch
        self.max_attempts = max_attempts
        self.first_retry = first_retry
        self.max_retry = max_retry
        self.send_timeout = send_timeout
        self._stop = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stopped.set()  # not running
        self._wake = asyncio.Event()

    def retry_at(self, failures: int) -> datetime | None:
        """When to try again after ``failures`` failed attempts; None once it is time to give up."""
        if failures >= self.max_attempts:
            return None
        delay = min(self.first_retry * (1 << max(failures - 1, 0)), self.max_retry)
        return self.clock.now() + delay

    async def run_once(self) -> int:
        """One pass over the due items; returns how many items were leased (for the caller's pacing)."""
        notices = self.deps.notices
        leased = await notices.lease(self.clock.now(), self.batch, self.lease_seconds)
        for item_id, item, attempts in leased:
            if item.channel != TEAMS_CHANNEL:
                continue
            try:
                await asyncio.wait_for(self.deliver(item), self.send_timeout)
            except Obsolete as exc:
                log.info("outbox item %s (%s) needs no message any more: %s", item_id, item.kind, exc)
                await notices.delivered(item_id)
            except Undeliverable as exc:
                log.warning("outbox item %s (%s) can't be delivered: %s", item_id, item.kind, exc)
                await notices.failed(item_id, describe(exc), None)
            except Exception as exc:
                retry = self.retry_at(attempts + 1)
                log.info("outbox item %s (%s) failed (attempt %d)%s: %s", item_id, item.kind, attempts + 1,
                         "" if retry else ", giving up", exc)
                await notices.failed(item_id, describe(exc), retry)
            else:
                await notices.delivered(item_id)
        return len(leased)

    async def deliver(self, item: OutboxItem) -> None:
        host_id = item.payload.get("hostId")
        host = await self.deps.people.member(item.tenant_id, host_id) if isinstance(host_id, str) else None
        if host is None:
            raise Undeliverable("the host no longer exists")
        message = await self.message_for(item, host)
        stored = stored_reference(host.conversation_reference)
        if stored is None:
            raise NotReachable("the host has no chat with Slotwise yet (not installed)")
        reference, tenant_id = stored
        await self.sender.send(reference, tenant_id or item.tenant_id, message)

    async def message_for(self, item: OutboxItem, host: User) -> Reply:
        """The message for ``item``: a private reply (bot.private), else the card of :meth:`card_for`."""
        payload = item.payload
        if item.kind == SIGN_IN_KIND:
            consent_url, claims = payload.get("adminConsentUrl"), payload.get("claims")
            if isinstance(consent_url, str) and consent_url:
                return Reply(card=consent_blocked(consent_url))
            return sign_in_reply(self.deps, host, claims if isinstance(claims, str) else "",
                                 reconnect=payload.get("reconnect") is True)
        if item.kind == PRIVATE_KIND:
            reply = reply_from_payload(payload.get("reply"))
            if reply is None:
                raise Undeliverable("the private reply is malformed")
            return reply
        return Reply(card=await self.card_for(item, host))

    async def card_for(self, item: OutboxItem, host: User) -> Json:
        deps = self.deps
        kind = BOOKING_KINDS.get(item.kind)
        if kind is not None:
            event_type_id = item.payload.get("eventTypeId")
            link = await deps.booking.link_in_tenant(host.tenant_id, event_type_id) \
                if isinstance(event_type_id, str) else None
            questions = link.questions if link is not None else ()
            return host_notification(kind, item.payload, host.time_zone, questions)
        if item.kind == "host.reconnect":
            if host.connection_status is ConnectionStatus.CONNECTED:
                raise Obsolete("the host has reconnected")
            return reconnect_required(deps.url(deps.connections.sign_in_path(host)), host_is_viewer=True)
        if item.kind == "host.connected":
            defaults = await deps.links.mailbox_defaults(host)
            return first_run(defaults.time_zone, availability_from_mailbox(defaults))
        if item.kind == "host.consent_granted":  # an admin approved Slotwise from the link made for this host
            if host.connection_status is ConnectionStatus.CONNECTED:
                raise Obsolete("the host has connected meanwhile")
            return connect_prompt(deps.url(deps.connections.sign_in_path(host)), admin_approved=True)
        raise Undeliverable(f"there is no Teams message for '{item.kind}'")

    def wake(self) -> None:
        """Something was just enqueued that someone is waiting for (a private reply): make
        :meth:`run_forever` start its next pass now instead of at the end of its interval."""
        self._wake.set()

    async def _idle(self, interval: float) -> None:
        """Wait ``interval`` seconds, or less when stopped or woken."""
        waits = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waits, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def run_forever(self, interval: float) -> None:
        """Poll every ``interval`` seconds (at once again while full batches keep coming, or when woken)
        until :meth:`stop`; a pass in flight always finishes (no delivery is cut off between send and mark)."""
        self._stopped.clear()
        try:
            while not self._stop.is_set():
                self._wake.clear()  # a wake during the pass below starts the next one at once
                try:
                    leased = await self.run_once()
                except Exception:
                    log.exception("outbox delivery pass failed; will retry")
                    leased = 0
                if leased < self.batch:
                    await self._idle(interval)
        finally:
            self._stopped.set()

    async def stop(self) -> None:
        """Ask :meth:`run_forever` to finish its current pass and return; waits until it has."""
        self._stop.set()
        await self._stopped.wait()
