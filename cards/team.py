"""Cards of team links: the team link card posted in the channel, its settings card (and the pure parser of what
that submits), the channel's list of team links, the announcement of a booking in the card's thread, and the
note to the link's creator about members whose calendars could not be read.

The **team link card** (:func:`team_link_card`): title, team, kind and length, the link, the members in the
rotation with their connection state ("waiting to connect" until their Outlook is connected), and Join / Leave
/ Settings / Preview / Open. It carries a ``refresh`` (``team.view``, ``userIds`` omitted) so every viewer's
client asks for their own view when they open it: the bot answers with Join or Leave for them. The card as
posted (no viewer) shows both.

The **settings card** (:func:`team_settings_card`) is the personal link's settings editor
(:func:`cards.settings.settings_editor`: every personal rule) plus the team's own inputs: kind, assignment
mode, fairness period, announcing in the channel, and per member priority, weight, daily / weekly caps and
"Remove from the rotation" (the member is taken out as if they had pressed Leave; their bookings stay theirs).
:func:`parse_team_settings` reads everything with the personal card's per-field parsers and the ones here,
then the core's rules judge the whole (``EventRules.problems`` through ``parse_settings``,
``scheduling.assignment.member_problems`` for the members): every problem at once, keyed by input id (a
member's inputs are the core's keys, ``members.<user id>.<field>``), nothing saved until all are fixed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final, TypeVar

from cards.elements import (
    Json,
    action_set,
    card,
    choice_set,
    container,
    escape_markdown,
    execute,
    facts,
    field_error,
    input_number,
    open_url,
    refresh_action,
    show_card,
    text,
    title,
    toggle,
    user_text,
)
from cards.format import durations_label, minutes_label, weekly_summary
from cards.links import KIND_LABELS, TITLE_LIMIT
from cards.settings import FORM_ERROR, parse_cap, parse_flag, parse_settings, settings_editor
from scheduling.assignment import AssignmentMode, PeriodUnit, member_problems
from scheduling.domain import EventType, LinkKind, Priority, Team, TeamMember
from scheduling.presentation import local_time_label
from scheduling.teams import TeamLinkView

KIND: Final = "team.kind"
MODE: Final = "team.mode"
PERIOD: Final = "team.period"
ANNOUNCE: Final = "team.announce"
MEMBER_FIELDS: Final = ("priority", "weight", "daily_cap", "weekly_cap", "remove")
TEAM_INPUT_IDS: Final = (KIND, MODE, PERIOD, ANNOUNCE)

KIND_TITLES: Final = {
    LinkKind.ROUND_ROBIN: "Round-robin: one member per booking",
    LinkKind.COLLECTIVE: "Collective: every member together",
}
SHORT_KINDS: Final = {LinkKind.ROUND_ROBIN: "Round-robin", LinkKind.COLLECTIVE: "Collective"}
MODE_TITLES: Final = {
    AssignmentMode.FAIR: "Fair distribution by weight",
    AssignmentMode.AVAILABILITY: "Maximise availability (any free member)",
}
PERIOD_TITLES: Final = {PeriodUnit.DAY: "Each day", PeriodUnit.WEEK: "Each week", PeriodUnit.MONTH: "Each month"}
PRIORITY_TITLES: Final = {Priority.HIGH: "High", Priority.MEDIUM: "Medium", Priority.LOW: "Low"}
WAITING: Final = "waiting to connect"
T = TypeVar("T")
MAX_MEMBERS_SHOWN = 25


def member_input(user_id: str, name: str) -> str:
    """A member's input id: the core's problem key (``scheduling.assignment.member_problems``)."""
    return f"members.{user_id}.{name}"


def _kind(link: EventType) -> str:
    return SHORT_KINDS.get(link.kind, KIND_LABELS.get(link.kind, ""))


# --------------------------------------------------------------------------- the card in the channel


def team_link_card(
    view: TeamLinkView,
    url: str,
    *,
    viewer_id: str | None = None,
    heading: str = "Team link",
    note: str = "",
    removed: Sequence[str] = (),
) -> Json:
    """The team link card; ``viewer_id``: the person it is drawn for (Join or Leave for them), None for the
    card as posted in the channel (both); ``removed``: the names of members its settings just took out of the
    rotation (confirmed on the card)."""
    link = view.link
    members = view.members
    body: list[Json] = [
        text(user_text(heading, 100), weight="bolder", color="good"),
        title(user_text(link.title, TITLE_LIMIT, empty="Untitled link")),
        text(
            f"{user_text(view.team.name, 100)} · {_kind(link)} · {durations_label(link.rules.durations)}",
            subtle=True,
            spacing="none",
        ),
        text(user_text(url, 500), spacing="medium"),
    ]
    if note:
        body.append(text(user_text(note, 300), color="attention"))
    gone = [user_text(name, 80) for name in removed]
    if gone:
        body.append(text(f"Removed {_names(gone)} from the rotation; their bookings stay theirs.", color="good"))
    if not link.active:
        body.append(text("**Off**: nobody can book this link until it is turned back on.", color="warning"))
    rows: list[Json] = []
    if not members:
        rows.append(text("Nobody is in the rotation yet: select **Join** to take bookings.", spacing="none"))
    for m in members[:MAX_MEMBERS_SHOWN]:
        state = f"· _{WAITING}_" if not m.connected else "· connected"
        you = " (you)" if viewer_id is not None and m.user.id == viewer_id else ""
        rows.append(text(f"{user_text(m.user.display_name, 80)}{you} {state}", spacing="none"))
    if len(members) > MAX_MEMBERS_SHOWN:
        rows.append(text(f"and {len(members) - MAX_MEMBERS_SHOWN} more", subtle=True, spacing="none"))
    body += [
        text(
            f"In the rotation ({len(members)})" if link.kind is LinkKind.ROUND_ROBIN else f"Hosts ({len(members)})",
            weight="bolder",
            spacing="medium",
        ),
        container(rows, spacing="small"),
        facts(
            [
                ("Hours", weekly_summary(link.rules.availability.weekly)),
                ("Time zone", user_text(link.rules.time_zone, 80)),
                ("Notice", minutes_label(link.rules.minimum_notice)),
            ]
        ),
    ]
    data = {"linkId": link.id}
    is_member = viewer_id is not None and view.member(viewer_id) is not None
    actions: list[Json] = []
    if viewer_id is None or not is_member:
        actions.append(execute("Join", "team.join", data, style="positive"))
    if viewer_id is None or is_member:
        actions.append(execute("Leave", "team.leave", data))
    actions += [execute("Settings", "team.edit", data), execute("Preview", "team.preview", data), open_url("Open", url)]
    return card(
        body,
        actions,
        refresh=refresh_action("team.view", data, automatic=True),
        fallback_text=f"Team link: {url}",
    )


def team_links_list(team: Team | None, links: Sequence[EventType], urls: Mapping[str, str]) -> Json:
    """The team links of the channel's team, each with View / Preview / Open (``urls`` by link id)."""
    heading = f"Team links of {user_text(team.name, 100)}" if team is not None else "Team links"
    body: list[Json] = [title(heading)]
    if not links:
        body.append(
            text("This team has no team links yet. Say **@Slotwise make a 30-min round-robin link** to make one.")
        )
    for link in links[:20]:
        state = [_kind(link), durations_label(link.rules.durations)]
        if not link.active:
            state.insert(0, "**off**")
        items = [
            text(user_text(link.title, TITLE_LIMIT, empty="Untitled link"), weight="bolder"),
            text(" · ".join(state), subtle=True, spacing="none"),
        ]
        row = [
            execute("Show", "team.view", {"linkId": link.id}),
            execute("Preview", "team.preview", {"linkId": link.id}),
        ]
        if link.id in urls:
            items.append(text(user_text(urls[link.id], 500), size="small", spacing="none"))
            row.append(open_url("Open", urls[link.id]))
        items.append(action_set(row))
        body.append(container(items, separator=True, spacing="medium"))
    return card(body, fallback_text="Team links")


# --------------------------------------------------------------------------- settings


def team_values(view: TeamLinkView) -> dict[str, str]:
    """The team inputs as the link stands (what Save submits untouched)."""
    out = {
        KIND: view.link.kind.value,
        MODE: view.settings.mode.value,
        PERIOD: view.settings.period.value,
        ANNOUNCE: "true" if view.settings.announce else "false",
    }
    for m in view.members:
        member = m.member
        out[member_input(m.user.id, "priority")] = str(int(member.priority))
        out[member_input(m.user.id, "weight")] = str(member.weight)
        out[member_input(m.user.id, "daily_cap")] = "" if member.daily_cap is None else str(member.daily_cap)
        out[member_input(m.user.id, "weekly_cap")] = "" if member.weekly_cap is None else str(member.weekly_cap)
        out[member_input(m.user.id, "remove")] = "false"
    return out


def _text_of(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def _merged(view: TeamLinkView, values: Mapping[str, object] | None) -> dict[str, str]:
    out = team_values(view)
    for key, value in (values or {}).items():
        if key in out:
            out[key] = _text_of(value)
    return out


def _number(value: str) -> float | None:
    try:
        n = float(value)
    except ValueError:
        return None
    return int(n) if n.is_integer() else n


def _remove_toggle(user_id: str, on: bool) -> Json:
    """A member's "Remove from the rotation" switch, spare (20 of them must fit the card's size budget): off
    unless set, ``"true"``/``"false"`` as submitted values (Adaptive Cards' defaults)."""
    out: Json = {"type": "Input.Toggle", "id": member_input(user_id, "remove"), "title": "Remove from the rotation"}
    if on:
        out["value"] = "true"
    return out


def team_settings_card(
    view: TeamLinkView, errors: Mapping[str, str] | None = None, values: Mapping[str, object] | None = None
) -> Json:
    """The settings of a team link: every personal rule (``settings_editor``), then the team's own inputs;
    ``errors`` under their inputs, ``values`` pre-filled (nothing typed is lost)."""
    errs = dict(errors or {})
    base = settings_editor(view.link, errs, values)
    body: list[Json] = base["body"][0]["items"]
    body[0] = text("Edit team link", weight="bolder", color="accent")
    v = _merged(view, values)

    def add(element: Json) -> None:
        body.append(element)
        input_id = element.get("id")
        if isinstance(input_id, str) and input_id in errs:
            body.append(field_error(errs[input_id]))

    def section(heading: str, note: str = "") -> None:
        body.append(text(heading, weight="bolder", size="medium", separator=True, spacing="large"))
        if note:
            body.append(text(note, subtle=True, size="small", spacing="none"))

    section("Team")

    def pick(input_id: str, label: str, choices: list[tuple[str, str]], expanded: bool = False) -> Json:
        """A choice list, pre-selecting the submitted value only when it is one of the choices."""
        chosen = v[input_id] if v[input_id] in {c for _, c in choices} else current[input_id]
        return choice_set(input_id, label, choices, chosen, expanded=expanded)

    current = team_values(view)
    add(pick(KIND, "Who hosts a booking", [(t, k.value) for k, t in KIND_TITLES.items()], expanded=True))
    add(pick(MODE, "Who gets a round-robin booking", [(t, m.value) for m, t in MODE_TITLES.items()], expanded=True))
    add(pick(PERIOD, "Fairness starts over", [(t, p.value) for p, t in PERIOD_TITLES.items()]))
    add(toggle(ANNOUNCE, "Channel", "Announce each booking in this link's thread", v[ANNOUNCE].lower() == "true"))
    if "members" in errs:
        body.append(field_error(errs["members"]))

    section(
        "Members",
        "These apply to every link of this team. A free member of a higher priority always goes first; weight is a "
        "member's share of bookings; limits (empty: none) count their bookings of this link.",
    )
    if not view.members:
        body.append(text("Nobody is in the rotation yet.", spacing="small"))
    for m in view.members:
        uid = m.user.id
        state = "" if m.connected else f" ({WAITING})"
        body.append(text(f"{user_text(m.user.display_name, 80)}{state}", weight="bolder", spacing="medium"))
        add(pick(member_input(uid, "priority"), "Priority", [(t, str(int(p))) for p, t in PRIORITY_TITLES.items()]))
        add(
            input_number(
                member_input(uid, "weight"),
                "Weight (1-100)",
                _number(v[member_input(uid, "weight")]),
                minimum=1,
                maximum=100,
            )
        )
        add(
            input_number(
                member_input(uid, "daily_cap"),
                "Most a day",
                _number(v[member_input(uid, "daily_cap")]),
                minimum=1,
            )
        )
        add(
            input_number(
                member_input(uid, "weekly_cap"),
                "Most a week",
                _number(v[member_input(uid, "weekly_cap")]),
                minimum=1,
            )
        )
        add(_remove_toggle(uid, v[member_input(uid, "remove")].lower() == "true"))
    data = {"linkId": view.link.id}
    actions = [
        execute("Save", "team.save", {"linkId": view.link.id, "version": view.link.version}),
        execute("Cancel", "team.view", data, submit_inputs=False),
        show_card(
            "Delete",
            [text("Delete this team link? Its bookings stay in people's calendars; the link stops working.")],
            [execute("Delete team link", "team.delete", data, style="destructive", submit_inputs=False)],
        ),
    ]
    return card([container(body)], actions, fallback_text="Edit the team link")


@dataclass(frozen=True, slots=True)
class TeamSettings:
    """What the settings card asked for, read and judged (see :func:`parse_team_settings`)."""

    link: EventType
    mode: AssignmentMode
    period: PeriodUnit
    announce: bool
    members: tuple[TeamMember, ...]
    remove: tuple[str, ...] = ()  # user ids taken out of the rotation


def parse_kind(value: str) -> LinkKind:
    kinds = {k.value: k for k in KIND_TITLES}
    kind = kinds.get(value.strip())
    if kind is None:
        raise ValueError("Choose round-robin or collective.")
    return kind


def parse_mode(value: str) -> AssignmentMode:
    try:
        return AssignmentMode(value.strip())
    except ValueError:
        raise ValueError("Choose how bookings are shared out.") from None


def parse_period(value: str) -> PeriodUnit:
    try:
        return PeriodUnit(value.strip())
    except ValueError:
        raise ValueError("Choose a day, a week or a month.") from None


def parse_priority(value: str) -> int:
    """ "3" / "high", "2" / "medium", "1" / "low" -> the priority (the core judges it)."""
    names = {t.lower(): int(p) for p, t in PRIORITY_TITLES.items()}
    cleaned = value.strip().lower()
    if cleaned in names:
        return names[cleaned]
    if cleaned.lstrip("-").isdigit() and len(cleaned) <= 3:
        return int(cleaned)
    raise ValueError("Priority must be high, medium or low.")


def parse_weight(value: str) -> int:
    """A weight (required); the core judges the number."""
    weight = parse_cap(value)
    if weight is None:
        raise ValueError("Give a weight from 1 to 100.")
    return weight


def parse_removal(value: str) -> bool:
    """A member's "Remove from the rotation" switch: ``"true"`` / ``"false"``; blank (a client that sends no value
    for a switch left off) is off."""
    return parse_flag(value) if value.strip() else False


def parse_team_settings(values: Mapping[str, object], view: TeamLinkView) -> tuple[TeamSettings | None, dict[str, str]]:
    """Submitted settings -> (the settings, {}) or (None, every problem keyed by input id). Pure."""
    edited, errors = parse_settings(values, view.link)
    errors = dict(errors)
    v = _merged(view, values)

    def read(input_id: str, parse: Callable[[str], T], fallback: T) -> T:
        try:
            return parse(v[input_id])
        except ValueError as exc:
            errors.setdefault(input_id, str(exc))
            return fallback

    kind = read(KIND, parse_kind, view.link.kind)
    mode = read(MODE, parse_mode, view.settings.mode)
    period = read(PERIOD, parse_period, view.settings.period)
    announce = read(ANNOUNCE, parse_flag, view.settings.announce)
    members = []
    remove = []
    for m in view.members:
        uid, current = m.user.id, m.member
        if read(member_input(uid, "remove"), parse_removal, False):
            remove.append(uid)  # out of the rotation: their other settings no longer matter
            continue
        members.append(
            replace(
                current,
                priority=read(member_input(uid, "priority"), parse_priority, current.priority),
                weight=read(member_input(uid, "weight"), parse_weight, current.weight),
                daily_cap=read(member_input(uid, "daily_cap"), parse_cap, current.daily_cap),
                weekly_cap=read(member_input(uid, "weekly_cap"), parse_cap, current.weekly_cap),
            )
        )
    for key, message in member_problems(members).items():
        errors.setdefault(key, message)
    if errors or edited is None:
        return None, errors or {FORM_ERROR: "Please check the settings."}
    return TeamSettings(replace(edited, kind=kind), mode, period, announce, tuple(members), tuple(remove)), {}


# --------------------------------------------------------------------------- messages


def _names(names: Sequence[str]) -> str:
    names = [n for n in names if n]
    if not names:
        return "the team"
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def _when(value: object, time_zone: str) -> str:
    if not isinstance(value, str):
        return ""
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return local_time_label(instant, time_zone, with_date=True)
    except ValueError:
        return ""


def announcement_text(payload: Mapping[str, object]) -> str:
    """The channel message of a team booking's change ("Megan booked Sales demo with Adele, Tue 8 Dec 14:00"),
    its people's words escaped (Teams renders message text as Markdown)."""

    def word(key: str, fallback: str) -> str:
        value = payload.get(key)
        return escape_markdown(value) if isinstance(value, str) and value.strip() else fallback

    zone_name = payload.get("timeZone")
    tz = zone_name if isinstance(zone_name, str) and zone_name else "UTC"
    hosts = payload.get("hostNames")
    with_whom = escape_markdown(_names([h for h in hosts if isinstance(h, str)] if isinstance(hosts, list) else []))
    invitee, what = word("inviteeName", "Someone"), word("title", "a meeting")
    when = _when(payload.get("start"), tz)
    change = payload.get("change")
    if change == "booking.rescheduled":
        before = _when(payload.get("previousStart"), tz)
        was = f" (was {before})" if before else ""
        return f"{invitee}'s {what} with {with_whom} moved to {when}{was}."
    if change == "booking.cancelled":
        return f"{invitee}'s {what} with {with_whom} on {when} was cancelled."
    return f"{invitee} booked {what} with {with_whom}, {when}."


def unreadable_card(payload: Mapping[str, object]) -> Json:
    """To a team link's creator: which members could not be read today (left out of the times offered)."""

    def names(key: str) -> list[str]:
        value = payload.get(key)
        return [user_text(n, 80) for n in value if isinstance(n, str)] if isinstance(value, list) else []

    link_title = payload.get("title")
    body: list[Json] = [
        text("Some members are left out of your team link's times", weight="bolder", color="warning"),
        title(user_text(link_title if isinstance(link_title, str) else "", TITLE_LIMIT, empty="Team link")),
    ]
    unreadable, waiting = names("unreadable"), names("notConnected")
    if unreadable:
        body.append(text(f"Their calendars can't be read right now: {', '.join(unreadable)}."))
    if waiting:
        body.append(text(f"Waiting to connect their Outlook: {', '.join(waiting)}."))
    body.append(
        text(
            "Slotwise never treats them as free, so they get no bookings until they can be read again. "
            "You get this note at most once a day.",
            subtle=True,
        )
    )
    return card(body, fallback_text="Some members are left out of your team link's times")
