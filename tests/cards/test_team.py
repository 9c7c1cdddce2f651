"""Team link cards (cards.team): the card in the channel (per viewer, with its refresh), the settings card and its
parser (every problem at once, keyed by input id, the core's rules), the list, and the channel announcement."""

from __future__ import annotations

import json

from cards.settings import BUFFER_BEFORE, DURATIONS, TITLE
from cards.team import (
    ANNOUNCE,
    KIND,
    MODE,
    PERIOD,
    announcement_text,
    member_input,
    parse_team_settings,
    team_link_card,
    team_links_list,
    team_settings_card,
    team_values,
    unreadable_card,
)
from scheduling.assignment import AssignmentMode, PeriodUnit
from scheduling.domain import ConnectionStatus, EventType, LinkKind, Priority, Team, TeamMember, User
from scheduling.rules import Availability, EventRules
from scheduling.teams import MAX_MEMBERS, Member, TeamLinkSettings, TeamLinkView
from tests.cards.checks import check_card, execute_by_title, executes, input_by_id, texts, unescape

URL = "https://slotwise.example/book/team/sales/demo"


def person(n: int, connected: bool = True, name: str = "") -> User:
    return User(
        id=f"{n:032x}",
        tenant_id="t",
        aad_object_id=f"a{n}",
        display_name=name or f"Person {n}",
        email=f"p{n}@contoso.example",
        connection_status=ConnectionStatus.CONNECTED if connected else ConnectionStatus.NOT_CONNECTED,
    )


def view(count: int = 3, *, name: str = "", kind: LinkKind = LinkKind.ROUND_ROBIN) -> TeamLinkView:
    link = EventType(
        id="l" * 32,
        tenant_id="t",
        slug="demo",
        title="Demo *day*",
        rules=EventRules((30,), Availability.business_hours("Europe/London")),
        team_id="team",
        kind=kind,
    )
    members = tuple(
        Member(TeamMember(person(n).id), person(n, connected=n != 2, name=name)) for n in range(1, count + 1)
    )
    return TeamLinkView(
        link, Team(id="team", tenant_id="t", name="Sales", slug="sales"), TeamLinkSettings(link.id), members
    )


def read(card: dict[str, object]) -> str:
    return "\n".join(unescape(t) for t in texts(card))


def test_the_card_as_posted_and_as_each_viewer_sees_it() -> None:
    team = view()
    posted = check_card(team_link_card(team, URL))
    text = read(posted)
    assert "Demo *day*" in text and "Sales · Round-robin · 30 min" in text and URL in text
    assert "Person 1 · connected" in text and "Person 2 · _waiting to connect_" in text
    assert [a["title"] for a in executes(posted) if a.get("title")] == ["Join", "Leave", "Settings", "Preview"]
    assert posted["refresh"] == {
        "action": {"type": "Action.Execute", "verb": "team.view", "data": {"verb": "team.view", "linkId": "l" * 32}}
    }  # userIds omitted: every viewer's client asks for its own view
    member_view = check_card(team_link_card(team, URL, viewer_id=person(1).id))
    assert "Person 1 (you) · connected" in read(member_view)
    assert "Join" not in [a.get("title") for a in executes(member_view)]
    outsider = check_card(team_link_card(team, URL, viewer_id="someone-else"))
    assert "Leave" not in [a.get("title") for a in executes(outsider)]
    empty = check_card(team_link_card(view(0, kind=LinkKind.COLLECTIVE), URL))
    assert "Nobody is in the rotation yet" in read(empty) and "Hosts (0)" in read(empty)


def test_the_settings_card_holds_every_rule_and_every_member_within_the_size_budget() -> None:
    full = view(MAX_MEMBERS, name="N" * 80)
    card = check_card(team_settings_card(full))  # every check, the 28 KB budget included
    for input_id in (TITLE, DURATIONS, BUFFER_BEFORE, KIND, MODE, PERIOD, ANNOUNCE):
        input_by_id(card, input_id)
    uid = full.members[0].user.id
    for name in ("priority", "weight", "daily_cap", "weekly_cap"):
        input_by_id(card, member_input(uid, name))
    assert execute_by_title(card, "Save")["data"] == {"verb": "team.save", "linkId": "l" * 32, "version": 1}
    assert len(json.dumps(card)) < 28_000


def test_unchanged_settings_parse_back_to_the_link() -> None:
    team = view()
    settings, errors = parse_team_settings({**team_values(team)}, team)
    assert errors == {} and settings is not None
    assert settings.link == team.link and settings.members == tuple(m.member for m in team.members)
    assert (settings.mode, settings.period, settings.announce) == (AssignmentMode.FAIR, PeriodUnit.MONTH, True)


def test_settings_are_read_and_judged_all_at_once() -> None:
    team = view()
    first, second = (m.user.id for m in team.members[:2])
    values = {
        TITLE: "Sales demos",
        KIND: "collective",
        MODE: "availability",
        PERIOD: "week",
        ANNOUNCE: "false",
        member_input(first, "priority"): "high",
        member_input(first, "weight"): "40",
        member_input(first, "daily_cap"): "2",
    }
    settings, errors = parse_team_settings(values, team)
    assert errors == {} and settings is not None
    assert (settings.link.title, settings.link.kind) == ("Sales demos", LinkKind.COLLECTIVE)
    assert (settings.mode, settings.period, settings.announce) == (AssignmentMode.AVAILABILITY, PeriodUnit.WEEK, False)
    assert settings.members[0] == TeamMember(first, priority=Priority.HIGH, weight=40, daily_cap=2)

    bad = {
        DURATIONS: "0",
        BUFFER_BEFORE: "-5",
        KIND: "single",
        MODE: "random",
        member_input(first, "weight"): "0",
        member_input(second, "weight"): "",
        member_input(second, "priority"): "urgent",
        member_input(first, "weekly_cap"): "0",
    }
    settings, errors = parse_team_settings(bad, team)
    assert settings is None
    assert set(errors) == {
        DURATIONS,
        BUFFER_BEFORE,
        KIND,
        MODE,
        member_input(first, "weight"),
        member_input(second, "weight"),
        member_input(second, "priority"),
        member_input(first, "weekly_cap"),
    }
    assert errors[member_input(first, "weight")] == "A weight must be a whole number from 1 to 100."  # the core's
    redrawn = check_card(team_settings_card(team, errors, bad))
    shown = read(redrawn)
    assert "Nothing was saved yet" in shown and "A weight must be a whole number from 1 to 100." in shown
    assert input_by_id(redrawn, member_input(second, "priority"))["value"] == "2"  # an unknown choice is not kept


def test_a_member_is_removed_from_the_rotation_with_the_rest_of_the_settings_and_confirmed_on_the_card() -> None:
    team = view()
    first, second, third = (m.user.id for m in team.members)
    card = check_card(team_settings_card(team))
    switch = input_by_id(card, member_input(second, "remove"))
    assert switch["type"] == "Input.Toggle" and switch["title"] == "Remove from the rotation"
    assert "value" not in switch  # off (the submitted values are Adaptive Cards' "true" / "false")
    # removed: their other inputs are not judged, the others are
    values = {
        **team_values(team),
        member_input(second, "remove"): "true",
        member_input(second, "weight"): "0",
        member_input(third, "daily_cap"): "3",
    }
    settings, errors = parse_team_settings(values, team)
    assert errors == {} and settings is not None
    assert settings.remove == (second,)
    assert [m.user_id for m in settings.members] == [first, third] and settings.members[1].daily_cap == 3
    # a problem elsewhere: nothing is saved, and the switch stays on when the card is drawn again
    settings, errors = parse_team_settings({**values, member_input(first, "weight"): "0"}, team)
    assert settings is None and set(errors) == {member_input(first, "weight")}
    redrawn = check_card(team_settings_card(team, errors, {**values, member_input(first, "weight"): "0"}))
    assert input_by_id(redrawn, member_input(second, "remove"))["value"] == "true"
    settings, errors = parse_team_settings({member_input(third, "remove"): "maybe"}, team)
    assert settings is None and member_input(third, "remove") in errors
    unchanged, _ = parse_team_settings({**team_values(team), member_input(first, "remove"): ""}, team)
    assert unchanged is not None and unchanged.remove == ()  # a switch left off, sent blank
    # the saved card confirms it
    done = check_card(team_link_card(team, URL, viewer_id=first, heading="Saved", removed=["Person *2*"]))
    assert "Removed Person *2* from the rotation; their bookings stay theirs." in read(done)
    assert "Removed" not in read(check_card(team_link_card(team, URL)))


def test_the_announcement_names_the_invitee_the_hosts_and_the_time_in_the_links_zone() -> None:
    payload = {
        "change": "booking.created",
        "title": "Demo",
        "inviteeName": "Megan *Bowen*",
        "hostNames": ["Adele Vance"],
        "start": "2027-03-02T14:00:00Z",
        "timeZone": "Europe/London",
    }
    assert announcement_text(payload) == "Megan \\*Bowen\\* booked Demo with Adele Vance, Tue 2 Mar 14:00."
    moved = payload | {"change": "booking.rescheduled", "previousStart": "2027-03-01T09:00:00Z"}
    assert announcement_text(moved).endswith("moved to Tue 2 Mar 14:00 (was Mon 1 Mar 09:00).")
    cancelled = payload | {"change": "booking.cancelled", "hostNames": ["A", "B", "C"]}
    assert announcement_text(cancelled) == "Megan \\*Bowen\\*'s Demo with A, B and C on Tue 2 Mar 14:00 was cancelled."


def test_the_list_and_the_note_to_the_creator() -> None:
    team = view()
    listed = check_card(team_links_list(team.team, [team.link], {team.link.id: URL}))
    assert "Team links of Sales" in read(listed) and URL in read(listed)
    assert "no team links yet" in read(check_card(team_links_list(None, [], {})))
    note = check_card(unreadable_card({"title": "Demo", "unreadable": ["Jo"], "notConnected": ["Ian"]}))
    assert "can't be read right now: Jo." in read(note) and "Waiting to connect their Outlook: Ian." in read(note)
