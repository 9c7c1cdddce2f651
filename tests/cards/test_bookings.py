"""The invitee's confirmation, the host notification, the upcoming list and the reschedule check."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from cards.bookings import (
    BOOKINGS_PER_PAGE,
    JOIN_URL_MISSING,
    booked,
    confirm_reschedule,
    host_notification,
    outlook_move_refused,
    upcoming_bookings,
)
from cards.verbs import cancel_reason_input_id
from scheduling.domain import BookingStatus
from scheduling.ports import Location, LocationKind
from scheduling.slots import Slot
from tests.cards.checks import (
    check_card,
    data_of,
    execute_by_title,
    executes,
    input_by_id,
    nodes,
    texts,
    walk,
)
from tests.cards.data import BASE_URL, QUESTIONS, booking, link, payload, utc

MANAGE = f"{BASE_URL}/manage/secret-token"
ICS = f"{BASE_URL}/ics/bk_0001.ics"


def _facts(card: dict[str, Any]) -> dict[str, str]:
    return {f["title"]: f["value"] for fs in nodes(card, "FactSet") for f in fs["facts"]}


def _urls(card: dict[str, Any]) -> dict[str, str]:
    return {a["title"]: a["url"] for a in nodes(card, "Action.OpenUrl")}


def test_booked_shows_both_zones_and_every_next_step() -> None:
    card = check_card(booked(booking(), link(), "Dana Host", "Europe/London", "Asia/Kolkata", MANAGE, ICS))
    assert "You're booked" in texts(card)
    facts = _facts(card)
    assert facts["When"] == "Tue 8 Dec 2026, 20:00\u201320:30 (Asia/Kolkata)"
    assert facts["Dana Host's time"] == "Tue 8 Dec 2026, 14:30\u201315:00 (Europe/London)"
    assert _urls(card) == {"Join Teams meeting": booking().join_url, "Add to calendar": ICS, "Manage booking": MANAGE}
    assert data_of(execute_by_title(card, "Reschedule")) == {
        "verb": "booking.reschedule",
        "bookingId": "bk_0001",
        "tz": "Asia/Kolkata",
    }
    cancel = execute_by_title(card, "Cancel the meeting")
    assert data_of(cancel) == {
        "verb": "booking.cancel",
        "bookingId": "bk_0001",
        "reasonInputId": "cancelReason.bk_0001",
    }
    assert input_by_id(card, cancel_reason_input_id("bk_0001"))["isMultiline"]
    # the manage token never travels in action data
    assert "secret-token" not in str([a["data"] for a in executes(card)])


def test_booked_without_a_join_link_says_the_host_will_send_details() -> None:
    card = check_card(booked(booking(join_url=None), link(), "Dana", "Europe/London", "Europe/London", MANAGE, ICS))
    assert "Dana will send the meeting details." in texts(card)
    assert "Join Teams meeting" not in _urls(card)
    assert "Dana's time" not in _facts(card)  # same zone: one time is enough


def test_booked_in_person_shows_the_place_and_no_join_note() -> None:
    place = link(location=Location(LocationKind.IN_PERSON, "Building 4"))
    card = check_card(booked(booking(join_url=None), place, "Dana", "UTC", "UTC", MANAGE, ICS))
    assert _facts(card)["Where"] == "In person: Building 4"
    assert not any("send the meeting details" in t for t in texts(card))


def test_booked_states_other_than_confirmed() -> None:
    pending = check_card(booked(booking(status=BookingStatus.PENDING), link(), "Dana", "UTC", "UTC", MANAGE, ICS))
    assert "Your time is held" in texts(pending)
    cancelled = check_card(
        booked(
            replace(booking(status=BookingStatus.CANCELLED), cancel_reason="Sick *today*"),
            link(),
            "Dana",
            "UTC",
            "UTC",
            MANAGE,
            ICS,
        )
    )
    assert r"Reason: Sick \*today\*" in texts(cancelled)
    assert not executes(cancelled) and "actions" not in cancelled


def test_host_notification_for_a_new_booking() -> None:
    card = check_card(host_notification("booking.created", payload(), "Europe/London", QUESTIONS))
    assert "New booking from Priya Patel" in texts(card)
    facts = _facts(card)
    assert facts["When"] == "Tue 8 Dec 2026, 14:30\u201315:00 (Europe/London)"
    assert facts["Invitee's time"] == "Tue 8 Dec 2026, 20:00\u201320:30 (Asia/Kolkata)"
    assert facts["Invitee"] == r"Priya Patel \<priya@fabrikam.example>"
    assert facts["Company"] == "Fabrikam"
    assert facts["What would you like to discuss?"] == "Pricing\n\nand rollout"
    assert facts["Notes"] == "Looking forward!"
    assert "Join Teams meeting" in _urls(card)
    assert data_of(execute_by_title(card, "Cancel the meeting"))["bookingId"] == "bk_0001"
    assert not any(JOIN_URL_MISSING in t for t in texts(card))


def test_host_notification_warns_when_teams_dropped_the_meeting() -> None:
    card = check_card(host_notification("booking.created", payload(join_url=None), "Europe/London"))
    warning = "⚠ Teams didn't add a meeting link — your tenant's policy may block it."
    assert any(t.startswith(warning) for t in texts(card))
    assert "Join Teams meeting" not in _urls(card)
    assert _facts(card)[r"q\_company"] == "Fabrikam"  # without the questions the (escaped) id stands in


def test_host_notification_for_reschedule_and_cancellation() -> None:
    moved = check_card(host_notification("booking.rescheduled", payload("booking.rescheduled"), "Europe/London"))
    assert "Priya Patel's meeting was moved" in texts(moved)
    assert _facts(moved)["Was"] == "Mon 7 Dec 2026, 10:00\u201310:30"
    cancelled = check_card(host_notification("booking.cancelled", payload("booking.cancelled"), "Europe/London"))
    assert "Priya Patel cancelled" in texts(cancelled)
    assert _facts(cancelled)["Reason"] == r"Something came up, \*\*sorry\*\*"
    assert [a["title"] for a in executes(cancelled)] == ["Upcoming"]
    by_host = check_card(host_notification("booking.cancelled", payload("booking.cancelled") | {"by": "host"}, "UTC"))
    assert "You cancelled the meeting with Priya Patel" in texts(by_host)


def test_host_notification_for_changes_the_host_made_in_outlook() -> None:
    outlook = {"by": "outlook", "source": "outlook"}
    moved = check_card(host_notification("booking.rescheduled", payload("booking.rescheduled") | outlook, "UTC"))
    assert "The meeting with Priya Patel was moved in Outlook" in texts(moved)
    assert not [t for t in texts(moved) if "outside this link's rules" in t]
    odd = check_card(
        host_notification(
            "booking.rescheduled", payload("booking.rescheduled") | outlook | {"outsideRules": True}, "UTC"
        )
    )
    assert [t for t in texts(odd) if "outside this link's rules" in t]
    cancelled = check_card(host_notification("booking.cancelled", payload("booking.cancelled") | outlook, "UTC"))
    assert "The meeting with Priya Patel was cancelled in Outlook" in texts(cancelled)
    assert [a["title"] for a in executes(cancelled)] == ["Upcoming"]


def test_a_move_in_outlook_onto_another_booking_says_what_happened_and_what_to_do() -> None:
    notice = payload("booking.rescheduled") | {
        "by": "outlook",
        "version": 1,
        "requestedStart": "2026-12-21T09:15:00Z",
        "requestedEnd": "2026-12-21T09:45:00Z",
        "conflict": {
            "bookingId": "bk_other",
            "title": "Demo *call*",
            "inviteeName": "Ola Other",
            "hostName": "",
            "start": "2026-12-21T09:00:00Z",
            "end": "2026-12-21T09:30:00Z",
        },
    }
    card = check_card(outlook_move_refused(notice, "UTC"))
    shown = " ".join(texts(card))
    assert "The meeting with Priya Patel was moved in Outlook, but not in Slotwise" in shown
    facts = _facts(card)
    assert set(facts) >= {"Meeting", "Moved in Outlook to", "Overlaps", "Slotwise still holds"}
    assert "Ola Other" in facts["Overlaps"] and "\\*call\\*" in facts["Overlaps"]  # escaped like every name
    assert "kept the old time" in shown and "Move one of them" in shown
    assert [a["title"] for a in executes(card)] == ["Reschedule", "Upcoming"]
    assert data_of(execute_by_title(card, "Reschedule"))["bookingId"] == notice["bookingId"]
    # another member's meeting is named by its host only; none found: "another Slotwise booking"
    theirs = notice | {"conflict": {"hostName": "Ian Second", "start": "2026-12-21T09:00:00Z"}}
    assert "a Slotwise meeting of Ian Second" in _facts(check_card(outlook_move_refused(theirs, "UTC")))["Overlaps"]
    unknown = check_card(outlook_move_refused(notice | {"conflict": {}}, "UTC"))
    assert _facts(unknown)["Overlaps"] == "another Slotwise booking"


def test_host_notification_survives_a_sparse_payload() -> None:
    card = check_card(host_notification("booking.created", {"start": "garbage", "answers": ["x"]}, "UTC"))
    assert "New booking from Someone" in texts(card)
    assert [a["title"] for a in executes(card)] == ["Upcoming"]  # no booking id, no booking actions


def test_upcoming_lists_bookings_soonest_first_with_cancel_each() -> None:
    items = [booking(booking_id=f"bk_{i}", start=utc(2026, 12, 20, 9) - timedelta(days=i)) for i in range(10)]
    items[0] = replace(items[0], status=BookingStatus.PENDING)
    card = check_card(upcoming_bookings(items, {"et_0001": link()}, "Asia/Kolkata"))
    cancels = [data_of(a)["bookingId"] for a in executes(card) if a.get("title") == "Cancel the meeting"]
    assert cancels == [f"bk_{i}" for i in range(9, 9 - BOOKINGS_PER_PAGE, -1)]
    reasons = [n["id"] for n in walk(card) if n.get("type") == "Input.Text"]
    assert reasons == [cancel_reason_input_id(b) for b in cancels]
    assert data_of(execute_by_title(card, "Later page")) == {"verb": "bookings.upcoming", "page": 1}
    later = check_card(upcoming_bookings(items, {"et_0001": link()}, "Asia/Kolkata", page=1))
    assert "Still being written to your calendar." in texts(later)
    assert any(t.startswith("Intro call with Priya Patel") for t in texts(later))


def test_upcoming_empty_and_deleted_links() -> None:
    empty = check_card(upcoming_bookings([], {}, "UTC"))
    assert any("Nothing booked yet" in t for t in texts(empty))
    orphan = check_card(upcoming_bookings([booking(join_url=None)], {}, "UTC"))
    assert any(t.startswith("A deleted link with") for t in texts(orphan))
    assert any(JOIN_URL_MISSING in t for t in texts(orphan))


def test_confirm_reschedule() -> None:
    new = Slot(utc(2026, 12, 9, 10), utc(2026, 12, 9, 10, 30))
    card = check_card(confirm_reschedule(booking(), link(), "Dana", new, "Asia/Kolkata"))
    facts = _facts(card)
    assert facts["From"] == "Tue 8 Dec 2026, 20:00\u201320:30"
    assert facts["To"] == "**Wed 9 Dec 2026, 15:30\u201316:00**"
    assert data_of(execute_by_title(card, "Move it")) == {
        "verb": "booking.move",
        "bookingId": "bk_0001",
        "start": "2026-12-09T10:00:00Z",
        "tz": "Asia/Kolkata",
    }
    assert data_of(execute_by_title(card, "Pick another time"))["verb"] == "booking.reschedule"


def test_host_notification_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match=r"booking\.exploded"):
        host_notification("booking.exploded", payload(), "UTC")  # type: ignore[arg-type]
