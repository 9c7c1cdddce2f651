"""Every date and instant parameter of REST API v1, thrown extreme and malformed values (issue 16 §1, by class):
the slots query's ``start``/``end``, a booking's ``start``/``end``, a reschedule's ``start``, the bookings list's
``startFrom``/``startTo``, an event type's ``expiresAt``, ``bookingWindow.startDate``/``endDate`` and
``dateOverrides`` keys. Each answer is a 400 or 422 problem+json naming the parameter, never a 5xx, and nothing
changes (no booking made or moved, no event type made or changed, no Outlook event).

The values are always wrong: instants and dates at least two years back or six ahead (the reach is a year back,
five years ahead: scheduling.reach) up to year 1 and 9999 at any offset up to ±23:59, rule dates outside
2000-2099, offsets past ±24:00, impossible days and hours, numbers with hundreds of digits, JSON numbers, booleans,
lists and objects, the empty string and junk text. Hypothesis runs each test a bounded, derandomized number of
times (``props``), against one app served from its own thread (threaded.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import API_WIRING
from tests.scheduling.strategies import props
from tests.web.conftest import OFFSETS, Site, running_site, world_state
from tests.web.threaded import Answer, Threaded, threaded

PROBLEM = "application/problem+json"
NOW = datetime.now(UTC)
TODAY = NOW.date()
#: The last year wholly out of reach behind, the first wholly out of reach ahead (a year back, five years ahead).
PAST_YEAR, FUTURE_YEAR = NOW.year - 3, NOW.year + 7

# ------------------------------------------------------------------------------------------ strategies

#: Offsets no instant can have (a day or more, a minute past 59): attached to times within reach.
BAD_OFFSETS = ["+24:00", "-24:00", "+99:00", "+23:60", "-99:59", "+24:00:01", "Z+01:00", "++01:00", "+01:00Z"]
JUNK = [
    "",
    " ",
    "now",
    "today",
    "null",
    "undefined",
    "9" * 400,
    "-" + "9" * 300,
    "-1",
    "0",
    "1e309",
    "NaN",
    "Infinity",
    "\x00",
    "%00",
    "../..",
    "2026-W49",
    "\uff12\uff10\uff12\uff16-12-01",
    "0000-01-01",
    "0000-01-01T00:00:00Z",
    "10000-01-01",
    "10000-01-01T00:00:00Z",
    "+999999-01-01T00:00:00Z",
    "-2026-12-01T10:00:00Z",
    "2026-13-01T10:00:00Z",
    "2026-02-30T10:00:00Z",
    "2026-12-01T25:00:00Z",
    "2026-12-01T10:61:00Z",
    "2026-12-01T10:00:00ZZ",
    "2026-12-01 10:00:00 UTC",
    "2026-13-01",
    "2026-02-30",
    "2026-12-32",
]

far_datetimes = st.one_of(
    st.datetimes(max_value=datetime(1, 1, 3)),
    st.datetimes(min_value=datetime(9999, 12, 29)),
    st.datetimes(max_value=datetime(PAST_YEAR, 12, 31)),
    st.datetimes(min_value=datetime(FUTURE_YEAR, 1, 1)),
)
far_dates = st.one_of(
    st.dates(max_value=date(1, 2, 28)),
    st.dates(min_value=date(9999, 11, 1)),
    st.sampled_from([date.min, date.max]),
    st.dates(max_value=date(PAST_YEAR, 12, 31)),
    st.dates(min_value=date(FUTURE_YEAR, 1, 1)),
)
near_datetimes = st.datetimes(
    min_value=(NOW - timedelta(days=30)).replace(tzinfo=None), max_value=(NOW + timedelta(days=30)).replace(tzinfo=None)
)
near_dates = st.dates(min_value=TODAY - timedelta(days=30), max_value=TODAY + timedelta(days=30))


def _iso(moment: datetime, zulu: bool) -> str:
    text = moment.isoformat()
    return text.replace("+00:00", "Z") if zulu else text


def _not_a_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return True
    return False


def _not_an_instant(text: str) -> bool:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")).tzinfo is None
    except ValueError:
        return True


#: Instant texts no API parameter accepts: out of reach, malformed, zoneless, offsets past a day, junk.
bad_instant_texts = st.one_of(
    st.builds(lambda d, tz, z: _iso(d.replace(tzinfo=tz), z), far_datetimes, st.sampled_from(OFFSETS), st.booleans()),
    st.builds(lambda d, off: d.isoformat() + off, near_datetimes, st.sampled_from(BAD_OFFSETS)),
    near_datetimes.map(datetime.isoformat),  # no zone
    near_dates.map(date.isoformat),  # a date alone
    st.sampled_from(JUNK),
    st.text(max_size=30).filter(_not_an_instant),
)
#: Date texts no date parameter accepts (dates within reach of today excluded).
bad_date_texts = st.one_of(
    far_dates.map(date.isoformat),
    st.builds(lambda d, tz: d.replace(tzinfo=tz).isoformat(), near_datetimes, st.sampled_from(OFFSETS)),
    st.sampled_from(JUNK),
    st.text(max_size=20).filter(_not_a_date),
)


def _not_a_rule_date(text: str) -> bool:
    try:
        return not date(2000, 1, 1) <= date.fromisoformat(text) <= date(2099, 12, 31)
    except ValueError:
        return True


#: Dates a rule can't store (outside 2000-2099) or that are not dates.
bad_rule_dates = st.one_of(
    st.dates(max_value=date(1999, 12, 31)).map(date.isoformat),
    st.dates(min_value=date(2100, 1, 1)).map(date.isoformat),
    st.sampled_from(JUNK).filter(_not_a_rule_date),
    st.text(max_size=12).filter(_not_a_date),
)
#: JSON values that are not instant texts at all.
not_texts = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([10**400, -(10**400), 0, 1, 253402300799, -62135596800]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.lists(st.text(max_size=10), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=10), max_size=2),
)
bad_instants = st.one_of(bad_instant_texts, not_texts)  # as JSON values


# ------------------------------------------------------------------------------------------ the app


class Api:
    """The running app, an API key of the demo host, its link, and one booking (made through the API)."""

    def __init__(self, app: Threaded[Site]) -> None:
        self.app = app
        site = app.site
        self.link_id = app.call(site.link()).id

        async def key() -> str:
            issued = await site.app[API_WIRING].service.keys.create(await site.host(), "dates")
            return str(issued.secret)

        self.headers = {"Authorization": f"Bearer {app.call(key())}"}
        self.starts = app.call(site.free_starts(count=2))
        made = self.request(
            "POST",
            "/api/v1/bookings",
            json={"eventTypeId": self.link_id, "start": self.starts[0], "name": "Ivy", "email": "ivy@example.org"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert made.status == 201, made.text
        self.booking_id = json.loads(made.body)["id"]

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, **options: Any) -> Answer:
        return self.app.request(method, path, headers=self.headers | (headers or {}), **options)

    def state(self) -> tuple[Any, ...]:
        return self.app.call(world_state(self.app.site))

    def refused(self, method: str, path: str, parameter: str, **options: Any) -> dict[str, Any]:
        """Send; the answer must be a 400/422 problem naming ``parameter`` (or a key under it), and nothing
        changed. Returns the problem."""
        before = self.state()
        answer = self.request(method, path, **options)
        assert answer.status in (400, 422), (options, answer.status, answer.text[:500])
        assert answer.content_type == PROBLEM, (answer.content_type, answer.text[:300])
        body: dict[str, Any] = json.loads(answer.body)
        assert body["status"] == answer.status and body.get("title"), body
        named = [body.get("parameter") or "", *(body.get("errors") or {})]
        assert any(n == parameter or n.startswith(parameter + ".") for n in named), (options, parameter, body)
        assert self.state() == before, body
        return body


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    directory = tmp_path_factory.mktemp("api-dates")
    limits = {"SLOTWISE_API_RATE_LIMIT": 10**9, "SLOTWISE_BOOKING_RATE_LIMIT": 10**9}
    with threaded(lambda: running_site(directory, **limits)) as app:
        yield Api(app)


# ------------------------------------------------------------------------------------------ queries


@props(100)
@given(value=bad_date_texts, parameter=st.sampled_from(["start", "end"]))
def test_the_slots_query_names_a_wrong_date(api: Api, value: str, parameter: str) -> None:
    query = {"start": TODAY.isoformat(), "end": TODAY.isoformat(), "timeZone": "Pacific/Kiritimati"}
    query[parameter] = value
    if parameter == "start" and not _not_a_date(value):
        query["end"] = value  # one far day (with today as the end, the range's length would be what is wrong)
    api.refused("GET", f"/api/v1/event-types/{api.link_id}/slots", parameter, params=query)


@props(100)
@given(value=bad_instant_texts, parameter=st.sampled_from(["startFrom", "startTo"]), both=st.booleans())
def test_the_bookings_list_names_a_wrong_filter(api: Api, value: str, parameter: str, both: bool) -> None:
    query = {parameter: value}
    if both:  # the other filter well-formed
        other = "startTo" if parameter == "startFrom" else "startFrom"
        query[other] = _iso(NOW.replace(microsecond=0), True)
    api.refused("GET", "/api/v1/bookings", parameter, params=query)


# ------------------------------------------------------------------------------------------ bodies


@props(100)
@given(value=bad_instants, parameter=st.sampled_from(["start", "start", "end"]))
def test_a_booking_names_a_wrong_start_or_end(api: Api, value: Any, parameter: str) -> None:
    body = {"eventTypeId": api.link_id, "start": api.starts[1], "name": "Ivy", "email": "ivy@example.org"}
    body[parameter] = value
    api.refused("POST", "/api/v1/bookings", parameter, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})


@props(100)
@given(value=st.one_of(bad_instants, st.none()))
def test_a_reschedule_names_a_wrong_start(api: Api, value: Any) -> None:
    api.refused("POST", f"/api/v1/bookings/{api.booking_id}/reschedule", "start", json={"start": value})


@props(100)
@given(
    instant=bad_instants,
    day=st.one_of(bad_rule_dates, not_texts),
    field=st.sampled_from(["expiresAt", "bookingWindow.startDate", "bookingWindow.endDate", "dateOverrides"]),
    create=st.booleans(),
)
def test_an_event_type_names_a_wrong_date(api: Api, instant: Any, day: Any, field: str, create: bool) -> None:
    value = instant if field == "expiresAt" else day
    if field == "expiresAt":
        body: dict[str, Any] = {"expiresAt": value}
    elif field == "dateOverrides":
        key = value if isinstance(value, str) else json.dumps(value)
        if not _not_a_date(key):  # a well-formed key outside 2000-2099 is stored today: see the test below
            key = f"{key}x"
        body = {"dateOverrides": {key: []}}
    else:
        window = {"startDate": TODAY.isoformat(), "endDate": (TODAY + timedelta(days=30)).isoformat()}
        body = {"bookingWindow": window | {field.split(".")[1]: value}}
    if create:
        api.refused("POST", "/api/v1/event-types", field, json={"title": "Dates"} | body)
    else:
        api.refused("PATCH", f"/api/v1/event-types/{api.link_id}", field, json=body)


@pytest.mark.parametrize("key", ["0001-01-01", "1999-12-31", "2100-01-01", "9999-12-31"])
def test_a_date_override_outside_the_calendar_is_refused(api: Api, key: str) -> None:
    api.refused("POST", "/api/v1/event-types", "dateOverrides", json={"title": "Far", "dateOverrides": {key: []}})
