"""The Teams activity handler: what happens for each kind of activity.

* ``message``: a typed command (the @mention removed in channels and group chats), or, when it carries
  a ``value``, an Action.Submit from a card (routed like Action.Execute). Every message gets an answer.
* ``invoke``:
  ``adaptiveCard/action`` -> card verbs (bot.routing), answered with the card that replaces the clicked one;
  ``composeExtension/queryLink`` (and the anonymous variant) -> link unfurling;
  ``composeExtension/query`` -> the "searchLinks" search;
  ``signin/tokenExchange`` / ``signin/verifyState`` -> acknowledged (Teams SSO is handled elsewhere);
  anything else -> 501, as the protocol expects for an invoke a bot does not implement.
* ``installationUpdate`` (add) and ``conversationUpdate`` adding the bot: the conversation reference is
  stored (personal chats: that is where notifications go) and the bot introduces itself;
  ``installationUpdate`` (remove) in a personal chat forgets it.
* other activity types are acknowledged and ignored.

Errors never escape a turn: each is turned into an error card by bot.errors.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Awaitable, Mapping
from http import HTTPStatus

from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.core.teams import TeamsActivityHandler

from bot import chat, routing, unfurl
from bot.context import Turn, UnknownSender, conversation_reference, is_personal
from bot.deps import BotDeps
from bot.errors import error_reply
from bot.reply import Json, Reply, card_action_body, message_activity
from cards import help_card

log = logging.getLogger("slotwise.bot")

WELCOME = ("Hi, I'm Slotwise. I give you scheduling links people can book from Teams or the web, with the "
           "meeting written straight into your Outlook calendar. Try **make a 30-min link**.")
ACKNOWLEDGED_INVOKES = frozenset({"signin/tokenExchange", "signin/verifyState"})
UNFURL_INVOKES = frozenset({"composeExtension/queryLink", "composeExtension/anonymousQueryLink"})


class SlotwiseBot(TeamsActivityHandler):  # type: ignore[misc]  # botbuilder ships no type hints
    def __init__(self, deps: BotDeps) -> None:
        super().__init__()
        self.deps = deps

    # ------------------------------------------------------------------ messages

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        turn = Turn(turn_context, self.deps)
        await self.remember_conversation(turn)
        reply = await answer(turn, self._message(turn))
        await turn_context.send_activity(message_activity(reply))

    async def _message(self, turn: Turn) -> Reply:
        activity = turn.activity
        if isinstance(activity.value, Mapping) and activity.value:
            return await routing.run_action(turn, routing.submit_action_of(activity.value))
        if activity.recipient is not None and activity.text:
            # A malformed mention entity is no reason to fail: bot.commands drops <at>...</at> anyway.
            with contextlib.suppress(KeyError, TypeError, re.error):
                TurnContext.remove_recipient_mention(activity)
        return await chat.run_command(turn, (activity.text or "").strip())

    # ------------------------------------------------------------------ invokes

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        turn = Turn(turn_context, self.deps)
        name = turn_context.activity.name or ""
        if name == "adaptiveCard/action":
            if is_personal(turn.activity):
                await self.remember_conversation(turn)
            reply = await answer(turn, self._card_action(turn))
            return InvokeResponse(status=int(HTTPStatus.OK), body=card_action_body(reply))
        if name in UNFURL_INVOKES:
            return await extension_answer(unfurl.query_link(turn, turn_context.activity.value), unfurl.empty_result())
        if name == "composeExtension/query":
            return await extension_answer(unfurl.search_links(turn, turn_context.activity.value),
                                          unfurl.message_result("Your links can't be listed right now. Please try "
                                                                "again in a moment."))
        if name in ACKNOWLEDGED_INVOKES:
            return InvokeResponse(status=int(HTTPStatus.OK))
        log.info("ignoring invoke %r", name)
        return InvokeResponse(status=int(HTTPStatus.NOT_IMPLEMENTED))

    async def _card_action(self, turn: Turn) -> Reply:
        return await routing.run_action(turn, routing.card_action_of(turn.activity.value))

    # ------------------------------------------------------------------ installs

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        await self.remember_conversation(Turn(turn_context, self.deps))

    async def on_installation_update_remove(self, turn_context: TurnContext) -> None:
        """Uninstalled from the personal scope: forget where to send notifications."""
        turn = Turn(turn_context, self.deps)
        if not is_personal(turn.activity):
            return
        sender = turn.activity.from_property
        aad = sender.aad_object_id if sender is not None else None
        user = await self.deps.users.get_by_aad(turn.tenant_id, aad) if turn.tenant_id and aad else None
        if user is not None and user.conversation_reference:
            await self.deps.users.set_conversation_reference(user.id, {})

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        bot_id = activity.recipient.id if activity.recipient is not None else None
        if not any(member.id == bot_id for member in activity.members_added or []):
            return  # people joining or leaving: nothing to do (and no roster calls)
        await self.remember_conversation(Turn(turn_context, self.deps))
        await turn_context.send_activity(message_activity(Reply(text=WELCOME, card=help_card())))

    # ------------------------------------------------------------------ conversation references

    async def remember_conversation(self, turn: Turn) -> None:
        """Store where this user's personal chat is (with the tenant), when it changed."""
        if not is_personal(turn.activity):
            return
        try:
            user = await turn.actor()
            reference = conversation_reference(turn.activity, turn.tenant_id)
            if user.conversation_reference != reference:
                await self.deps.users.set_conversation_reference(user.id, reference)
        except UnknownSender:
            return
        except Exception:
            log.exception("could not store the conversation reference")


async def answer(turn: Turn, work: Awaitable[Reply]) -> Reply:
    """The reply of ``work``, or the card for whatever went wrong in it."""
    try:
        return await work
    except Exception as exc:
        return error_reply(exc, turn.scope)


async def extension_answer(work: Awaitable[Json], fallback: Json) -> InvokeResponse:
    """A messaging-extension answer; when it fails, ``fallback`` (Teams then shows the plain link)."""
    try:
        body = await work
    except Exception:
        log.exception("messaging extension request failed")
        body = fallback
    return InvokeResponse(status=int(HTTPStatus.OK), body=body)
