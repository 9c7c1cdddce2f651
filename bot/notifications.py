"""Proactive messages in Teams: the Teams chat channel's :class:`~scheduling.ports.Notifier`.

The core's delivery use case (``scheduling.delivery``) leases the outbox items of the ``teams`` channel,
hands each to :class:`TeamsNotifier` and records the outcome (retries, dead letters, holds); this module only
draws the message for an item and sends it into the host's personal chat (the reference stored at install
or on their messages) with ``continue_conversation``. Kinds:

* ``booking.created`` / ``booking.rescheduled`` / ``booking.cancelled`` (written by the booking use
  cases in the same transaction as the change): the host_notification card;
* ``booking.outlook_move_refused`` (the host moved a booked meeting in Outlook onto another booking, and
  Slotwise kept the old time; written by calendar sync, once per such move): the outlook_move_refused card,
  unless the booking was changed or cancelled meanwhile (then it is obsolete);
* ``host.reconnect`` (the calendar connection broke; at most one a day): the reconnect card with a fresh
  sign-in link, unless the host has reconnected meanwhile (then it is obsolete);
* ``host.connected`` (the web sign-in finished): the first-run card with the detected zone and hours;
* ``host.consent_granted`` (an admin approved Slotwise from the link made for this host): the connect prompt;
* ``host.sign_in`` (a sign-in, consent or MFA card asked for in a group chat or channel, bot.private):
  the card drawn now, with a fresh sign-in link;
* ``host.private`` (another private reply asked for in a group chat or channel, bot.private): the reply;
* ``team.announcement`` (a team link's booking change): a message in the thread of the link's card in its
  channel (bot.team); ``team.unreadable``: the link's creator is told which members were left out today;
* ``booking.reminder`` (the reminder job, scheduling.reminders): the reminder card, unless the booking was
  cancelled or moved meanwhile or the meeting is over (then it is obsolete).

An item whose host no longer exists, or of a kind with no Teams message, is undeliverable; a host with no
chat with Slotwise yet is not reachable (the item is held until they have one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from botbuilder.core import BotAdapter, TurnContext
from botbuilder.schema import ConversationReference

from bot.context import stored_reference
from bot.deps import BotDeps
from bot.host import sign_in_reply
from bot.private import PRIVATE_KIND, SIGN_IN_KIND, reply_from_payload
from bot.reply import Json, Reply, message_activity
from bot.team import deliver_announcement
from cards import (
    NotificationKind,
    connect_prompt,
    consent_blocked,
    first_run,
    host_notification,
    outlook_move_refused,
    reconnect_required,
    reminder_card,
    unreadable_card,
    webhook_disabled,
)
from scheduling.booking import OUTLOOK_MOVE_REFUSED
from scheduling.domain import Booking, BookingStatus, ConnectionStatus, OutboxItem, User
from scheduling.errors import HostUnavailable, NotFound
from scheduling.links import availability_from_mailbox
from scheduling.ports import Delivery, NotReachable, Obsolete, Undeliverable
from scheduling.reminders import REMINDER_KIND, reminder_obsolete
from scheduling.teams import ANNOUNCEMENT, UNREADABLE
from scheduling.webhooks import WEBHOOK_DISABLED

BOOKING_KINDS: Mapping[str, NotificationKind] = {
    "booking.created": "booking.created",
    "booking.rescheduled": "booking.rescheduled",
    "booking.cancelled": "booking.cancelled",
}


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


class TeamsNotifier:
    """:class:`scheduling.ports.Notifier` of the ``teams`` channel: draws the item's message and sends it to the
    host's personal chat. Raises Undeliverable (host gone, no message for the kind), Obsolete (nothing to say any
    more) or NotReachable (no chat with Slotwise yet); a failed send raises what the connector raised."""

    def __init__(self, deps: BotDeps, sender: ProactiveSender) -> None:
        self.deps = deps
        self.sender = sender

    async def deliver(self, delivery: Delivery) -> None:
        item = delivery.item
        if item.kind == ANNOUNCEMENT:  # a team link's booking change, in its channel thread (bot.team)
            await deliver_announcement(self.deps, self.sender, item)
            return
        host_id = item.payload.get("hostId")
        host = await self.deps.people.member(item.tenant_id, host_id) if isinstance(host_id, str) else None
        if host is None:
            raise Undeliverable("the host no longer exists")
        stored = stored_reference(host.conversation_reference)
        if stored is None:
            raise NotReachable(host.id, "the host has no chat with Slotwise yet (not installed)")
        message = await self.message_for(item, host)
        reference, tenant_id = stored
        await self.sender.send(reference, tenant_id or item.tenant_id, message)

    async def message_for(self, item: OutboxItem, host: User) -> Reply:
        """The message for ``item``: a private reply (bot.private), else the card of :meth:`card_for`."""
        payload = item.payload
        if item.kind == SIGN_IN_KIND:
            consent_url, claims = payload.get("adminConsentUrl"), payload.get("claims")
            if isinstance(consent_url, str) and consent_url:
                return Reply(card=consent_blocked(consent_url))
            return sign_in_reply(
                self.deps, host, claims if isinstance(claims, str) else "", reconnect=payload.get("reconnect") is True
            )
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
            link = (
                await deps.booking.link_in_tenant(host.tenant_id, event_type_id)
                if isinstance(event_type_id, str)
                else None
            )
            questions = link.questions if link is not None else ()
            return host_notification(kind, item.payload, host.time_zone, questions)
        if item.kind == OUTLOOK_MOVE_REFUSED:
            await self.still_as_told(item, host)
            return outlook_move_refused(item.payload, host.time_zone)
        if item.kind == "host.reconnect":
            if host.connection_status is ConnectionStatus.CONNECTED:
                raise Obsolete("the host has reconnected")
            return reconnect_required(deps.url(deps.connections.sign_in_path(host)), host_is_viewer=True)
        if item.kind == "host.connected":
            defaults = await deps.links.mailbox_defaults(host)
            try:
                calendars = await deps.people.calendar_options(host)  # the profile card lists them
            except HostUnavailable:
                calendars = None
            return first_run(
                defaults.time_zone,
                availability_from_mailbox(defaults),
                calendars=calendars,
                calendars_unreadable=calendars is None,
            )
        if item.kind == UNREADABLE:  # a team link's creator: members left out today (scheduling.teams)
            return unreadable_card(item.payload)
        if item.kind == "host.consent_granted":  # an admin approved Slotwise from the link made for this host
            if host.connection_status is ConnectionStatus.CONNECTED:
                raise Obsolete("the host has connected meanwhile")
            return connect_prompt(deps.url(deps.connections.sign_in_path(host)), admin_approved=True)
        if item.kind == REMINDER_KIND:
            return await self.reminder_for(item, host)
        if item.kind == WEBHOOK_DISABLED:  # one of the host's webhook subscriptions was switched off
            return webhook_disabled(item.payload, deps.url("/api/v1/openapi.json"))
        raise Undeliverable(f"there is no Teams message for '{item.kind}'")

    async def still_as_told(self, item: OutboxItem, host: User) -> None:
        """Obsolete when the booking an Outlook-move notice is about was cancelled or changed since it was
        written (the notice's ``version``): what it says would no longer hold."""
        booking_id = item.payload.get("bookingId")
        try:
            booking = await self.deps.booking.for_host(host.id, booking_id) if isinstance(booking_id, str) else None
        except NotFound:
            booking = None
        if booking is None or booking.status is not BookingStatus.CONFIRMED:
            raise Obsolete("the booking is gone or cancelled")
        if booking.version != item.payload.get("version"):
            raise Obsolete("the booking was changed since")

    async def reminder_for(self, item: OutboxItem, host: User) -> Json:
        """The reminder card, drawn from the booking as it stands now: Obsolete when it was cancelled or moved
        after the reminder was enqueued, or the meeting is over (scheduling.reminders.reminder_obsolete)."""
        deps = self.deps
        booking_id = item.payload.get("bookingId")
        booking: Booking | None = None
        if isinstance(booking_id, str):
            try:
                booking = await deps.booking.for_host(host.id, booking_id)
            except NotFound:
                booking = None
        now = deps.clock.now()
        reason = reminder_obsolete(booking, item.payload, now)
        if reason is not None:
            raise Obsolete(reason)
        assert booking is not None
        link = await deps.booking.link_in_tenant(host.tenant_id, booking.event_type_id)
        return reminder_card(item.payload, host.time_zone, now, link.questions if link is not None else ())
