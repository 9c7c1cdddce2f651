"""Typed chat commands (``bot.commands.parse``) -> what the bot does and answers. Every message gets an
answer: anything not understood gets the help card with the closest command as a suggestion, a link whose
length can't be read for sure gets a question (``Clarify``), and a request the core refuses gets its rule
(``InvalidRule`` from the parser, mapped by bot.errors).

Destructive commands confirm first: "delete demo" shows the link with its Delete button, "cancel
booking 2" shows that booking with its Cancel button (a typo must never delete or cancel).

:data:`PRIVATE_COMMANDS` answer with what only the asker may see (their sign-in link, their calendar
settings, their bookings with invitee names and emails): typed in a group chat or channel, the answer,
errors included, goes to their personal chat (bot.private) and the conversation hears that it was sent
privately. The Teams manifest offers these commands in the personal scope only.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import replace
from typing import Final

from bot import api_keys, host, picker, team
from bot.commands import Clarify, CommandKind, CreateLink, CreateTeamLink, Unknown, parse
from bot.context import Turn
from bot.errors import error_reply
from bot.reply import Private, Reply
from cards import help_card, link_created
from scheduling.errors import SlotwiseError
from scheduling.links import NewLink

PRIVATE_COMMANDS: Final[frozenset[CommandKind]] = frozenset(
    {"connect", "upcoming", "cancel_booking", "api_key", "api_keys"}
)


async def _private(turn: Turn, work: Awaitable[Reply], private: Private) -> Reply:
    """``work``'s reply, or its error card, for the asker only."""
    try:
        reply = await work
    except SlotwiseError as exc:
        reply = error_reply(exc, turn.scope)
    return reply if reply.private is not None else replace(reply, private=private)


async def run_command(turn: Turn, text: str) -> Reply:
    command = parse(text)
    kind = command.kind
    if isinstance(command, CreateTeamLink):  # a team link, in a channel or group chat (bot.team)
        return await team.create_team_link(turn, command)
    if kind == "team_links":
        return await team.list_team_links(turn)
    if isinstance(command, CreateLink):
        return await host.create_link(
            turn,
            NewLink(
                duration=command.duration,
                title=command.title,
                buffer_before=command.buffer_before,
                buffer_after=command.buffer_after,
                minimum_notice=command.minimum_notice,
                window_days=command.window_days,
            ),
        )
    if isinstance(command, Clarify):
        return Reply(text=command.question)
    if isinstance(command, Unknown):
        suggestion = command.suggestion if command.suggestion != "help" else None
        return Reply(text="Sorry, I didn't understand that. Here's what I can do:", card=help_card(suggestion))
    if kind == "help":
        return Reply(card=help_card())
    if kind == "connect":
        return await host.connect(turn)
    if kind == "disconnect":
        return await host.disconnect(turn)
    if kind == "list_links":
        return await host.list_links(turn)
    if kind == "upcoming":
        return await host.upcoming(turn)
    if kind == "api_key":
        return await _private(turn, api_keys.create_api_key(turn), Private(notice=api_keys.KEY_NOTICE, again="api key"))
    if kind == "api_keys":
        return await _private(
            turn, api_keys.list_api_keys(turn), Private(notice=api_keys.KEYS_NOTICE, again="api keys")
        )
    if kind == "cancel_booking":
        again = f"cancel booking {command.target[:40]}"
        return await _private(
            turn, host.pick_booking_to_cancel(turn, command.target), Private(notice=host.CANCEL_NOTICE, again=again)
        )
    user, link = await host.find_link(turn, command.target)
    if kind == "edit_link":
        return host.edit_reply(link)
    if kind == "preview_link":
        return await picker.picker(turn, link, user, picker.PickerView(tz=await turn.viewer_zone(user)))
    if kind == "delete_link":
        return Reply(
            text="Delete this link? Select **Delete** on it and confirm.",
            card=link_created(link, host.link_url(turn, user, link), user.display_name, heading="Delete this link?"),
        )
    return Reply(card=help_card())
