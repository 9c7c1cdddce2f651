"""Every builder, with realistic and hostile data, through every check in ``checks.check_card``.

The catalog holds at least one card per public builder (a test below makes sure none is missing),
in several zones (Europe/London in its DST week, America/New_York, Asia/Kolkata), with 5-minute
grids, long text and hostile text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

import cards
from cards import (
    api_key_created,
    api_key_offer,
    api_keys_list,
    booked,
    confirm_booking,
    confirm_reschedule,
    connect_prompt,
    consent_blocked,
    first_run,
    generic_error,
    help_card,
    host_notification,
    link_created,
    link_inactive,
    links_list,
    outlook_move_refused,
    reconnect_required,
    reminder_card,
    request_refused,
    settings_editor,
    slot_picker,
    slot_picker_unfurl,
    slot_taken,
    unfurl_notice,
    unfurl_preview,
    upcoming_bookings,
    webhook_disabled,
)
from scheduling.api_keys import ApiKey
from scheduling.domain import BookingStatus, LinkKind
from scheduling.ports import Location, LocationKind
from scheduling.rules import Availability
from tests.cards.checks import check_card, features_newer_than, texts
from tests.cards.data import (
    BASE_URL,
    HOSTILE_TEXT,
    LONG_TEXT,
    QUESTIONS,
    booking,
    calendars,
    link,
    payload,
    utc,
    week_slots,
)

DST_WEEK = date(2026, 10, 19)  # Europe/London leaves BST on Sun 25 Oct 2026
ZONES = ("Europe/London", "America/New_York", "Asia/Kolkata")
URL = f"{BASE_URL}/book/dana/intro-call"


def _catalog() -> dict[str, Callable[[], dict[str, Any]]]:
    hostile = link(
        title=HOSTILE_TEXT,
        description=LONG_TEXT + HOSTILE_TEXT,
        location=Location(LocationKind.IN_PERSON, "Room [4](javascript:x) **now**"),
        questions=(*QUESTIONS, QUESTIONS[0].__class__(id="q_x", label=HOSTILE_TEXT, required=True)),
    )
    slots_5min = week_slots("Europe/London", DST_WEEK, interval=5)
    out: dict[str, Callable[[], dict[str, Any]]] = {
        "link_created": lambda: link_created(link(), URL, "Dana Host"),
        "link_created/hostile": lambda: link_created(hostile, URL, HOSTILE_TEXT),
        "link_created/single-use-off-team": lambda: link_created(
            link(single_use=True, active=False, kind=LinkKind.ROUND_ROBIN), URL, "Dana"
        ),
        "links_list": lambda: links_list(
            [link(), replace(link(), id="et_2", slug="demo", title="Demo")], BASE_URL, "dana"
        ),
        "links_list/empty": lambda: links_list([], BASE_URL, "dana"),
        "links_list/paged": lambda: links_list(
            [replace(hostile, id=f"et_{i}", slug=f"l{i}", title=LONG_TEXT) for i in range(30)],
            BASE_URL,
            "dana",
            page=1,
            team_slugs={"team1": "sales"},
        ),
        "settings_editor": lambda: settings_editor(link()),
        "settings_editor/errors": lambda: settings_editor(
            link(),
            {"durations": "Durations must be positive.", "form": "Something else"},
            {"durations": "-5, abc", "time_zone": "Mars/Olympus", "daily_cap": "x"},
        ),
        "settings_editor/hostile": lambda: settings_editor(hostile),
        "first_run": lambda: first_run("Asia/Kolkata", Availability.business_hours("Asia/Kolkata")),
        "first_run/summary": lambda: first_run("America/New_York", HOSTILE_TEXT),
        "first_run/errors": lambda: first_run(
            "Mars/Base",
            HOSTILE_TEXT,
            errors={
                "profile.time_zone": HOSTILE_TEXT,
                "profile.hours": "'Mon 9-5' is not a time range like 09:00-17:00.",
            },
        ),
        "first_run/saved": lambda: first_run(
            "Europe/London", Availability.business_hours("Europe/London"), saved_links=3
        ),
        "first_run/calendars": lambda: first_run(
            "Europe/London", Availability.business_hours("Europe/London"), calendars=calendars()
        ),
        "first_run/calendars-many-hostile": lambda: first_run(
            "Europe/London",
            HOSTILE_TEXT,
            calendars=calendars(extra=60, name=HOSTILE_TEXT),
            errors={"profile.conflict_calendars": HOSTILE_TEXT, "profile.write_calendar": "Read-only."},
            values={"profile.conflict_calendars": HOSTILE_TEXT + ",x", "profile.write_calendar": "nope"},
        ),
        "first_run/calendars-unreadable": lambda: first_run("UTC", "Mon 09:00-17:00", calendars_unreadable=True),
        "reminder_card": lambda: reminder_card(
            payload() | {"reminderMinutes": 15}, "Europe/London", utc(2026, 12, 8, 14, 15), QUESTIONS
        ),
        "reminder_card/no-join-hostile": lambda: reminder_card(
            payload(join_url=None, invitee_name=HOSTILE_TEXT, notes=LONG_TEXT * 3) | {"reminderMinutes": 1440},
            "Asia/Kolkata",
            utc(2026, 12, 7, 14, 30),
        ),
        "reminder_card/begun-unknown-zone": lambda: reminder_card(payload(), "Mars/Base", utc(2026, 12, 8, 14, 40)),
        "connect_prompt": lambda: connect_prompt(f"{BASE_URL}/auth/start?user=u1&sig=abc"),
        "connect_prompt/admin_approved": lambda: connect_prompt(
            f"{BASE_URL}/auth/start?user=u1&sig=abc", admin_approved=True
        ),
        "help_card": lambda: help_card(),
        "help_card/suggestion": lambda: help_card(HOSTILE_TEXT),
        "reconnect_required/host": lambda: reconnect_required(f"{BASE_URL}/auth/start?s=abc", True),
        "reconnect_required/invitee": lambda: reconnect_required(f"{BASE_URL}/auth/start?s=abc", False),
        "consent_blocked": lambda: consent_blocked(
            "https://login.microsoftonline.com/tenant-1/adminconsent?client_id=abc"
        ),
        "slot_taken": lambda: slot_taken([s.start for s in slots_5min[:20]], "Asia/Kolkata", link()),
        "slot_taken/none": lambda: slot_taken([], "Asia/Kolkata", link(), reschedule_booking_id="bk_1"),
        "link_inactive": lambda: link_inactive(),
        "generic_error": lambda: generic_error(HOSTILE_TEXT + " " + LONG_TEXT, "0123456789ab"),
        "request_refused": lambda: request_refused(HOSTILE_TEXT + " " + LONG_TEXT),
        "confirm_booking": lambda: confirm_booking(
            link(questions=QUESTIONS), "Dana Host", slots_5min[0], "Asia/Kolkata"
        ),
        "confirm_booking/errors": lambda: confirm_booking(
            hostile,
            HOSTILE_TEXT,
            slots_5min[3],
            "America/New_York",
            errors={
                "name": "Please enter your name.",
                "answers.q_company": "Please answer 'Company'.",
                "timeZone": "bad zone",
            },
            values={"name": "", "email": "priya@", "answers.q_topic": HOSTILE_TEXT},
        ),
        "confirm_reschedule": lambda: confirm_reschedule(booking(), link(), "Dana", slots_5min[10], "Asia/Kolkata"),
        "booked/confirmed": lambda: booked(
            booking(),
            link(),
            "Dana Host",
            "Europe/London",
            "Asia/Kolkata",
            f"{BASE_URL}/manage/tok",
            f"{BASE_URL}/ics/bk_0001.ics",
        ),
        "booked/no-join": lambda: booked(
            booking(join_url=None),
            link(),
            "Dana",
            "Europe/London",
            "Europe/London",
            f"{BASE_URL}/manage/tok",
            f"{BASE_URL}/ics/bk_0001.ics",
        ),
        "booked/pending": lambda: booked(
            booking(status=BookingStatus.PENDING),
            hostile,
            HOSTILE_TEXT,
            "Europe/London",
            "America/New_York",
            f"{BASE_URL}/manage/t",
            f"{BASE_URL}/ics/x.ics",
        ),
        "booked/cancelled": lambda: booked(
            replace(booking(status=BookingStatus.CANCELLED), cancel_reason=HOSTILE_TEXT),
            link(),
            "Dana",
            "Europe/London",
            "Asia/Kolkata",
            f"{BASE_URL}/manage/t",
            f"{BASE_URL}/ics/x.ics",
        ),
        "booked/released": lambda: booked(
            booking(status=BookingStatus.RELEASED),
            link(),
            "Dana",
            "Europe/London",
            "Asia/Kolkata",
            f"{BASE_URL}/manage/t",
            f"{BASE_URL}/ics/x.ics",
        ),
        "upcoming_bookings": lambda: upcoming_bookings(
            [
                booking(
                    booking_id=f"bk_{i}",
                    start=utc(2026, 12, 1 + i, 9),
                    invitee_name=HOSTILE_TEXT,
                    join_url=None if i % 2 else "https://teams.microsoft.com/l/meetup-join/x",
                )
                for i in range(20)
            ],
            {"et_0001": hostile},
            "Asia/Kolkata",
            page=1,
        ),
        "upcoming_bookings/empty": lambda: upcoming_bookings([], {}, "UTC"),
        "unfurl_preview": lambda: unfurl_preview(hostile, HOSTILE_TEXT),
        "unfurl_notice": lambda: unfurl_notice("This link isn't taking bookings", HOSTILE_TEXT, URL),
        "slot_picker_unfurl/empty": lambda: slot_picker_unfurl(link(), "Dana", [], "UTC", URL),
    }
    for kind in ("booking.created", "booking.rescheduled", "booking.cancelled"):
        out[f"host_notification/{kind}"] = lambda k=kind: host_notification(k, payload(k), "Europe/London", QUESTIONS)  # type: ignore[misc]
        out[f"host_notification/{kind}/no-join"] = lambda k=kind: host_notification(
            k,
            payload(
                k,
                join_url=None,
                invitee_name=HOSTILE_TEXT,  # type: ignore[misc]
                notes=LONG_TEXT * 3,
            ),
            "Asia/Kolkata",
        )
    moved = {"requestedStart": "2026-12-09T15:00:00Z", "requestedEnd": "2026-12-09T15:30:00Z"}
    out["outlook_move_refused"] = lambda: outlook_move_refused(
        payload("booking.rescheduled")
        | moved
        | {
            "conflict": {
                "title": "Demo",
                "inviteeName": "Bo",
                "start": "2026-12-09T15:15:00Z",
                "end": "2026-12-09T15:45:00Z",
            }
        },
        "Europe/London",
    )
    out["outlook_move_refused/hostile-no-conflict"] = lambda: outlook_move_refused(
        payload("booking.rescheduled", invitee_name=HOSTILE_TEXT) | moved | {"title": HOSTILE_TEXT, "conflict": "x"},
        "Asia/Kolkata",
    )
    for zone_name in ZONES:
        out[f"slot_picker/{zone_name}"] = lambda z=zone_name: slot_picker(
            link(),
            "Dana Host",
            week_slots(z, DST_WEEK, interval=5),
            z,  # type: ignore[misc]
            DST_WEEK,
            None,
        )
        out[f"slot_picker/{zone_name}/viewer-Kolkata"] = lambda z=zone_name: slot_picker(
            link(z),
            "Dana Host",
            week_slots(z, DST_WEEK, interval=5),  # type: ignore[misc]
            "Asia/Kolkata",
            DST_WEEK,
            None,
            selected_day=date(2026, 10, 22),
            offset=48,
        )
        out[f"slot_picker_unfurl/{zone_name}"] = lambda z=zone_name: slot_picker_unfurl(
            hostile, HOSTILE_TEXT, week_slots(z, DST_WEEK), z, URL
        )  # type: ignore[misc]
    out["slot_picker/empty-week"] = lambda: slot_picker(link(), "Dana", [], "Asia/Kolkata", DST_WEEK, date(2026, 11, 3))
    out["slot_picker/nothing-later"] = lambda: slot_picker(
        hostile,
        HOSTILE_TEXT,
        [],
        "UTC",
        DST_WEEK,
        None,
        min_week_start=DST_WEEK,
        max_week_start=DST_WEEK,
        auto_refresh=False,
    )
    out["slot_picker/reschedule"] = lambda: slot_picker(
        link(),
        "Dana",
        slots_5min,
        "Europe/London",
        DST_WEEK,
        None,
        reschedule_booking_id="bk_0001",
        time_zones=("Mars/Base",),
    )
    out.update(_api_cards(hostile_name=HOSTILE_TEXT))
    out.update(_team_cards(hostile_name=HOSTILE_TEXT))
    return out


def _team_cards(hostile_name: str) -> dict[str, Callable[[], dict[str, Any]]]:
    """Team links' cards (issue 12, cards.team): the card in the channel, its settings, the list, the notes."""
    from cards.team import team_link_card, team_links_list, team_settings_card, unreadable_card
    from scheduling.domain import ConnectionStatus, Team, TeamMember, User
    from scheduling.teams import MAX_MEMBERS, Member, TeamLinkSettings, TeamLinkView

    team_link = replace(link(), team_id="team-1", owner_user_id=None, kind=LinkKind.ROUND_ROBIN)
    people = [
        User(
            id=f"u{n:030d}",
            tenant_id="t",
            aad_object_id=f"a{n}",
            display_name=hostile_name if n == 0 else f"Member {n}",
            email=f"m{n}@contoso.example",
            connection_status=ConnectionStatus.CONNECTED if n % 3 else ConnectionStatus.NOT_CONNECTED,
        )
        for n in range(MAX_MEMBERS)
    ]
    team = Team(id="team-1", tenant_id="t", name=hostile_name, slug="sales")
    members = tuple(Member(TeamMember(u.id, daily_cap=2), u) for u in people)
    full = TeamLinkView(team_link, team, TeamLinkSettings(team_link.id, created_by=people[0].id), members, people[0])
    url = f"{BASE_URL}/book/team/sales/{team_link.slug}"
    return {
        "team_link_card": lambda: team_link_card(full, url),
        "team_link_card/viewer": lambda: team_link_card(full, url, viewer_id=people[1].id, note=hostile_name),
        "team_settings_card": lambda: team_settings_card(full),
        "team_settings_card/errors": lambda: team_settings_card(
            full, {"title": "Give the link a title.", f"members.{people[0].id}.weight": "Use 1 to 100."}
        ),
        "team_links_list": lambda: team_links_list(team, [team_link] * 25, {team_link.id: url}),
        "unreadable_card": lambda: unreadable_card({"title": hostile_name, "unreadable": [hostile_name]}),
    }


def _api_cards(hostile_name: str) -> dict[str, Callable[[], dict[str, Any]]]:
    """The REST API's cards (issue 13): API keys and the webhook-disabled notice."""
    made = utc(2026, 10, 19, 9, 0)
    key = ApiKey("k1", "u1", "t1", "swk_AbCdEfGh", "CRM sync", made, last_used_at=utc(2026, 10, 20, 16, 5))
    hostile = ApiKey("k2", "u1", "t1", "swk_**x**_[a]", hostile_name, made)
    docs = f"{BASE_URL}/api/v1/openapi.json"
    disabled = {
        "subscriptionId": "wh_1",
        "url": "https://hooks.example.com/slotwise",
        "description": "CRM",
        "reason": "The receiver answered 410 Gone, so it was disabled at once.",
    }
    return {
        "api_key_offer": lambda: api_key_offer(docs),
        "api_key_created": lambda: api_key_created(key, "swk_" + "A_b-" * 10 + "xyz", docs),
        "api_key_created/hostile": lambda: api_key_created(hostile, "swk_" + "_" * 43, docs),
        "api_keys_list": lambda: api_keys_list([key, hostile], "Asia/Kolkata", "Revoked Old (swk_Zz)."),
        "api_keys_list/empty": lambda: api_keys_list([], "Europe/London"),
        "api_keys_list/many": lambda: api_keys_list([key] * 30, "America/New_York"),
        "webhook_disabled": lambda: webhook_disabled(disabled, docs),
        "webhook_disabled/hostile": lambda: webhook_disabled(
            {"subscriptionId": hostile_name, "url": hostile_name, "description": hostile_name, "reason": hostile_name},
            docs,
        ),
    }


CATALOG = _catalog()


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_card_passes_every_check(name: str) -> None:
    built = CATALOG[name]()
    check_card(built)
    json.dumps(built)  # plain JSON, nothing exotic


def test_catalog_covers_every_public_builder() -> None:
    builders = {
        n
        for n in cards.__all__
        if callable(getattr(cards, n))
        and n
        not in (
            "escape_markdown",
            "is_verb",
            "parse_settings",
            "parse_profile",
            "booking_url",
            "team_booking_url",
            "unfurl_response",
            "Verb",
            # helpers the bot uses beside the cards (text, ids, labels, parsers), not cards
            "NotificationKind",
            "announcement_text",
            "cancel_reason_input_id",
            "durations_label",
            "parse_calendar_choice",
            "parse_team_settings",
            "utc_iso",
            "week_start_of",
        )
    }
    covered = {name.split("/")[0] for name in CATALOG}
    assert builders <= covered, builders - covered


@pytest.mark.parametrize("name", [n for n in sorted(CATALOG) if n.startswith(("slot_picker_unfurl", "unfurl"))])
def test_unfurl_cards_are_version_1_3(name: str) -> None:
    built = CATALOG[name]()
    assert built["version"] == "1.3"
    assert features_newer_than(built, "1.3") == []


def test_version_checker_catches_newer_features() -> None:
    """The 1.3 checker is driven by the schema's annotations: prove it flags what it must."""
    picker = CATALOG["slot_picker/Asia/Kolkata"]()
    found = "\n".join(features_newer_than(picker, "1.3"))
    assert "Action.Execute needs 1.4" in found
    assert "refresh needs 1.4" in found
    assert "style uses TextBlockStyle (1.5)" in found


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_hostile_text_never_renders_as_markdown(name: str) -> None:
    built = CATALOG[name]()
    for value in texts(built):
        # A token counts only when its first character is not backslash-escaped.
        for token in (r"\*\*bold", r"\[link", r"\]\(javascript:", r"<script", r"\{\{DATE", r"_x_", r"`code", r"~~y"):
            assert not re.search(r"(?<!\\)" + token, value), (token, value)
        assert "\u202e" not in value
    assert "javascript:" not in json.dumps([n.get("url") for n in _urls(built)])


def _urls(node: Any) -> list[dict[str, Any]]:
    from tests.cards.checks import walk

    return [n for n in walk(node) if "url" in n]
