"""The booking observer port (scheduling.observe) and the request id (scheduling.correlation): outcomes are
classified once, in the core, from the use case's result or error; the request id is per context and only
sane incoming ids are taken over."""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass, field

import pytest

from scheduling.booking import BookingService
from scheduling.correlation import (
    MAX_REQUEST_ID,
    begin_request,
    current_request_id,
    error_reference,
    new_request_id,
    request_scope,
    sane_request_id,
)
from scheduling.errors import HostUnavailable, SlotUnavailable, ValidationFailed
from scheduling.observe import NO_EVENTS, Action, BookingEvents, observed


@dataclass
class Heard:
    outcomes: list[tuple[Action, str]] = field(default_factory=list)

    def booking_outcome(self, action: Action, outcome: str) -> None:
        self.outcomes.append((action, outcome))


@dataclass(frozen=True)
class Outcome:
    replayed: bool = False
    confirmed: bool = True


class Service:
    def __init__(self, events: BookingEvents) -> None:
        self.events = events

    @observed("book")
    async def book(self, answer: object) -> object:
        if isinstance(answer, BaseException):
            raise answer
        return answer

    @observed("cancel")
    async def cancel(self) -> str:
        return "done"


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (Outcome(), "created"),
        (Outcome(replayed=True), "replayed"),
        (Outcome(confirmed=False), "pending"),  # the Outlook write may have happened: reconciliation settles it
        (SlotUnavailable(), "slot_unavailable"),
        (ValidationFailed({"email": "Enter an email address."}), "validation_failed"),
        (HostUnavailable("Dana's calendar can't be read right now."), "host_unavailable"),
        (KeyError("bug"), "error"),
    ],
)
async def test_each_booking_outcome_is_reported_once(answer: object, outcome: str) -> None:
    heard = Heard()
    service = Service(heard)
    if isinstance(answer, BaseException):
        with pytest.raises(type(answer)):
            await service.book(answer)
    else:
        assert await service.book(answer) is answer
    assert heard.outcomes == [("book", outcome)]


async def test_other_actions_report_their_own_success() -> None:
    heard = Heard()
    assert await Service(heard).cancel() == "done"
    assert heard.outcomes == [("cancel", "cancelled")]


async def test_a_cancelled_use_case_reports_nothing() -> None:
    heard = Heard()
    with pytest.raises(asyncio.CancelledError):
        await Service(heard).book(asyncio.CancelledError())
    assert heard.outcomes == []


def test_the_booking_use_cases_are_observed_and_keep_their_signatures() -> None:
    for name in ("book", "reschedule", "cancel"):
        method = getattr(BookingService, name)
        assert inspect.iscoroutinefunction(method) and method.__wrapped__ is not None, name
        assert inspect.signature(method) == inspect.signature(method.__wrapped__), name
    assert inspect.signature(BookingService).parameters["events"].default is NO_EVENTS


# ------------------------------------------------------------------ request ids


@pytest.mark.parametrize("value", ["abc", "0f8fad5b-d9cb-469f-a165-70867728950e", "req.42_x-y", "a" * MAX_REQUEST_ID])
def test_sane_request_ids_are_taken_over(value: str) -> None:
    assert sane_request_id(value) == value


@pytest.mark.parametrize(
    "value",
    [None, "", "a" * (MAX_REQUEST_ID + 1), "-leading", "has space", "a\nforged line", "<script>", "x;y", "é"],
)
def test_other_request_ids_are_refused(value: str | None) -> None:
    assert sane_request_id(value) is None


def test_a_scope_sets_the_id_and_restores_the_previous_one() -> None:
    assert current_request_id() is None
    with request_scope("outer"):
        with request_scope() as inner:
            assert current_request_id() == inner != "outer"
        assert current_request_id() == "outer"
        assert error_reference() == "outer"
    assert current_request_id() is None
    assert len(error_reference()) == 12 and error_reference() != error_reference()  # fresh outside a request


async def test_concurrent_tasks_keep_their_own_ids() -> None:
    async def serve(rid: str) -> list[str | None]:
        seen = []
        with request_scope(rid):
            for _ in range(3):
                await asyncio.sleep(0)
                seen.append(current_request_id())
        return seen

    first, second = await asyncio.gather(serve("one"), serve("two"))
    assert first == ["one"] * 3 and second == ["two"] * 3


async def test_begin_request_lasts_until_the_next_one_in_its_own_task() -> None:
    async def job() -> list[str | None]:
        ids = []
        for _ in range(2):
            begin_request()
            ids.append(current_request_id())
        return ids

    ids = await asyncio.create_task(job())
    assert len(set(ids)) == 2 and None not in ids
    assert current_request_id() is None  # the task's context was its own


def test_new_request_ids_are_guids() -> None:
    rid = new_request_id()
    assert len(rid) == 36 and rid.count("-") == 4 and sane_request_id(rid) == rid
