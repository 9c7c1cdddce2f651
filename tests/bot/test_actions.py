"""The typed card-action edge (bot.actions): one model per verb, exactly the keys cards.verbs promises, and
whatever a button sends becomes its verb's model or a BadAction, never anything else."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.actions import ACTION_DATA, AnyAction, BadAction, SlotsPick, SlotsTimezone, SlotsWeek, parse_data
from bot.invokes import BadInvoke, link_query_of, token_exchange_of
from cards.verbs import ALL_VERBS, TIME_ZONE_INPUT, VERB_DATA
from tests.scheduling.strategies import props

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _models() -> dict[str, Any]:
    union = get_args(AnyAction)[0]
    return {get_args(model.model_fields["verb"].annotation)[0]: model for model in get_args(union)}


def test_there_is_one_model_per_verb_with_the_keys_of_its_contract() -> None:
    models = _models()
    assert set(models) == set(ALL_VERBS)
    for verb in ALL_VERBS:
        model, spec = models[verb], VERB_DATA[verb]
        fields = {(f.alias or name): f for name, f in model.model_fields.items() if name != "verb"}
        named_inputs = {TIME_ZONE_INPUT} if verb == "slots.timezone" else set()
        assert set(fields) == spec.required | spec.optional | named_inputs, verb
        required = {key for key, f in fields.items() if f.is_required()}
        assert required == spec.required | named_inputs, verb


def test_a_button_of_each_verb_is_read_into_its_model() -> None:
    pick = parse_data(
        "slots.pick",
        {
            "verb": "slots.pick",
            "linkId": " l1 ",
            "start": "2026-12-08T09:30:00Z",
            "tz": "Europe/Paris",
            "duration": "30",
            "name": "typed input",
        },
        NOW,
    )
    assert isinstance(pick, SlotsPick)
    assert (pick.link_id, pick.start, pick.tz, pick.duration) == (
        "l1",
        datetime(2026, 12, 8, 9, 30, tzinfo=UTC),
        "Europe/Paris",
        30,
    )
    assert pick.booking_id is None and pick.inputs == {"name": "typed input"}  # a card input, kept aside
    week = parse_data("slots.week", {"linkId": "l1", "tz": "UTC", "weekStart": "", "offset": ""}, NOW)
    assert isinstance(week, SlotsWeek) and week.week_start is None and week.offset is None  # blank = absent
    chosen = parse_data("slots.timezone", {"linkId": "l1", TIME_ZONE_INPUT: "Asia/Tokyo"}, NOW)
    assert isinstance(chosen, SlotsTimezone) and chosen.chosen_zone == "Asia/Tokyo"


@pytest.mark.parametrize(
    ("verb", "data", "problem"),
    [
        ("slots.explode", {}, "isn't supported"),
        (42, {}, "isn't supported"),
        ("link.save", {"linkId": "l"}, "missing 'version'"),
        ("link.save", {"linkId": "l", "version": True}, "invalid 'version'"),
        ("link.save", {"linkId": "l", "version": 0}, "invalid 'version'"),
        ("links.list", {"page": 10**20}, "invalid 'page'"),
        ("links.list", {"page": 2.5}, "invalid 'page'"),
        ("slots.pick", {"linkId": "l", "start": "2026-12-08T09:30:00", "tz": "UTC", "duration": 30}, "without a zone"),
        ("slots.pick", {"linkId": "l", "start": "9999-12-31T23:59:00Z", "tz": "UTC", "duration": 30}, "invalid time"),
        (
            "slots.pick",
            {"linkId": "l", "start": "0001-01-01T00:00:00+23:59", "tz": "UTC", "duration": 30},
            "invalid time",
        ),
        ("slots.pick", {"linkId": "l", "start": "2033-01-01T09:00:00Z", "tz": "UTC", "duration": 30}, "too far ahead"),
        ("slots.pick", {"linkId": "l", "start": "2026-12-08T09:30:00Z", "tz": "UTC", "duration": 1441}, "'duration'"),
        (
            "slots.pick",
            {"linkId": "l", "start": "2026-12-08T09:30:00Z", "tz": "Mars/Olympus", "duration": 30},
            "not a time zone",
        ),
        ("slots.day", {"linkId": "l", "tz": "UTC", "weekStart": "9999-12-31", "day": "9999-12-31"}, "invalid date"),
        ("slots.day", {"linkId": "l", "tz": "UTC", "weekStart": "0001-01-01", "day": "2026-12-08"}, "invalid date"),
        ("booking.move", {"bookingId": ["b"], "start": "2026-12-08T09:30:00Z", "tz": "UTC"}, "invalid 'bookingId'"),
        ("command", {"text": "x" * 5000}, "invalid 'text'"),
        ("help", {"verb": "link.delete"}, "doesn't match"),
    ],
)
def test_malformed_data_is_a_bad_action_saying_what(verb: object, data: dict[str, Any], problem: str) -> None:
    with pytest.raises(BadAction, match=problem):
        parse_data(verb, data, NOW)


# ------------------------------------------------------------------------------------- any data at all

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8,
)
OFFSETS = [UTC, timezone(timedelta(hours=23, minutes=59)), timezone(-timedelta(hours=23, minutes=59))]
instants = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.one_of(
        st.datetimes(max_value=datetime(1, 1, 3)), st.datetimes(min_value=datetime(9999, 12, 29)), st.datetimes()
    ),
    st.sampled_from(OFFSETS),
).map(datetime.isoformat)
dates = st.one_of(st.dates(max_value=date(1, 1, 31)), st.dates(min_value=date(9999, 12, 1)), st.dates())
KEYS = sorted({key for spec in VERB_DATA.values() for key in spec.required | spec.optional} | {TIME_ZONE_INPUT})
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "start": instants,
    "weekStart": dates.map(date.isoformat),
    "day": dates.map(date.isoformat),
    "tz": st.sampled_from(["UTC", "Europe/Paris", "Mars/Olympus", "", " UTC"]),
}
data = st.dictionaries(st.sampled_from([*KEYS, "verb", "x"]), json_values, max_size=6).flatmap(
    lambda base: st.fixed_dictionaries({k: st.one_of(VALUES.get(k, json_values), json_values) for k in base})
)


@props(400)
@given(
    verb=st.one_of(st.sampled_from(sorted(ALL_VERBS)), json_values),
    data=st.one_of(data, json_values),
    now=st.sampled_from([None, NOW]),
)
def test_any_button_becomes_its_model_or_a_bad_action(verb: Any, data: Any, now: datetime | None) -> None:
    try:
        parsed = parse_data(verb, data, now)
    except BadAction as refused:
        assert refused.message and "Traceback" not in refused.message
        return
    assert parsed.verb == verb
    again = ACTION_DATA.validate_python(parsed.model_dump(by_alias=True), context={"now": now})
    assert again == parsed  # what passed the edge passes it again: nothing half-read
    for value in parsed.model_dump().values():
        if isinstance(value, datetime):
            assert value.tzinfo is UTC and date(2000, 1, 1) <= value.date() <= date(2099, 12, 31)
            if now is not None:
                assert now - timedelta(days=367) <= value <= now + timedelta(days=5 * 366 + 1)
        if isinstance(value, date) and not isinstance(value, datetime):
            assert date(2000, 1, 1) <= value <= date(2099, 12, 31)


# ------------------------------------------------------------------------------------- invoke values


@props(200)
@given(
    value=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {}, optional={"id": json_values, "token": json_values, "connectionName": json_values, "url": json_values}
        ),
    )
)
def test_any_invoke_value_is_its_model_or_bad_invoke(value: Any) -> None:
    for parse in (token_exchange_of, link_query_of):
        try:
            parsed = parse(value)
        except BadInvoke as refused:
            assert refused.message
            continue
        assert parsed.model_dump()  # a whole model: every field typed


def test_token_exchange_and_link_query_shapes() -> None:
    exchange = token_exchange_of({"id": "x1", "connectionName": "graph", "token": "eyJ.e30.sig", "extra": 1})
    assert (exchange.id, exchange.connection_name, exchange.token) == ("x1", "graph", "eyJ.e30.sig")
    bad_exchanges: list[object] = [
        {"id": "x1", "token": ""},
        {"id": 7, "token": "t"},
        {"token": "t"},
        ["x"],
        None,
        {"id": "x1", "token": "t" * 20_000},
    ]
    for bad in bad_exchanges:
        with pytest.raises(BadInvoke):
            token_exchange_of(bad)
    assert link_query_of({"url": " https://a.example/book/x/y "}).url == "https://a.example/book/x/y"
    bad_queries: list[object] = [{"url": 5}, {"url": ""}, {}, "https://a.example", {"url": "h" * 9000}]
    for bad in bad_queries:
        with pytest.raises(BadInvoke):
            link_query_of(bad)
