"""Small pure pieces of the bot: verb routing coverage, the error-to-card mapping, booking URL recognition,
conversation references (the retry schedule is the core's: tests/scheduling/test_delivery.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from botbuilder.schema import Activity

from bot.actions import SlotsDay
from bot.context import ErrorScope, client_zone, conversation_reference, stored_reference, tenant_of
from bot.errors import error_card, error_reply
from bot.private import reply_from_payload, reply_payload
from bot.reply import Reply, SignIn
from bot.routing import ROUTES, BadAction, parse_action
from bot.unfurl import booking_target
from cards.verbs import ALL_VERBS
from graph.errors import ClaimsChallenge, ConsentRequired
from scheduling.errors import HostUnavailable, NotFound, SignInRequired, SlotUnavailable
from tests.bot.harness import fixture
from tests.cards.checks import check_card, nodes, texts

BASE = "https://slotwise.example.com"


def test_every_verb_has_a_route() -> None:
    assert set(ROUTES) == ALL_VERBS


@pytest.mark.parametrize(
    ("verb", "data", "problem"),
    [
        ("link.nuke", {}, "isn't supported"),
        (None, {}, "isn't supported"),
        ("link.edit", {}, "missing 'linkId'"),
        ("link.edit", {"linkId": ""}, "missing 'linkId'"),
        ("help", {"verb": "connect"}, "doesn't match"),
    ],
)
def test_the_edge_refuses_bad_actions(verb: object, data: dict[str, Any], problem: str) -> None:
    with pytest.raises(BadAction, match=problem):
        parse_action(verb, data)


def test_the_data_is_typed_at_the_edge() -> None:
    action = parse_action(
        "slots.day",
        {
            "linkId": "l",
            "tz": "Europe/Paris",
            "weekStart": "2026-12-07",
            "day": "2026-12-08",
            "offset": "24",
            "duration": 30,
        },
    )
    args = action.of(SlotsDay)
    assert (args.tz, args.offset, args.duration, args.day) == ("Europe/Paris", 24, 30, date(2026, 12, 8))
    with pytest.raises(BadAction, match="invalid 'page'"):
        parse_action("links.list", {"page": True})
    with pytest.raises(BadAction, match="without a zone"):
        parse_action("slots.pick", {"linkId": "l", "start": "2026-12-08T09:00:00", "tz": "UTC", "duration": 30})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"{BASE}/book/dana/intro", ("dana", "intro")),
        (f"{BASE}/book/dana/intro/?tz=Europe/Paris#x", ("dana", "intro")),
        (f"{BASE}/book/d%C3%A1na/intro", ("d\u00e1na", "intro")),
        ("HTTPS://SLOTWISE.EXAMPLE.COM/book/dana/intro", ("dana", "intro")),
        (f"{BASE}/book/team/sales/intro", None),
        (f"{BASE}/book/dana", None),
        (f"{BASE}/book/dana/intro/extra", None),
        (f"{BASE}/manage/token", None),
        ("http://slotwise.example.com/book/dana/intro", None),
        ("https://slotwise.example.com.evil.example/book/dana/intro", None),
        ("https://[::1/book/a/b", None),
    ],
)
def test_booking_urls_are_recognised(url: str, expected: tuple[str, str] | None) -> None:
    assert booking_target(BASE, url) == expected


def test_a_base_url_with_a_path_prefix() -> None:
    assert booking_target(f"{BASE}/slotwise/", f"{BASE}/slotwise/book/dana/intro") == ("dana", "intro")
    assert booking_target(f"{BASE}/slotwise", f"{BASE}/book/dana/intro") is None


def _scope(**kw: Any) -> ErrorScope:
    return ErrorScope(
        viewer_id="u1",
        sign_in=lambda claims: f"{BASE}/auth/start?state=s" + (f"&claims={claims}" if claims else ""),
        **kw,
    )


def _urls(card: dict[str, Any]) -> dict[str, str]:
    return {a["title"]: a["url"] for a in nodes(card, "Action.OpenUrl")}


def test_sign_in_errors_become_the_right_card() -> None:
    consent = check_card(error_card(ConsentRequired(admin_consent_url=f"{BASE}/adminconsent"), _scope()))
    assert texts(consent)[0] == "Your IT admin needs to approve Slotwise"
    mfa = check_card(error_card(ClaimsChallenge(claims="abc"), _scope()))
    assert _urls(mfa)["Reconnect"].endswith("&claims=abc")
    plain = check_card(error_card(SignInRequired("Sign in again."), _scope()))
    assert _urls(plain)["Reconnect"] == f"{BASE}/auth/start?state=s"


def test_a_host_problem_gives_the_sign_in_link_only_to_the_host() -> None:
    exc = HostUnavailable("Calendar broken.", reconnect_required=True, host_id="u1")
    assert "Reconnect" in _urls(error_card(exc, _scope()))
    other = check_card(error_card(exc, ErrorScope(viewer_id="u2", sign_in=lambda _c: "x")))
    assert _urls(other) == {}
    assert texts(other)[0] == "This host can't take bookings right now"


def test_only_a_card_with_the_viewers_sign_in_link_or_consent_page_is_private() -> None:
    consent = error_reply(ConsentRequired(admin_consent_url=f"{BASE}/adminconsent"), _scope())
    assert consent.private is not None and consent.private.sign_in == SignIn(admin_consent_url=f"{BASE}/adminconsent")
    mfa = error_reply(ClaimsChallenge(claims="abc"), _scope())
    assert mfa.private is not None and mfa.private.sign_in == SignIn(claims="abc", reconnect=True)
    own = error_reply(HostUnavailable("Calendar broken.", reconnect_required=True, host_id="u1"), _scope())
    assert own.private is not None and own.private.sign_in == SignIn(reconnect=True)
    others = HostUnavailable("Calendar broken.", reconnect_required=True, host_id="u2")
    assert error_reply(others, _scope()).private is None  # no link on it: fine to show the group
    assert error_reply(SignInRequired("Sign in again."), ErrorScope()).private is None  # no link without a viewer
    assert error_reply(NotFound("No such link."), _scope()).private is None


def test_a_private_reply_survives_the_outbox_and_a_malformed_one_is_refused() -> None:
    reply = Reply(card={"type": "AdaptiveCard", "version": "1.5", "body": []}, text="Is this the one?")
    assert reply_from_payload(reply_payload(reply)) == reply
    for bad in (None, "text", {"text": 3}, {"text": "", "card": None}, {"text": "x", "card": "not a card"}):
        assert reply_from_payload(bad) is None, bad


def test_plain_and_unexpected_errors() -> None:
    assert "No such link." in texts(error_card(NotFound("No such link."), _scope()))
    unknown_link = texts(error_card(SlotUnavailable(), _scope()))  # no link known: the message itself
    assert "That time is no longer available. Please pick another one." in unknown_link
    card = error_card(RuntimeError("database password is hunter2"), _scope())
    assert not any("hunter2" in t for t in texts(card))
    assert any("reference" in t for t in texts(card))


def test_conversation_references_round_trip_with_the_tenant() -> None:
    activity = Activity().deserialize(fixture("personal_message"))
    assert tenant_of(activity) == "7e2c1d5a-3b4f-4a6e-8c9d-1f2e3d4c5b6a"
    assert client_zone(activity) == "Europe/London"
    stored = conversation_reference(activity, tenant_of(activity))
    found = stored_reference(stored)
    assert found is not None
    reference, tenant = found
    assert (reference.conversation.id, reference.service_url, tenant) == (
        "a:1dana-personal-chat",
        "https://smba.trafficmanager.net/emea/",
        "7e2c1d5a-3b4f-4a6e-8c9d-1f2e3d4c5b6a",
    )
    assert stored_reference(None) is None
    assert stored_reference({"reference": {"conversation": {"id": "x"}}}) is None


def test_tenant_falls_back_to_the_conversation_and_zone_to_local_timezone() -> None:
    body = fixture("personal_message")
    body["channelData"] = {}
    body["entities"] = [{"type": "clientInfo", "locale": "en-US", "timezone": "Not/AZone"}]
    body["localTimezone"] = "Asia/Kolkata"
    activity = Activity().deserialize(body)
    assert tenant_of(activity) == "7e2c1d5a-3b4f-4a6e-8c9d-1f2e3d4c5b6a"
    assert client_zone(activity) == "Asia/Kolkata"
