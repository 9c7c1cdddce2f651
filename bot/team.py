"""Team links in a channel or group chat: the Teams side of ``scheduling.teams``.

* "@Slotwise make a 30-min round-robin link" (also "team link", "round robin 45 minutes for sales demos",
  "collective 1h link with everyone") in a channel or group chat: the team of that channel (``channelData.team``)
  or group chat (its conversation) is found or made, the link is created with the sender in its rotation, and
  the **team link card** is posted in the conversation (its message id and the thread's conversation reference
  are kept, so announcements reply in its thread and the card can be updated in place). In a personal chat the
  bot says where team links are made.
* The card's buttons (``team.*`` verbs): **Join** / **Leave** (the clicker; someone whose Outlook is not
  connected gets the connect card in their personal chat, ``bot.private``, and shows as "waiting to connect"),
  **Settings** (the settings card, for the link's creator and the team's owners only), **Preview** (the slot
  picker of the team link). After a change the card as posted is updated in place (which makes every client
  refresh it) and the clicker gets their own view; the card's ``refresh`` gives every viewer theirs.
* Owners: the sender's ``userRole`` in the Teams roster (``"owner"``); when it can't be read, None, and the core
  then lets the creator alone change the link.
* "team links" in a channel or group chat lists that team's links.
* Delivery of the team kinds of the outbox: the announcement in the card's thread (``team.announcement``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import Activity, ConversationReference

from bot import host, picker, private
from bot.commands import CreateTeamLink
from bot.context import Turn, conversation_reference, is_personal, stored_reference
from bot.deps import BotDeps
from bot.reply import Reply, message_activity
from cards import (
    announcement_text,
    parse_team_settings,
    team_booking_url,
    team_link_card,
    team_links_list,
    team_settings_card,
)
from scheduling.domain import ConnectionStatus, LinkKind, OutboxItem, User
from scheduling.errors import Conflict, NotFound
from scheduling.links import NewLink
from scheduling.ports import Undeliverable
from scheduling.teams import ANNOUNCEMENT, TeamLinkService, TeamLinkView

log = logging.getLogger("slotwise.bot")

ROSTER_SECONDS = 5.0
TEAM_DETAILS_SECONDS = 5.0
PERSONAL_ONLY = (
    "Team links belong to a team: say **@Slotwise make a 30-min round-robin link** in a channel or group chat "
    "with the people who take the bookings. Here, **make a 30-min link** makes your own link."
)
JOIN_HINT = {
    LinkKind.ROUND_ROBIN: "Everyone who takes these bookings: select **Join** on the card.",
    LinkKind.COLLECTIVE: "Everyone who should be in these meetings: select **Join** on the card.",
}
STALE = (
    "This team link was changed somewhere else after you opened its settings, so nothing was saved. Your entries "
    "are kept below: select Save again to apply them to the current version."
)


def service(turn: Turn) -> TeamLinkService:
    teams = turn.deps.teams
    if teams is None:
        raise NotFound("Team links aren't available here.")
    return teams


def link_url(deps: BotDeps, view: TeamLinkView) -> str:
    return team_booking_url(deps.base_url, view.team.slug, view.link.slug)


def _conversation_id(activity: Activity) -> str:
    conversation = activity.conversation
    return conversation.id if conversation is not None and conversation.id else ""


def team_of_conversation(activity: Activity) -> tuple[str, str] | None:
    """(external id, name) of the team a channel or group chat message belongs to: the Teams team of a channel
    (``channelData.team``), the group chat itself (its conversation id, without a thread's ``;messageid=``)."""
    if is_personal(activity):
        return None
    data = activity.channel_data if isinstance(activity.channel_data, Mapping) else {}
    team = data.get("team")
    if isinstance(team, Mapping) and isinstance(team.get("id"), str) and team["id"]:
        name = team.get("name")
        return str(team["id"]), name if isinstance(name, str) else ""
    conversation = activity.conversation
    if conversation is None or not conversation.id:
        return None
    name = getattr(conversation, "name", None)
    return conversation.id.split(";", 1)[0], name if isinstance(name, str) and name else "Group chat"


async def _team_name(turn: Turn, team_id: str, known: str) -> str:
    """The Teams team's name: from the activity, else its details from the connector (blocking client: in a
    thread, bounded); "Team" when neither says."""
    if known:
        return known
    data = turn.activity.channel_data if isinstance(turn.activity.channel_data, Mapping) else {}
    if not isinstance(data.get("team"), Mapping):
        return "Group chat"
    try:
        connector = await TeamsInfo.get_teams_connector_client(turn.context)
        details = await asyncio.wait_for(
            asyncio.to_thread(connector.teams.get_team_details, team_id), TEAM_DETAILS_SECONDS
        )
    except Exception as exc:  # the name is a nicety
        log.info("could not read the details of team %s: %s", team_id, exc)
        return "Team"
    name = getattr(details, "name", None)
    return name if isinstance(name, str) and name.strip() else "Team"


async def roster_owner(turn: Turn) -> bool | None:
    """Whether the sender is an owner of the team, from the Teams roster (``userRole``); None when unreadable."""
    sender = turn.activity.from_property
    if sender is None or not sender.id:
        return None
    try:
        member = await asyncio.wait_for(TeamsInfo.get_member(turn.context, sender.id), ROSTER_SECONDS)
    except Exception as exc:
        log.info("could not read the roster role of %s: %s", sender.id, exc)
        return None
    role = getattr(member, "user_role", None)
    return role.lower() == "owner" if isinstance(role, str) and role else None


async def _owner_unless_creator(turn: Turn, view: TeamLinkView, user: User) -> bool | None:
    """The roster is read only when it matters: the creator needs no owner role."""
    return None if view.settings.created_by == user.id else await roster_owner(turn)


def _card(turn: Turn, view: TeamLinkView, viewer: User | None, **kw: Any) -> dict[str, Any]:
    return team_link_card(view, link_url(turn.deps, view), viewer_id=viewer.id if viewer else None, **kw)


async def _update_posted(turn: Turn, view: TeamLinkView) -> None:
    """Replace the card as posted in the channel (every client then refreshes its own view); only from a turn
    in the card's own conversation."""
    activity_id = view.settings.card_activity_id
    stored = stored_reference(view.settings.thread)
    if not activity_id or stored is None or stored[0].conversation is None:
        return
    if stored[0].conversation.id != _conversation_id(turn.activity):
        return
    update = message_activity(Reply(card=_card(turn, view, None)))
    update.id = activity_id
    try:
        await turn.context.update_activity(update)
    except Exception as exc:  # the refresh of each viewer still shows the change
        log.info("could not update the team link card %s: %s", activity_id, exc)


# ------------------------------------------------------------------ chat commands


async def create_team_link(turn: Turn, command: CreateTeamLink) -> Reply:
    found = team_of_conversation(turn.activity)
    if found is None:
        return Reply(text=PERSONAL_ONLY)
    external_id, known_name = found
    teams = service(turn)
    user = await turn.actor()
    reference = conversation_reference(turn.activity, turn.tenant_id)
    team = await teams.team_for(turn.tenant_id, external_id, await _team_name(turn, external_id, known_name), reference)
    request = NewLink(
        duration=command.duration,
        title=command.title,
        buffer_before=command.buffer_before,
        buffer_after=command.buffer_after,
        minimum_notice=command.minimum_notice,
        window_days=command.window_days,
    )
    kind = LinkKind.COLLECTIVE if command.collective else LinkKind.ROUND_ROBIN
    view = await teams.create_link(user, team, request, kind)
    await _reachable(turn, user)
    posted = await turn.context.send_activity(
        message_activity(Reply(card=_card(turn, view, None, heading=f"{_kind_word(kind)} link ready")))
    )
    if posted is not None and posted.id:
        await teams.remember_card(view.link.id, reference, posted.id)
    creator = view.member(user.id)
    if creator is not None and not creator.connected:
        notice = await private.route(turn, host.connect_reply(turn, creator.user))
        return Reply(text=f"{JOIN_HINT[kind]} {notice.text}")
    return Reply(text=JOIN_HINT[kind])


def _kind_word(kind: LinkKind) -> str:
    return "Collective" if kind is LinkKind.COLLECTIVE else "Round-robin"


async def list_team_links(turn: Turn) -> Reply:
    found = team_of_conversation(turn.activity)
    if found is None:
        return Reply(text=PERSONAL_ONLY)
    team, links = await service(turn).links_of(turn.tenant_id, found[0])
    urls = {link.id: team_booking_url(turn.deps.base_url, team.slug, link.slug) for link in links if team is not None}
    return Reply(card=team_links_list(team, links, urls))


# ------------------------------------------------------------------ the card's buttons


async def view(turn: Turn, link_id: str) -> Reply:
    """The card for the clicker (a refresh, Back from the settings)."""
    user = await turn.actor()
    shown = await service(turn).view_for(link_id, user)
    return Reply(card=_card(turn, shown, user))


async def _reachable(turn: Turn, user: User) -> None:
    """A member is told of their bookings in their personal chat with Slotwise: start one if they have none (a
    refusal only means their notices wait until they first message Slotwise)."""
    try:
        await private.personal_chat(turn, user)
    except Exception as exc:
        log.info("could not start a personal chat with %s: %s", user.id, exc)


async def join(turn: Turn, link_id: str) -> Reply:
    user = await turn.actor()
    where = team_of_conversation(turn.activity)
    joined = await service(turn).join(link_id, user, where=where[0] if where is not None else "")
    await _reachable(turn, user)
    await _update_posted(turn, joined)
    me = joined.member(user.id)
    if me is not None and not me.connected:
        current = await turn.deps.people.current(user)
        if current.connection_status is not ConnectionStatus.CONNECTED:
            await private.route(turn, host.connect_reply(turn, current))
        return Reply(
            card=_card(turn, joined, user, note="Connect your Outlook calendar (I've sent you a private message).")
        )
    return Reply(card=_card(turn, joined, user))


async def leave(turn: Turn, link_id: str) -> Reply:
    user = await turn.actor()
    left = await service(turn).leave(link_id, user)
    await _update_posted(turn, left)
    return Reply(card=_card(turn, left, user))


async def edit(turn: Turn, link_id: str) -> Reply:
    user = await turn.actor()
    teams = service(turn)
    shown = await teams.view_for(link_id, user)
    owner = await _owner_unless_creator(turn, shown, user)
    return Reply(card=team_settings_card(await teams.editable(link_id, user, owner=owner)))


async def save(turn: Turn, link_id: str, version: int, values: Mapping[str, object]) -> Reply:
    """Every problem shown at once, nothing saved until all of them are fixed (cards.team)."""
    user = await turn.actor()
    teams = service(turn)
    shown = await teams.view_for(link_id, user)
    owner = await _owner_unless_creator(turn, shown, user)
    current = await teams.editable(link_id, user, owner=owner)
    if current.link.version != version:
        return Reply(card=team_settings_card(current, {"form": STALE}, values))
    settings, errors = parse_team_settings(values, current)
    if settings is None:
        return Reply(card=team_settings_card(current, errors, values))
    try:
        saved = await teams.save_settings(
            link_id,
            user,
            owner=owner,
            version=version,
            edited=settings.link,
            mode=settings.mode,
            period=settings.period,
            announce=settings.announce,
            members=settings.members,
            remove=settings.remove,
        )
    except Conflict:
        latest = await teams.editable(link_id, user, owner=owner)
        return Reply(card=team_settings_card(latest, {"form": STALE}, values))
    await _update_posted(turn, saved)
    removed = [m.user.display_name for m in current.members if m.user.id in settings.remove]
    return Reply(card=_card(turn, saved, user, heading="Saved", removed=removed))


async def preview(turn: Turn, link_id: str) -> Reply:
    """The team link's slot picker (as invitees see it)."""
    link, face = await turn.deps.booking.public_link(link_id)
    turn.scope.link = link
    return await picker.picker(turn, link, face, picker.PickerView(tz=await turn.viewer_zone(face)))


async def delete(turn: Turn, link_id: str) -> Reply:
    user = await turn.actor()
    teams = service(turn)
    shown = await teams.view_for(link_id, user)
    owner = await _owner_unless_creator(turn, shown, user)
    gone = await teams.delete(link_id, user, owner=owner)
    team, links = await teams.links_of(gone.team.tenant_id, gone.team.external_id)
    urls = {link.id: team_booking_url(turn.deps.base_url, gone.team.slug, link.slug) for link in links}
    return Reply(
        text=f"Deleted the team link “{gone.link.title}”. People who already booked keep their meetings.",
        card=team_links_list(team or gone.team, links, urls),
    )


# ------------------------------------------------------------------ delivery (the Teams notifier)


class Sender(Protocol):
    """What sends a message into a stored conversation (``bot.notifications.ProactiveSender``)."""

    async def send(self, reference: ConversationReference, tenant_id: str, message: Reply) -> None: ...


async def deliver_announcement(deps: BotDeps, sender: Sender, item: OutboxItem) -> None:
    """``team.announcement``: the booking change as a message in the thread of the team link's card."""
    if item.kind != ANNOUNCEMENT:
        raise Undeliverable(f"there is no Teams message for '{item.kind}'")
    link_id = item.payload.get("eventTypeId")
    found = await deps.teams.thread_of(link_id) if deps.teams is not None and isinstance(link_id, str) else None
    stored = stored_reference(found[1].thread) if found is not None else None
    if found is None or stored is None or found[0].tenant_id != item.tenant_id:
        raise Undeliverable("the team link or its channel thread is gone")
    reference, tenant_id = stored
    await sender.send(reference, tenant_id or item.tenant_id, Reply(text=announcement_text(item.payload)))
