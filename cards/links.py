"""Cards about a host's links: the "your link is ready" card and the "my links" list.

The Share button is an ``Action.ShowCard`` holding the URL in an ``Input.Text``, not a Teams
share deep link (``https://teams.microsoft.com/share?href=...``). Reasons: hosts mostly paste the
link into Outlook mail and other chats, so copying is the operation that matters; an input field can
be selected and copied on desktop, web and mobile alike, while TextBlock text is not reliably
selectable; and the share deep link opens a browser pop-up that needs a separate sign-in and only
helps for Teams. Pasting the copied link into any Teams chat unfurls it into the slot card anyway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import quote

from cards.elements import (
    Json,
    action_set,
    card,
    container,
    execute,
    facts,
    input_text,
    open_url,
    show_card,
    text,
    title,
    user_text,
)
from cards.format import (
    caps_label,
    durations_label,
    location_label,
    minutes_label,
    statuses_label,
    weekly_summary,
    window_label,
)
from scheduling.domain import TEAM_SEGMENT, EventType, LinkKind

LINKS_PER_PAGE = 8
TITLE_LIMIT = 200

KIND_LABELS = {
    LinkKind.SINGLE_HOST: "Just you",
    LinkKind.ROUND_ROBIN: "Round-robin across the team",
    LinkKind.COLLECTIVE: "Everyone on the team together",
}


def booking_url(base_url: str, handle: str, slug: str) -> str:
    """The public page of a personal link: ``{base}/book/{handle}/{slug}`` (segments percent-encoded)."""
    return f"{base_url.rstrip('/')}/book/{quote(handle, safe='')}/{quote(slug, safe='')}"


def team_booking_url(base_url: str, team_slug: str, slug: str) -> str:
    """The public page of a team link: ``{base}/book/team/{team}/{slug}``."""
    return f"{base_url.rstrip('/')}/book/{TEAM_SEGMENT}/{quote(team_slug, safe='')}/{quote(slug, safe='')}"


def link_facts(link: EventType) -> list[tuple[str, str]]:
    """Every rule of ``link`` as (label, Markdown value) pairs, user text escaped."""
    r = link.rules
    buffers = "none"
    if r.buffer_before or r.buffer_after:
        buffers = f"{minutes_label(r.buffer_before)} before, {minutes_label(r.buffer_after)} after"
    interval = f"every {minutes_label(r.interval)}" + ("" if r.slot_interval is not None else " (automatic)")
    hours = weekly_summary(r.availability.weekly)
    overrides = len(r.availability.overrides)
    if overrides:
        hours += f" (plus {overrides} date override" + ("s" if overrides != 1 else "") + ")"
    out = [
        ("Length", durations_label(r.durations)),
        ("Hours", hours),
        ("Time zone", user_text(r.time_zone, 80)),
        ("Start times", interval),
        ("Buffers", buffers),
        ("Minimum notice", minutes_label(r.minimum_notice)),
        ("Bookable", window_label(r.window)),
        ("Limits", caps_label(r.daily_cap, r.weekly_cap)),
        ("Blocked by", statuses_label(r.blocking_statuses)),
        ("Location", user_text(location_label(link.location), 200)),
    ]
    if link.kind is not LinkKind.SINGLE_HOST:
        out.append(("Hosts", KIND_LABELS[link.kind]))
    if link.single_use:
        out.append(("Single use", "yes: the link stops working after one booking"))
    if not link.active:
        out.append(("Status", "**off**: nobody can book until you turn it back on"))
    return out


def _delete_card(link: EventType) -> Json:
    return show_card(
        "Delete",
        [
            text("Delete this link? People who already booked keep their meetings; the link stops working.", wrap=True),
        ],
        [execute("Delete link", "link.delete", {"linkId": link.id}, style="destructive")],
    )


def _share_card(url: str) -> Json:
    return show_card(
        "Share",
        [
            input_text("shareUrl", "Copy this link and paste it into an email or chat", url),
            text("Pasted into a Teams chat, it turns into a card where people pick a time.", subtle=True, size="small"),
        ],
    )


def link_created(link: EventType, url: str, host_name: str, *, heading: str = "Your link is ready") -> Json:
    """The link's URL, a summary of every rule, and Open / Edit / Preview / Share / Delete.

    ``heading`` lets the bot reuse the card after a save ("Saved") or for "show link".
    """
    body = [
        text(user_text(heading, 100), weight="bolder", color="good"),
        title(user_text(link.title, TITLE_LIMIT, empty="Untitled link")),
        text(f"Hosted by {user_text(host_name, 100)}", subtle=True, spacing="none"),
    ]
    if link.description.strip():
        body.append(text(user_text(link.description, 500, multiline=True)))
    body += [
        text(user_text(url, 500), spacing="medium"),
        facts(link_facts(link)),
    ]
    actions = [
        open_url("Open", url),
        execute("Edit", "link.edit", {"linkId": link.id}),
        execute("Preview", "link.preview", {"linkId": link.id}),
        _share_card(url),
        _delete_card(link),
    ]
    return card(body, actions, fallback_text=f"Your scheduling link: {url}")


def _link_url(link: EventType, base_url: str, handle: str, team_slugs: Mapping[str, str]) -> str | None:
    if link.team_id is not None:
        team_slug = team_slugs.get(link.team_id)
        return team_booking_url(base_url, team_slug, link.slug) if team_slug else None
    return booking_url(base_url, handle, link.slug)


def links_list(
    links: Sequence[EventType],
    base_url: str,
    handle: str,
    *,
    page: int = 0,
    team_slugs: Mapping[str, str] | None = None,
) -> Json:
    """The host's links, ``LINKS_PER_PAGE`` at a time, each with Edit / Preview / Delete.

    ``handle`` builds personal URLs; ``team_slugs`` maps team ids to their slugs for team links.
    """
    slugs = team_slugs or {}
    pages = max(1, -(-len(links) // LINKS_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    shown = links[page * LINKS_PER_PAGE : (page + 1) * LINKS_PER_PAGE]
    body: list[Json] = [title("Your links")]
    if not links:
        body.append(text("You have no links yet. Type **make a 30-min link** to create one."))
    elif pages > 1:
        body.append(text(f"Page {page + 1} of {pages} ({len(links)} links)", subtle=True, spacing="none"))
    for link in shown:
        url = _link_url(link, base_url, handle, slugs)
        state = [durations_label(link.rules.durations), weekly_summary(link.rules.availability.weekly)]
        if not link.active:
            state.insert(0, "**off**")
        if link.single_use:
            state.append("single use")
        items = [
            text(user_text(link.title, TITLE_LIMIT, empty="Untitled link"), weight="bolder"),
            text(" · ".join(state), subtle=True, spacing="none"),
        ]
        if url:
            items.append(text(user_text(url, 500), size="small", spacing="none"))
        row = [
            execute("Edit", "link.edit", {"linkId": link.id}),
            execute("Preview", "link.preview", {"linkId": link.id}),
        ]
        if url:
            row.append(open_url("Open", url))
        row.append(_delete_card(link))
        items.append(action_set(row))
        body.append(container(items, separator=True, spacing="medium"))
    actions = [execute("New 30-min link", "link.create", {"duration": 30})]
    if page > 0:
        actions.append(execute("Previous page", "links.list", {"page": page - 1}))
    if page < pages - 1:
        actions.append(execute("Next page", "links.list", {"page": page + 1}))
    return card(body, actions, fallback_text="Your Slotwise links")
