"""Typed chat commands (``bot.commands.parse``) -> what the bot does and answers. Every message gets an
answer: anything not understood gets the help card with the closest command as a suggestion.

Destructive commands confirm first: "delete demo" shows the link with its Delete button, "cancel
booking 2" shows that booking with its Cancel button (a typo must never delete or cancel).
"""

from __future__ import annotations

from bot import host, picker
from bot.commands import CreateLink, Unknown, parse
from bot.context import Turn
from bot.reply import Reply
from cards import help_card, link_created
from scheduling.links import NewLink


async def run_command(turn: Turn, text: str) -> Reply:
    command = parse(text)
    kind = command.kind
    if isinstance(command, CreateLink):
        return await host.create_link(turn, NewLink(
            duration=command.duration, title=command.title, buffer_before=command.buffer_before,
            buffer_after=command.buffer_after, minimum_notice=command.minimum_notice,
            window_days=command.window_days))
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
    if kind == "cancel_booking":
        return await host.pick_booking_to_cancel(turn, command.target)
    user, link = await host.find_link(turn, command.target)
    if kind == "edit_link":
        return host.edit_reply(link)
    if kind == "preview_link":
        return await picker.picker(turn, link, user, picker.PickerView(tz=await turn.viewer_zone(user)))
    if kind == "delete_link":
        return Reply(text="Delete this link? Select **Delete** on it and confirm.",
                     card=link_created(link, host.link_url(turn, user, link), user.display_name,
                                       heading="Delete this link?"))
    return Reply(card=help_card())
