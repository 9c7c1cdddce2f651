"""The wire models (web.models) as the public API will publish them, and the strict JSON reader (web.wire)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openapi_schema_validator import OAS31Validator
from pydantic import BaseModel, ValidationError

from scheduling.domain import BookingStatus
from tests.scheduling.strategies import props
from web.models import BookingRequest, BookingResponse, Problem, SlotOut, SlotsQuery, SlotsResponse
from web.wire import MAX_JSON_DEPTH, WireRefusal, field_errors, json_depth, loads_strict

MODELS: list[type[BaseModel]] = [SlotsQuery, BookingRequest, SlotsResponse, SlotOut, BookingResponse, Problem]
CAMEL = re.compile(r"^[a-z][a-zA-Z]*$")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_schema_is_camel_case_and_every_model_example_is_valid(model: type[BaseModel]) -> None:
    for mode in ("validation", "serialization"):
        schema = model.model_json_schema(by_alias=True, mode=mode)
        assert all(CAMEL.match(name) for name in schema["properties"]), schema["properties"].keys()
        OAS31Validator.check_schema(schema)  # a valid OpenAPI 3.1 schema object, as /api/v1 will publish it
        assert not re.search(r'"(ge|le|gt|lt)":', json.dumps(schema)), "constraints must be JSON Schema keywords"
    for example in model.model_config.get("json_schema_extra", {}).get("examples", []):  # type: ignore[union-attr]
        assert model.model_validate(example, context={"now": NOW})


@pytest.mark.parametrize(
    "model", [SlotsQuery, BookingRequest, SlotsResponse, BookingResponse], ids=lambda m: m.__name__
)
def test_every_field_documents_an_example(model: type[BaseModel]) -> None:
    schema = model.model_json_schema(by_alias=True)
    for name, field in schema["properties"].items():
        if name != "slots":
            assert field.get("examples"), name


def test_meeting_lengths_publish_the_cores_bounds() -> None:
    for model in (BookingRequest, SlotsQuery):
        (length, _null) = model.model_json_schema(by_alias=True)["properties"]["duration"]["anyOf"]
        assert (length["minimum"], length["maximum"]) == (1, 1440)


def test_a_booking_answer_is_camel_case_with_utc_instants() -> None:
    start = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    answer = BookingResponse(
        id="b1",
        status=BookingStatus.CONFIRMED,
        start=start,
        end=start + timedelta(minutes=30),
        join_url="https://teams.example/j",
        manage_url=None,
    ).wire()
    assert answer == {
        "id": "b1",
        "status": "confirmed",
        "start": "2026-12-01T14:00:00Z",
        "end": "2026-12-01T14:30:00Z",
        "joinUrl": "https://teams.example/j",
        "manageUrl": None,
    }


def test_a_booking_request_reads_either_spelling_and_refuses_unknown_fields() -> None:
    by_wire = BookingRequest.model_validate(
        {"start": "2026-12-02T10:00:00+01:00", "timeZone": "Europe/Paris"}, context={"now": NOW}
    )
    assert by_wire.start == datetime(2026, 12, 2, 9, 0, tzinfo=UTC) and by_wire.time_zone == "Europe/Paris"
    with pytest.raises(ValidationError) as refused:
        BookingRequest.model_validate(
            {"start": "2026-12-02T10:00:00Z", "timezone": "Europe/Paris", "duration": True}, context={"now": NOW}
        )
    assert field_errors(refused.value) == {
        "timezone": "'timezone' is not a field of this request.",
        "duration": "Duration must be a whole number of minutes.",
    }


@pytest.mark.parametrize(
    ("body", "length"),
    [
        ({"start": "2026-12-02T10:00:00Z"}, None),
        ({"start": "2026-12-02T10:00:00Z", "duration": 45}, 45),
        ({"start": "2026-12-02T10:00:00Z", "end": "2026-12-02T11:00:00Z"}, 60),
        ({"start": "2026-12-02T10:00:00Z", "end": "2026-12-02T10:15:00Z", "duration": 15}, 15),
    ],
)
def test_the_length_asked_for(body: dict[str, Any], length: int | None) -> None:
    assert BookingRequest.model_validate(body, context={"now": NOW}).length() == length


@pytest.mark.parametrize(
    "body",
    [
        {"start": "2026-12-02T10:00:00Z", "end": "2026-12-02T11:00:00Z", "duration": 30},
        {"start": "2026-12-02T10:00:00Z", "end": "2026-12-02T10:00:30Z"},
        {"start": "2026-12-02T10:00:00Z", "end": "2026-12-02T09:00:00Z"},
        {"start": "2026-12-02T10:00:00Z", "end": "2026-12-04T10:00:00Z"},
    ],
)
def test_an_end_that_does_not_fit_is_an_error_on_end(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as refused:
        BookingRequest.model_validate(body, context={"now": NOW})
    assert set(field_errors(refused.value)) == {"end"}


def test_instants_are_bounded_by_the_calendar_always_and_by_now_when_given() -> None:
    far = {"start": "2040-01-01T09:00:00Z"}
    assert BookingRequest.model_validate(far).start.year == 2040  # no now: only the calendar bounds it
    with pytest.raises(ValidationError, match="five years ahead"):
        BookingRequest.model_validate(far, context={"now": NOW})
    for edge in ("9999-12-31T23:59:00Z", "0001-01-01T00:00:00+01:00", "2100-01-01T00:00:00Z"):
        with pytest.raises(ValidationError, match="between 2000-01-01 and 2099-12-31"):
            BookingRequest.model_validate({"start": edge})


# ------------------------------------------------------------------------------------- the JSON reader

json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=10)
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=20,
)


@props(300)
@given(value=json_values)
def test_any_json_within_the_depth_reads_back_as_sent(value: Any) -> None:
    assert json_depth(value) <= MAX_JSON_DEPTH
    assert loads_strict(json.dumps(value).encode()) == value


@props(300)
@given(data=st.one_of(st.binary(max_size=100), json_values.map(lambda v: json.dumps(v).encode()[:-1])))
def test_any_bytes_are_json_or_a_refusal(data: bytes) -> None:
    try:
        loads_strict(data)
    except WireRefusal as refused:
        assert refused.status == 400 and refused.code in ("invalid_json", "duplicate_key", "too_deep")


@props(100)
@given(key=st.text(max_size=10), depth=st.integers(min_value=0, max_value=10))
def test_a_duplicate_key_at_any_depth_is_refused_naming_it(key: str, depth: int) -> None:
    text = "[" * depth + f'{{{json.dumps(key)}: 1, "other": 2, {json.dumps(key)}: 3}}' + "]" * depth
    with pytest.raises(WireRefusal) as refused:
        loads_strict(text.encode())
    assert refused.value.code == "duplicate_key" and refused.value.parameter == key


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 900, 100_000])
def test_nesting_is_refused_past_the_depth(depth: int) -> None:
    text = "[" * depth + "]" * depth
    if depth <= MAX_JSON_DEPTH:
        assert json_depth(loads_strict(text.encode())) == depth
        return
    with pytest.raises(WireRefusal) as refused:
        loads_strict(text.encode())
    assert refused.value.code == "too_deep"


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}', "9" * 5000, "\ufeff{}"])
def test_what_is_not_json_is_refused(text: str) -> None:
    with pytest.raises(WireRefusal) as refused:
        loads_strict(text.encode())
    assert refused.value.code == "invalid_json"
