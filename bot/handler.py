"""``POST /api/messages``: our own aiohttp endpoint in front of botbuilder's CloudAdapter.

Why not ``CloudAdapter.process``: it serializes invoke bodies a second time and answers 500 for every
invoke that returns one (teams-facts §0.1). This handler:

1. accepts only a JSON object that looks like an activity (``type``, ``serviceUrl``,
   ``conversation.id``), nested at most :data:`MAX_DEPTH` deep; anything else (not JSON, thousands of
   ``[``, another media type) is a 4xx problem, never a 500;
2. authenticates with ``ConfigurationBotFrameworkAuthentication`` (the configured app id): with an app
   id every request needs a valid Bot Framework JWT (signature, issuer, audience, expiry and
   ``serviceurl`` claim checked by botframework-connector), and any failure is 401. Without an app id
   (sandbox mode) authentication is off and requests come without a token; one that carries a token
   anyway is refused with 401 (botframework-connector would crash on it, toolchain.md);
3. runs the turn with ``adapter.process_activity`` and returns the invoke response body as is.

``HEAD /api/messages`` answers 200 (the Agents Playground probes the endpoint that way).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ActivityTypes

from bot import private
from bot.context import Turn
from bot.deps import BotDeps
from bot.errors import error_reply
from bot.notifications import AdapterSender, TeamsNotifier
from bot.reply import message_activity
from bot.teams_bot import SlotwiseBot

log = logging.getLogger("slotwise.bot")

MESSAGES_PATH = "/api/messages"
MAX_DEPTH = 64  # an activity with a card in it nests about 20 deep; 64 is plenty, thousands are an attack


class AuthConfig:
    """The configuration object ``ConfigurationBotFrameworkAuthentication`` reads (Bot Framework names)."""

    def __init__(self, app_id: str, app_password: str, app_tenant_id: str, app_type: str) -> None:
        self.APP_ID = app_id
        self.APP_PASSWORD = app_password
        self.APP_TENANTID = app_tenant_id
        self.APP_TYPE = app_type or "MultiTenant"


@dataclass(frozen=True, slots=True)
class BotRuntime:
    app_id: str
    adapter: CloudAdapter
    bot: SlotwiseBot
    notifier: TeamsNotifier  # the Teams channel's Notifier: app.py hands it to the core's delivery use case


BOT_RUNTIME = web.AppKey("slotwise.bot", BotRuntime)


def _no_wake() -> None:
    return None


def create_runtime(
    deps: BotDeps,
    *,
    app_id: str = "",
    app_password: str = "",
    app_tenant_id: str = "",
    app_type: str = "MultiTenant",
    wake: Callable[[], None] = _no_wake,
) -> BotRuntime:
    """``wake`` starts the Teams delivery at once (a private reply was just put in the outbox)."""
    adapter = CloudAdapter(
        ConfigurationBotFrameworkAuthentication(AuthConfig(app_id, app_password, app_tenant_id, app_type))
    )
    bot = SlotwiseBot(deps)

    async def on_turn_error(context: TurnContext, error: Exception) -> None:
        log.error("unhandled error in a %s turn", context.activity.type, exc_info=error)
        if context.activity.type == ActivityTypes.message and not context.responded:
            try:
                turn = Turn(context, deps)
                reply = await private.route(turn, error_reply(error, turn.scope), wake)
                await context.send_activity(message_activity(reply))
            except Exception:
                log.exception("could not tell the user about the error")

    adapter.on_turn_error = on_turn_error
    bot.outbox_ready = wake  # a private reply waiting in the outbox goes out at once
    notifier = TeamsNotifier(deps, AdapterSender(adapter, app_id))
    return BotRuntime(app_id=app_id, adapter=adapter, bot=bot, notifier=notifier)


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (0 for a scalar), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _problem(status: int, title: str, detail: str) -> web.Response:
    return web.json_response(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status=status,
        content_type="application/problem+json",
    )


def _activity_problem(body: Any) -> str | None:
    """Why ``body`` is not an activity we can process; None when it is one."""
    if not isinstance(body, Mapping):
        return "The body must be a JSON object (a Bot Framework activity)."
    if not isinstance(body.get("type"), str) or not body["type"]:
        return "The activity has no 'type'."
    if not isinstance(body.get("serviceUrl"), str) or not body["serviceUrl"].startswith(("http://", "https://")):
        return "The activity has no 'serviceUrl' to answer to."
    conversation = body.get("conversation")
    if not isinstance(conversation, Mapping) or not isinstance(conversation.get("id"), str) or not conversation["id"]:
        return "The activity has no 'conversation.id'."
    return None


async def messages(request: web.Request) -> web.StreamResponse:
    runtime = request.app[BOT_RUNTIME]
    if request.content_type != "application/json":
        return _problem(415, "Unsupported media type", "Send the activity as application/json.")
    try:
        body = json.loads(await request.read())
    except RecursionError:  # thousands of '[': refused like any other body too deep to be an activity
        return _problem(400, "Bad request", f"The JSON nests deeper than {MAX_DEPTH} levels.")
    except ValueError:  # not JSON, not UTF-8, or a number with more digits than Python converts
        return _problem(400, "Bad request", "The body is not valid JSON.")
    if json_depth(body) > MAX_DEPTH:
        return _problem(400, "Bad request", f"The JSON nests deeper than {MAX_DEPTH} levels.")
    problem = _activity_problem(body)
    if problem is not None:
        return _problem(400, "Bad request", problem)
    try:
        activity = Activity().deserialize(body)
    except Exception:
        return _problem(400, "Bad request", "The body is not a Bot Framework activity.")

    header = request.headers.get("Authorization", "")
    if not runtime.app_id and header:
        return _problem(
            401,
            "Unauthorized",
            "Bot authentication is off (sandbox mode, no MicrosoftAppId): send "
            "activities without an Authorization header.",
        )
    try:
        auth = await runtime.adapter.bot_framework_authentication.authenticate_request(activity, header)
    except Exception as exc:  # PermissionError, and whatever a malformed or foreign token makes the library raise
        log.info("refused an activity: %s: %s", type(exc).__name__, exc)
        return _problem(401, "Unauthorized", "The request's Bot Framework token is missing or not valid.")

    response = await runtime.adapter.process_activity(auth, activity, runtime.bot.on_turn)
    if response is None:
        return web.Response(status=200)
    status = int(response.status)
    if response.body is None:
        return web.Response(status=status)
    return web.json_response(response.body, status=status)


async def probe(_request: web.Request) -> web.Response:
    return web.Response(status=200)


def setup_bot(app: web.Application) -> None:
    """Mount the bot endpoint; ``app[BOT_RUNTIME]`` must be set before the first request."""
    app.router.add_post(MESSAGES_PATH, messages)
    app.router.add_route("HEAD", MESSAGES_PATH, probe)
