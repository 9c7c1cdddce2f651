"""Private replies asked for in a group chat or channel: sent to the asker's personal chat instead.

A reply marked ``Reply.private`` (a sign-in, consent or MFA card, a host's bookings...) is for one person.
In their personal chat it is the answer as usual. Anywhere else (``groupChat``, ``channel``; Teams SSO
isn't supported in channels either) :func:`route`:

1. finds the asker's personal chat with Slotwise: the conversation reference stored from their personal
   chat, else a 1:1 conversation created with the Bot Framework connector (``conversations.create`` with
   the asker as the only member and the tenant in ``channelData``, which Teams allows for a user of the
   same tenant who can reach the bot), whose reference is then stored as theirs;
2. hands the reply to the outbox (the core's Teams delivery sends it there with bot.notifications, the same
   way as every other proactive message, with its retries), and wakes that delivery so it goes out at once;
3. answers the conversation with the reply's notice only ("I've sent you a private message to
   connect"): no card, no link, no sign-in state, no booking data. In an ``adaptiveCard/action`` invoke
   that is a message for the person who clicked, and the clicked card stays as it was.

When no personal chat can be found or created, the conversation is told so plainly, with what to type
in a chat with Slotwise; the private reply is not sent anywhere.

Sign-in cards are not stored as drawn: the outbox item (``host.sign_in``) names what to ask for (a sign-in
with claims, a reconnect, the admin-consent page) and the card, with a fresh sign-in link, is drawn when
it is delivered. Other private replies (``host.private``) are delivered as they were drawn.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import ChannelAccount, ConversationParameters, ConversationReference

from bot.context import Turn, UnknownSender, conversation_reference_of, is_personal, stored_reference
from bot.reply import Json, Private, Reply
from scheduling.domain import User

log = logging.getLogger("slotwise.bot")

SIGN_IN_KIND = "host.sign_in"
PRIVATE_KIND = "host.private"
CREATE_CONVERSATION_SECONDS = 10.0


def cannot_reach(again: str) -> str:
    return (
        "I couldn't send you a private message: Teams didn't let me start a chat with you. Message "
        f"Slotwise directly (open a chat with Slotwise) and type **{again}** there."
    )


def reply_payload(reply: Reply) -> Json:
    """The parts of a drawn reply the outbox keeps (JSON)."""
    return {"text": reply.text, "card": reply.card, "oauth": reply.oauth}


def reply_from_payload(data: object) -> Reply | None:
    """The reply :func:`reply_payload` stored; None when it is not one."""
    if not isinstance(data, Mapping):
        return None
    text, card, oauth = data.get("text"), data.get("card"), data.get("oauth")
    if (
        not isinstance(text, str)
        or (card is not None and not isinstance(card, Mapping))
        or (oauth is not None and not isinstance(oauth, Mapping))
        or (card is None and not text)
    ):
        return None
    return Reply(
        card=dict(card) if card is not None else None, text=text, oauth=dict(oauth) if oauth is not None else None
    )


def notice(private: Private, reply: Reply) -> tuple[str, dict[str, Any]]:
    """The kind and payload of the outbox message that delivers ``reply`` (a sign-in card is drawn again
    when delivered, with a fresh link: only what to ask for is kept)."""
    if private.sign_in is not None:
        sign_in = private.sign_in
        return SIGN_IN_KIND, {
            "adminConsentUrl": sign_in.admin_consent_url,
            "claims": sign_in.claims,
            "reconnect": sign_in.reconnect,
        }
    return PRIVATE_KIND, {"reply": reply_payload(reply)}


async def route(turn: Turn, reply: Reply, wake: Callable[[], None] | None = None) -> Reply:
    """What to show in the turn's conversation: ``reply`` itself, or for a private reply outside the asker's
    personal chat, the notice (after handing the reply to the outbox for their personal chat)."""
    private = reply.private
    if private is None or is_personal(turn.activity):
        return reply
    try:
        user = turn.known_actor or await turn.actor()
        if not await personal_chat(turn, user):
            return Reply(text=cannot_reach(private.again))
        kind, payload = notice(private, reply)
        await turn.deps.notices.tell(user, kind, turn_key(turn), payload)
    except UnknownSender as exc:
        return Reply(text=exc.message)
    except Exception:
        log.exception("could not send a private reply")
        return Reply(text=cannot_reach(private.again))
    if wake is not None:
        wake()
    return Reply(text=private.notice)


def turn_key(turn: Turn) -> str:
    """The same for a redelivered activity (one private message), different for every other turn."""
    activity = turn.activity
    if not activity.id:
        return uuid.uuid4().hex
    conversation = activity.conversation.id if activity.conversation is not None else ""
    return hashlib.sha256(f"{conversation}\x00{activity.id}".encode()).hexdigest()[:32]


async def personal_chat(turn: Turn, user: User) -> bool:
    """Whether ``user`` has a personal chat with Slotwise on record, creating (and storing) one if not."""
    if stored_reference(user.conversation_reference) is not None:
        return True
    reference = await create_personal_chat(turn)
    if reference is None:
        return False
    await turn.deps.people.remember_conversation(user, conversation_reference_of(reference, turn.tenant_id))
    return True


async def create_personal_chat(turn: Turn) -> ConversationReference | None:
    """A new 1:1 conversation between the bot and the sender (``conversations.create``); None when Teams
    refuses (the app isn't available to them, another tenant...) or the connector can't be reached."""
    activity = turn.activity
    sender, tenant = activity.from_property, turn.tenant_id
    if sender is None or not sender.id or activity.recipient is None or not activity.service_url or not tenant:
        return None
    parameters = ConversationParameters(
        is_group=False,
        bot=activity.recipient,
        members=[ChannelAccount(id=sender.id)],
        tenant_id=tenant,
        channel_data={"tenant": {"id": tenant}},
    )
    created: list[ConversationReference] = []

    async def remember(context: TurnContext) -> None:
        created.append(TurnContext.get_conversation_reference(context.activity))

    try:
        await asyncio.wait_for(
            turn.context.adapter.create_conversation(
                turn.deps.app_id, remember, parameters, activity.channel_id or "msteams", activity.service_url
            ),
            CREATE_CONVERSATION_SECONDS,
        )
    except Exception as exc:  # refused or unreachable: the caller says so in the conversation
        log.info("could not create a personal chat with %s: %s", sender.id, exc)
        return None
    if not created or created[0].conversation is None or not created[0].conversation.id:
        return None
    reference = created[0]
    reference.activity_id = None
    reference.user = ChannelAccount(id=sender.id, name=sender.name, aad_object_id=sender.aad_object_id)
    reference.conversation.conversation_type = "personal"
    reference.conversation.is_group = False
    return reference
