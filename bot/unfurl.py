"""The messaging extension: link unfurling (``composeExtension/queryLink``) and the "searchLinks" search
command (``composeExtension/query``).

Unfurling: a URL under the public base URL's ``/book/{handle}/{slug}`` (or a team link's
``/book/team/{team}/{slug}``, the card naming the team) becomes the 1.3 slot card
(the next free times as links to the booking page, in the sender's zone) with its preview. Any other
URL gets an empty result, so Teams shows the plain link. A link that can't take bookings right now
unfurls into a short notice instead of times (never a guess).

Unfurling never creates or looks up the sender as a Slotwise user: the card is the same public
information as the booking page.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from bot.context import Turn, UnknownSender, client_zone
from bot.invokes import BadInvoke, link_query_of
from bot.reply import ADAPTIVE_CARD, Json
from cards import (
    booking_url,
    durations_label,
    slot_picker_unfurl,
    team_booking_url,
    unfurl_notice,
    unfurl_preview,
    unfurl_response,
)
from scheduling.errors import HostUnavailable, IntegrationError, LinkInactive, NotFound, SlotwiseError
from scheduling.intervals import Interval

UNFURL_DAYS = 14
SEARCH_COMMAND = "searchLinks"
MAX_RESULTS = 25
THUMBNAIL_CARD = "application/vnd.microsoft.card.thumbnail"


def empty_result() -> Json:
    return {"composeExtension": {"type": "result", "attachmentLayout": "list", "attachments": []}}


def message_result(text: str) -> Json:
    return {"composeExtension": {"type": "message", "text": text}}


def _segments(base_url: str, url: str) -> list[str] | None:
    """The path segments of ``url`` after ``{base}/book/``, when it is a booking page address of this Slotwise."""
    try:
        base, target = urlsplit(base_url), urlsplit(url.strip())
    except ValueError:
        return None
    if (target.scheme.lower(), target.netloc.lower()) != (base.scheme.lower(), base.netloc.lower()):
        return None
    prefix = base.path.rstrip("/") + "/book/"
    if not target.path.startswith(prefix):
        return None
    return [unquote(p) for p in target.path[len(prefix) :].strip("/").split("/")]


def team_target(base_url: str, url: str) -> tuple[str, str] | None:
    """(team, slug) when ``url`` is a team link's booking page (``/book/team/{team}/{slug}``), else None."""
    parts = _segments(base_url, url)
    if parts is None or len(parts) != 3 or parts[0] != "team" or not all(parts):
        return None
    return parts[1], parts[2]


def booking_target(base_url: str, url: str) -> tuple[str, str] | None:
    """(handle, slug) when ``url`` is a personal booking page of this Slotwise, else None."""
    parts = _segments(base_url, url)
    if parts is None or len(parts) != 2 or not all(parts) or parts[0] == "team":
        return None
    return parts[0], parts[1]


async def query_link(turn: Turn, value: object) -> Json:
    """The unfurl of the pasted URL (a :class:`~bot.invokes.LinkQuery`); an empty result, so Teams shows the
    plain link, when the value is malformed or the URL is not one of our booking pages."""
    try:
        query = link_query_of(value)
    except BadInvoke:
        return empty_result()
    target = booking_target(turn.deps.base_url, query.url)
    team = team_target(turn.deps.base_url, query.url)
    if target is None and team is None:
        return empty_result()
    service = turn.deps.booking
    try:
        if team is not None:  # a team link: the same card, with the team's name (bot.team)
            if turn.deps.teams is None:
                return empty_result()
            link, found = await turn.deps.teams.resolve(*team)
            owner = turn.deps.teams.face(found, link)
        else:
            assert target is not None
            link, owner = await service.resolve_link(*target)
    except LinkInactive as exc:
        notice = unfurl_notice("This link isn't taking bookings", exc.message)
        return unfurl_response(notice, notice)
    except NotFound:
        return empty_result()
    page = (
        team_booking_url(turn.deps.base_url, owner.handle, link.slug)
        if team is not None
        else booking_url(turn.deps.base_url, owner.handle, link.slug)
    )
    preview = unfurl_preview(link, owner.display_name)
    tz = client_zone(turn.activity) or owner.time_zone
    now = turn.now()
    try:
        slots = await service.slots(link, Interval(now, now + timedelta(days=UNFURL_DAYS)))
    except (HostUnavailable, IntegrationError):
        notice = unfurl_notice(
            f"{owner.display_name} can't take bookings right now",
            "Their calendar can't be read at the moment, so no times are shown. Open the page later to pick a time.",
            page,
        )
        return unfurl_response(notice, preview)
    except SlotwiseError as exc:
        return unfurl_response(unfurl_notice(link.title, exc.message, page), preview)
    return unfurl_response(slot_picker_unfurl(link, owner.display_name, slots, tz, page), preview)


def _search_text(value: Mapping[str, Any]) -> str:
    for parameter in value.get("parameters") or []:
        if isinstance(parameter, Mapping) and parameter.get("name") != "initialRun":
            text = parameter.get("value")
            return text.strip().lower() if isinstance(text, str) else ""
    return ""


def _window(value: Mapping[str, Any]) -> tuple[int, int]:
    options = value.get("queryOptions")
    options = options if isinstance(options, Mapping) else {}
    skip, count = options.get("skip"), options.get("count")
    skip = skip if isinstance(skip, int) and not isinstance(skip, bool) and skip >= 0 else 0
    count = (
        count if isinstance(count, int) and not isinstance(count, bool) and 0 < count <= MAX_RESULTS else MAX_RESULTS
    )
    return skip, count


async def search_links(turn: Turn, value: object) -> Json:
    """The sender's own active links, filtered by the typed text, as cards to insert into a message."""
    if not isinstance(value, Mapping) or value.get("commandId") != SEARCH_COMMAND:
        return empty_result()
    try:
        user = await turn.actor()
    except UnknownSender as exc:
        return message_result(exc.message)
    wanted = _search_text(value)
    links = [
        link
        for link in await turn.deps.links.list(user)
        if link.active
        and link.owner_user_id == user.id
        and (not wanted or wanted in link.title.lower() or wanted in link.slug.lower())
    ]
    if not links:
        return message_result(
            "No links match. Type 'make a 30-min link' in your chat with Slotwise to create one."
            if not wanted
            else f"None of your links match '{wanted}'."
        )
    skip, count = _window(value)
    attachments = []
    for link in links[skip : skip + count]:
        url = booking_url(turn.deps.base_url, user.handle, link.slug)
        summary = f"{durations_label(link.rules.durations)} with {user.display_name}"
        attachments.append(
            {
                "contentType": ADAPTIVE_CARD,
                "content": unfurl_notice(link.title, f"Book a time: {summary}.", url),
                "preview": {"contentType": THUMBNAIL_CARD, "content": {"title": link.title, "text": summary}},
            }
        )
    return {"composeExtension": {"type": "result", "attachmentLayout": "list", "attachments": attachments}}
