"""bot.errors: "you asked for something I can't do, here is the rule" versus "something failed on our side,
try again (reference)". Every request-side error of the tree against every our-side one."""

from __future__ import annotations

import logging
import re

import pytest

from bot.context import ErrorScope, UnknownSender
from bot.errors import error_card
from bot.routing import BadAction
from graph.errors import GraphError
from scheduling.correlation import request_scope
from scheduling.errors import (
    Conflict,
    HostUnavailable,
    IdempotencyKeyReused,
    IntegrationError,
    InvalidQuery,
    InvalidRule,
    NotFound,
    OutsideBookingWindow,
    SchedulingError,
    SlotUnavailable,
    SlotwiseError,
    UnknownTimeZone,
    ValidationFailed,
)
from scheduling.rules import DURATION_RULE
from storage.errors import StorageUnavailable
from tests.cards.checks import check_card, texts, unescape

REFUSED = "I can't do that"
OUR_SIDE = "Something went wrong on our side"
REFERENCE = re.compile(r"\b[0-9a-f]{12}\b")

REQUEST_ERRORS: list[SlotwiseError] = [
    InvalidRule("durations", DURATION_RULE),
    InvalidRule("title", "A title can be at most 100 characters long (this one has 140)."),
    UnknownTimeZone("Mars/Olympus"),
    InvalidQuery("start", "That week is too far away."),
    OutsideBookingWindow("That time is too soon: book at least 4 hours ahead."),
    SlotUnavailable(),
    ValidationFailed({"email": "Enter an email address like name@example.com."}),
    IdempotencyKeyReused(),
    NotFound("You have no link called 'demo'. Type 'my links' to see them."),
    Conflict("Someone else changed this link; open it again."),
    SchedulingError("Some other rule."),
    BadAction("This button isn't supported by this version of Slotwise."),
    UnknownSender(),
]
OUR_SIDE_ERRORS: list[SlotwiseError] = [
    IntegrationError("Teams didn't answer. Please try again later."),
    GraphError(status=500),
    HostUnavailable("Dana's calendar can't be read right now."),
    StorageUnavailable(),
]


@pytest.mark.parametrize("exc", REQUEST_ERRORS, ids=lambda e: type(e).__name__)
def test_a_request_error_gets_the_rule_and_no_try_again(exc: SlotwiseError, caplog: pytest.LogCaptureFixture) -> None:
    card = check_card(error_card(exc, ErrorScope()))
    shown = [unescape(t) for t in texts(card)]
    assert shown[0] == REFUSED
    assert exc.message in shown
    assert not any("try again in a moment" in t.lower() or REFERENCE.search(t) for t in shown)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # a user's mistake is no incident


@pytest.mark.parametrize("exc", OUR_SIDE_ERRORS, ids=lambda e: type(e).__name__)
def test_a_failure_on_our_side_says_try_again_with_a_logged_reference(
    exc: SlotwiseError, caplog: pytest.LogCaptureFixture
) -> None:
    card = check_card(error_card(exc, ErrorScope()))
    shown = [unescape(t) for t in texts(card)]
    assert shown[0] == OUR_SIDE
    assert exc.message in shown
    assert any("try again" in t.lower() for t in shown[2:])
    [reference] = {m for t in shown for m in REFERENCE.findall(t)}
    logged = [r for r in caplog.records if reference in r.getMessage()]
    assert logged and logged[0].levelno >= logging.WARNING and logged[0].exc_info


def test_a_bug_shows_no_details_only_a_reference_that_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    card = check_card(error_card(KeyError("secret_column"), ErrorScope()))
    shown = [unescape(t) for t in texts(card)]
    assert shown[0] == OUR_SIDE
    assert not any("secret_column" in t for t in shown)
    [reference] = {m for t in shown for m in REFERENCE.findall(t)}
    [record] = [r for r in caplog.records if reference in r.getMessage()]
    assert record.levelno == logging.ERROR and record.exc_info is not None


def test_each_failure_gets_its_own_reference() -> None:
    first, second = (error_card(RuntimeError("x"), ErrorScope()) for _ in range(2))
    refs = [{m for t in texts(c) for m in REFERENCE.findall(t)} for c in (first, second)]
    assert refs[0] and refs[1] and refs[0] != refs[1]


def test_inside_a_request_the_reference_is_its_request_id(caplog: pytest.LogCaptureFixture) -> None:
    rid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    with request_scope(rid):  # a turn served over /api/messages (web.observability sets it)
        card = check_card(error_card(GraphError(status=500), ErrorScope()))
    shown = " ".join(unescape(t) for t in texts(card))
    assert f"reference {rid}" in shown
    assert [r for r in caplog.records if rid in r.getMessage()]  # the same id as the request's log lines
