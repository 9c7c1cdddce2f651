"""LinkService's rules on what a host asks for: one title limit (refused, never cut), lengths and windows
refused with the rule rather than silently replaced by a default."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from scheduling.domain import EventType, OutboxItem, User
from scheduling.errors import Conflict, InvalidRule
from scheduling.links import MAX_TITLE, LinkService, NewLink, title_problem
from scheduling.ports import CalendarPort, MailboxDefaults
from scheduling.rules import DURATION_RULE
from scheduling.stores import EventTypeStore
from tests.scheduling.strategies import props

HOST = User(
    id="u1",
    tenant_id="t1",
    aad_object_id="a1",
    display_name="Dana",
    email="dana@contoso.example",
    time_zone="Europe/London",
    handle="dana",
)


class Links:
    """Just enough of an EventTypeStore: slugs unique per owner, optimistic versions."""

    def __init__(self) -> None:
        self.rows: dict[str, EventType] = {}

    async def create(self, event_type: EventType, outbox: Sequence[OutboxItem] = ()) -> EventType:
        if any(r.slug == event_type.slug and r.owner_user_id == event_type.owner_user_id for r in self.rows.values()):
            raise Conflict("slug taken")
        self.rows[event_type.id] = event_type
        return event_type

    async def update(self, event_type: EventType) -> EventType:
        saved = replace(event_type, version=event_type.version + 1)
        self.rows[event_type.id] = saved
        return saved

    async def get(self, event_type_id: str) -> EventType | None:
        return self.rows.get(event_type_id)

    async def list_for_owner(self, tenant_id: str, owner_user_id: str) -> list[EventType]:
        return [r for r in self.rows.values() if r.tenant_id == tenant_id and r.owner_user_id == owner_user_id]


class Mailbox:
    async def mailbox_defaults(self, _host: Any) -> MailboxDefaults:
        return MailboxDefaults(time_zone="Europe/London")


def service() -> tuple[LinkService, Links]:
    store = Links()
    ids = iter(range(10**6))
    return LinkService(
        event_types=cast(EventTypeStore, store),
        calendar=cast(CalendarPort, Mailbox()),
        new_id=lambda: f"id{next(ids):06d}",
    ), store


@props(60)
@given(
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=MAX_TITLE).filter(
        lambda t: t.strip()
    )
)
@example("Quarterly planning sync with the whole product team about the roadmap, hiring, budget and risks")
async def test_a_title_within_the_limit_is_stored_as_typed(title: str) -> None:
    links, store = service()
    created = await links.create(HOST, NewLink(duration=30, title=title))
    assert created.title == title.strip()
    assert store.rows[created.id].title == title.strip()
    renamed = await links.update(HOST, replace(created, title=title[::-1]))
    assert renamed.title == title[::-1].strip()


async def test_html_like_titles_round_trip() -> None:
    links, store = service()
    created = await links.create(HOST, NewLink(title="<b>Q&A</b>"))
    assert store.rows[created.id].title == "<b>Q&A</b>"


@props(40)
@given(st.integers(MAX_TITLE + 1, 5000))
async def test_a_title_over_the_limit_is_refused_on_create_and_update_never_cut(length: int) -> None:
    links, store = service()
    with pytest.raises(InvalidRule) as raised:
        await links.create(HOST, NewLink(title="x" * length))
    assert raised.value.field == "title"
    assert raised.value.message == title_problem("x" * length)
    assert str(MAX_TITLE) in raised.value.message
    assert store.rows == {}
    created = await links.create(HOST, NewLink(title="Demo"))
    with pytest.raises(InvalidRule) as raised:
        await links.update(HOST, replace(created, title="y" * length))
    assert raised.value.field == "title"
    assert store.rows[created.id].title == "Demo"


def test_the_title_rule() -> None:
    assert title_problem("x" * MAX_TITLE) is None
    assert title_problem("  " + "x" * MAX_TITLE + "  ") is None  # surrounding spaces are not part of it
    assert title_problem("   ") is not None
    assert title_problem("x" * 95) is None  # once cut to 80 without a word


@pytest.mark.parametrize("duration", [0, -30, 1441, pytest.param(10**400, id="10**400")])
async def test_a_length_out_of_bounds_is_refused_with_the_rule(duration: int) -> None:
    links, store = service()
    with pytest.raises(InvalidRule) as raised:
        await links.create(HOST, NewLink(duration=duration))
    assert (raised.value.field, raised.value.message) == ("durations", DURATION_RULE)
    assert store.rows == {}


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (NewLink(window_days=0), "booking_window"),
        (NewLink(window_days=-3), "booking_window"),
        (NewLink(minimum_notice=-60), "minimum_notice"),
        (NewLink(buffer_before=-5), "buffer_before"),
    ],
)
async def test_zero_or_negative_rules_are_refused_not_replaced_by_defaults(request_: NewLink, field: str) -> None:
    links, store = service()
    with pytest.raises(InvalidRule) as raised:
        await links.create(HOST, request_)
    assert raised.value.field == field
    assert store.rows == {}
