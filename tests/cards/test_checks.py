"""The checker itself: broken cards must be caught, so a passing catalog means something."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cards.elements import card, choice_set, execute, input_text, text
from tests.cards.checks import problems


def _ok() -> dict[str, Any]:
    return card([text("Hello"), input_text("name", "Name")], [execute("Go", "link.edit", {"linkId": "et_1"})])


def test_a_good_card_has_no_problems() -> None:
    assert problems(_ok()) == []


def _broken(mutate: Any) -> list[str]:
    c = copy.deepcopy(_ok())
    mutate(c)
    return problems(c)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c["body"].append({"type": "Carousel", "pages": []}), "schema"),
        (lambda c: c["body"][0].update(color="purple"), "schema"),
        (lambda c: c["body"].append(input_text("name", "Again")), "duplicate input ids"),
        (lambda c: c["body"].append(choice_set("pick", "Pick", [("", "a")])), "choice without title"),
        (lambda c: c["body"].append(choice_set("pick", "Pick", [("A", "a,b")])), "comma"),
        (lambda c: c["body"].append(choice_set("pick", "Pick", [("A", "a")], "b")), "not choices"),
        (
            lambda c: c["body"].append(
                {"type": "Input.ChoiceSet", "id": "tz", "style": "filtered", "choices": [{"title": "A", "value": "a"}]}
            ),
            "schema",
        ),
        (lambda c: c["actions"][0].update(verb="link.explode"), "unknown verb"),
        (lambda c: c["actions"][0]["data"].pop("linkId"), "missing data keys"),
        (lambda c: c["actions"][0]["data"].update(secret="x"), "unexpected data keys"),
        (lambda c: c["actions"][0].pop("fallback"), "without an Action.Submit fallback"),
        (lambda c: c["actions"][0]["fallback"]["data"].update(linkId="other"), "same data"),
        (lambda c: c["actions"].append({"type": "Action.Submit", "title": "x", "data": {}}), "outside an Execute"),
        (lambda c: c["body"].append(input_text("linkId", "Clash")), "collide"),
        (
            lambda c: c["actions"].extend(
                [{"type": "Action.OpenUrl", "title": str(i), "url": "https://x.example"} for i in range(6)]
            ),
            "action bar",
        ),
        (
            lambda c: c["actions"].append({"type": "Action.OpenUrl", "title": "x", "url": "javascript:alert(1)"}),
            "non-http",
        ),
        (lambda c: c["body"].append(text("${name}")), "templating"),
        (lambda c: c["body"].append(text("x" * 30_000)), "size"),
        (lambda c: c.update(version="1.3"), "newer than 1.3"),
        (lambda c: c.update(version="1.6"), "version 1.5 or 1.3"),
    ],
)
def test_broken_cards_are_caught(mutate: Any, expected: str) -> None:
    found = _broken(mutate)
    assert any(expected in p for p in found), found
