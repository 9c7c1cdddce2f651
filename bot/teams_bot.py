"""The Teams activity handler: what happens for each kind of activity.

* ``message``: a typed command (the @mention removed in channels and group chats), or, when it carries
  a ``value``, an Action.Submit from a card (routed like Action.Execute). Every message gets an answer.
* ``invoke``:
  ``adaptiveCard/action`` -> card verbs (bot.routing), answered with the card that replaces the clicked one;
  ``composeExtension/queryLink`` (and the anonymous variant) -> link unfurling;
  ``composeExtension/query`` -> the "searchLinks" search;
  ``signin/tokenExchange`` -> Teams single sign-on (:class:`SsoExchanges`): 200 once connected, else 412
  with a TokenExchangeInvokeResponse so Teams falls back to its sign-in card (teams-facts §1.7), plus the
  admin-consent card (consent) or a sign-in link with the claims (MFA) in chat; 400 when the value is not
  a token exchange request (bot.invokes);
  ``signin/verifyState`` -> acknowledged (no Bot Framework OAuth connection is used);
  anything else -> 501, as the protocol expects for an invoke a bot does not implement.
* ``installationUpdate`` (add) and ``conversationUpdate`` adding the bot: the conversation reference is
  stored (personal chats: that is where notifications go) and the bot introduces itself;
  ``installationUpdate`` (remove) in a personal chat forgets it.
* other activity types are acknowledged and ignored.

Errors never escape a turn: each is turned into an error card by bot.errors. A private reply (a sign-in,
consent or MFA card, someone's bookings) asked for in a group chat or channel goes to the asker's personal
chat, and the conversation only gets a notice (bot.private).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from http import HTTPStatus

from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import TokenExchangeInvokeResponse

from bot import chat, host, private, routing, unfurl
from bot.context import Turn, UnknownSender, conversation_reference, is_personal, tenant_of
from bot.deps import BotDeps
from bot.errors import error_reply
from bot.invokes import BadInvoke, token_exchange_of
from bot.reply import Json, Reply, card_action_body, message_activity
from cards import help_card
from scheduling.errors import SignInRequired, SlotwiseError
from scheduling.ports import Clock

log = logging.getLogger("slotwise.bot")

WELCOME = (
    "Hi, I'm Slotwise. I give you scheduling links people can book from Teams or the web, with the "
    "meeting written straight into your Outlook calendar. Try **make a 30-min link**."
)
ACKNOWLEDGED_INVOKES = frozenset({"signin/verifyState"})
SSO_INVOKE = "signin/tokenExchange"
SSO_FAILED = "Single sign-on could not connect your calendar. Proceed with the regular sign-in."
SSO_DEDUPE_WINDOW = timedelta(minutes=5)
UNFURL_INVOKES = frozenset({"composeExtension/queryLink", "composeExtension/anonymousQueryLink"})


class SlotwiseBot(TeamsActivityHandler):  # type: ignore[misc]  # botbuilder ships no type hints
    def __init__(self, deps: BotDeps) -> None:
        super().__init__()
        self.deps = deps
        self.sso = SsoExchanges(deps.clock)
        self.outbox_ready: Callable[[], None] | None = None  # wakes the outbox worker (bot.handler sets it)

    # ------------------------------------------------------------------ messages

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        turn = Turn(turn_context, self.deps)
        await self.remember_conversation(turn)
        reply = await self.respond(turn, self._message(turn))
        await turn_context.send_activity(message_activity(reply))

    async def respond(self, turn: Turn, work: Awaitable[Reply]) -> Reply:
        """The answer to show in the turn's conversation (a private one goes to the asker's personal chat)."""
        return await private.route(turn, await answer(turn, work), self.outbox_ready)

    async def _message(self, turn: Turn) -> Reply:
        activity = turn.activity
        if isinstance(activity.value, Mapping) and activity.value:
            return await routing.run_action(turn, routing.submit_action_of(activity.value, turn.now()))
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
            reply = await self.respond(turn, self._card_action(turn))
            return InvokeResponse(status=int(HTTPStatus.OK), body=card_action_body(reply))
        if name in UNFURL_INVOKES:
            return await extension_answer(unfurl.query_link(turn, turn_context.activity.value), unfurl.empty_result())
        if name == "composeExtension/query":
            return await extension_answer(
                unfurl.search_links(turn, turn_context.activity.value),
                unfurl.message_result("Your links can't be listed right now. Please try again in a moment."),
            )
        if name == SSO_INVOKE:
            if is_personal(turn.activity):
                await self.remember_conversation(turn)
            return await self.token_exchange(turn)
        if name in ACKNOWLEDGED_INVOKES:
            return InvokeResponse(status=int(HTTPStatus.OK))
        log.info("ignoring invoke %r", name)
        return InvokeResponse(status=int(HTTPStatus.NOT_IMPLEMENTED))

    async def token_exchange(self, turn: Turn) -> InvokeResponse:
        """``signin/tokenExchange``: connect the sender's calendar with their Teams SSO token (the value is a
        :class:`~bot.invokes.TokenExchange`; a malformed one, or one without a sender, is answered 400)."""
        value = turn.activity.value
        sender = turn.activity.from_property
        aad = sender.aad_object_id if sender is not None else None
        tenant = tenant_of(turn.activity)
        try:
            request = token_exchange_of(value)
        except BadInvoke as exc:
            exchange_id, connection = _echo(value, "id"), _echo(value, "connectionName")
            return exchange_response(HTTPStatus.BAD_REQUEST, exchange_id, connection, exc.message)
        if not isinstance(tenant, str) or not tenant or not isinstance(aad, str) or not aad:
            return exchange_response(
                HTTPStatus.BAD_REQUEST,
                request.id,
                request.connection_name,
                "The token exchange request doesn't say who sent it.",
            )

        async def exchange() -> InvokeResponse:
            return await self._exchange(turn, request.token, request.id, request.connection_name)

        return await self.sso.once(f"{tenant}/{aad}/{request.id}", exchange)

    async def _exchange(self, turn: Turn, token: str, exchange_id: str, connection: str | None) -> InvokeResponse:
        try:
            await host.connect_with_sso(turn, token, exchange_id)
        except SignInRequired as exc:
            log.info("SSO token exchange needs a sign-in (%s): %s", exc.kind, exc.message)
            await self._tell(turn, host.sso_failure_reply(turn, exc))
            return exchange_response(HTTPStatus.PRECONDITION_FAILED, exchange_id, connection, exc.message)
        except SlotwiseError as exc:  # Graph or the token service failed, SSO not configured, unknown sender
            log.info("SSO token exchange failed: %s", exc.message)
            return exchange_response(HTTPStatus.PRECONDITION_FAILED, exchange_id, connection, exc.message)
        except Exception:
            log.exception("SSO token exchange failed")
            return exchange_response(HTTPStatus.PRECONDITION_FAILED, exchange_id, connection, SSO_FAILED)
        return exchange_response(HTTPStatus.OK, exchange_id, connection)

    async def _tell(self, turn: Turn, reply: Awaitable[Reply | None]) -> None:
        """Send a message in the turn's conversation (a private one to the sender's personal chat); a failure
        to do so never changes the invoke answer."""
        try:
            message = await reply
            if message is not None:
                message = await private.route(turn, message, self.outbox_ready)
                await turn.context.send_activity(message_activity(message))
        except Exception:
            log.exception("could not send the sign-in help after a failed SSO exchange")

    async def _card_action(self, turn: Turn) -> Reply:
        return await routing.run_action(turn, routing.card_action_of(turn.activity.value, turn.now()))

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
        await self.deps.people.forget_conversation(turn.tenant_id, aad or "")

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
            await self.deps.people.remember_conversation(user, conversation_reference(turn.activity, turn.tenant_id))
        except UnknownSender:
            return
        except Exception:
            log.exception("could not store the conversation reference")


def _echo(value: object, key: str) -> str | None:
    """A text property of a malformed exchange request, to echo in the answer (Teams matches it by id)."""
    found = value.get(key) if isinstance(value, Mapping) else None
    return found[:500] if isinstance(found, str) else None


def exchange_response(
    status: HTTPStatus, exchange_id: str | None, connection: str | None, failure: str | None = None
) -> InvokeResponse:
    """A ``signin/tokenExchange`` answer: a TokenExchangeInvokeResponse (failureDetail when it failed)."""
    body = TokenExchangeInvokeResponse(
        id=exchange_id, connection_name=connection, failure_detail=failure[:500] if failure else None
    )
    return InvokeResponse(status=int(status), body=body.serialize())


@dataclass
class _Exchange:
    started: datetime
    outcome: asyncio.Future[InvokeResponse]


class SsoExchanges:
    """Teams sends one ``signin/tokenExchange`` per signed-in client, all with the same ``value.id``
    (teams-facts §1.7). The first one is exchanged; copies arriving while it runs get its answer, and
    copies of a successful one within ``window`` are answered 200 at once, without calling Microsoft
    again. A failed exchange is forgotten once answered, so a retry (after consent, say) runs afresh.
    In-process only: across replicas the outbox's dedupe key still makes one "connected" message."""

    def __init__(self, clock: Clock, window: timedelta = SSO_DEDUPE_WINDOW, limit: int = 10_000) -> None:
        self.clock = clock
        self.window = window
        self.limit = limit
        self._recent: dict[str, _Exchange] = {}

    def _prune(self, now: datetime) -> None:
        for key, entry in list(self._recent.items()):
            if entry.outcome.done() and (now - entry.started > self.window or len(self._recent) > self.limit):
                del self._recent[key]

    async def once(self, key: str, exchange: Callable[[], Awaitable[InvokeResponse]]) -> InvokeResponse:
        now = self.clock.now()
        self._prune(now)
        while (entry := self._recent.get(key)) is not None:
            try:
                return await asyncio.shield(entry.outcome)
            except asyncio.CancelledError:
                if not entry.outcome.cancelled():
                    raise  # this turn itself was cancelled
                # the first copy was cancelled mid-way: it is gone from _recent, so exchange this one
        outcome: asyncio.Future[InvokeResponse] = asyncio.get_running_loop().create_future()
        self._recent[key] = _Exchange(now, outcome)
        try:
            response = await exchange()
        except BaseException:
            del self._recent[key]
            outcome.cancel()
            raise
        if response.status != int(HTTPStatus.OK):
            del self._recent[key]
        outcome.set_result(response)
        return response


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
