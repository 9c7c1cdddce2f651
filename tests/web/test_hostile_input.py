"""Whatever anyone sends to any JSON or form endpoint of web/ is answered with a 2xx/3xx or a clean 4xx,
never a 5xx, and a refused request changes nothing (issue 16 §1, by class).

Hypothesis generates the requests against one running app (served from its own thread, see threaded.py):
hostile JSON bodies (any JSON value in any field, numbers past 64 bits, floats, nested lists and objects)
and raw bodies (random bytes, thousands of ``[``, duplicate keys, NaN, numbers with thousands of
digits) under every content type; query strings with dates and instants from year 1 to 9999 at any UTC
offset, junk text and parameters given twice; form posts with and without a valid CSRF token, urlencoded
and multipart, malformed multipart; hostile path segments; paths longer than the limit. After each
refused request the bookings, links and Outlook events are compared with what they were before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import FormData
from hypothesis import given
from hypothesis import strategies as st

from tests.scheduling.strategies import props
from tests.web.conftest import DEMO_PATH, OFFSETS, Site, csrf_of, running_site, token_of, world_state
from tests.web.threaded import Answer, Threaded, threaded
from web.security import MAX_REQUEST_LINE, MAX_TARGET

PROBLEM = "application/problem+json"

# ------------------------------------------------------------------------------------------ strategies

EDGE_DATES = [
    date.min,
    date(1, 1, 2),
    date(1969, 12, 31),
    date(1970, 1, 1),
    date(2038, 1, 19),
    date(9999, 12, 25),
    date.max,
]
JUNK = [
    "",
    " ",
    "now",
    "today",
    "null",
    "9" * 400,
    "-1",
    "1e309",
    "NaN",
    "Infinity",
    "2026-13-01",
    "2026-02-30",
    "2026-12-01T25:00:00Z",
    "2026-12-01T10:00:00+99:00",
    "+999999-01-01T00:00:00Z",
    "\x00",
    "%00",
    "../..",
    "2026-12-01T10:00:00Z\x00",
    "2026-W49",
    "\uff11\uff12\uff13",
    "2026-12-01T10:00:00.123456789Z",
]

#: Dates anywhere in the calendar, half of them within weeks of its ends, where the date arithmetic overflows.
dates = st.one_of(
    st.dates(max_value=date(1, 2, 28)), st.dates(min_value=date(9999, 11, 1)), st.sampled_from(EDGE_DATES), st.dates()
)
VALID_ZONES = ["UTC", "Pacific/Kiritimati", "Etc/GMT+12", "Asia/Kolkata", "America/St_Johns", "Europe/London"]


def _shifted(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


#: (start, end) that a client would plausibly send: end a few days after start, at the ends of the calendar.
date_ranges = st.one_of(
    st.tuples(dates, st.integers(min_value=-2, max_value=70)).map(lambda p: (p[0], _shifted(p[0], p[1]))),
    st.dates(min_value=date(9999, 11, 1)).map(lambda d: (d, date.max)),  # up to the very last day
    st.dates(max_value=date(1, 2, 28)).map(lambda d: (date.min, d)),  # from the very first
)
#: Instants at any offset, two thirds of them within days of the calendar's ends.
instants = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.one_of(
        st.datetimes(max_value=datetime(1, 1, 3)), st.datetimes(min_value=datetime(9999, 12, 29)), st.datetimes()
    ),
    st.sampled_from(OFFSETS),
)
#: Well-formed instants with their offset ('Z' or '+hh:mm'): the ones that get past parsing.
zoned_instant_texts = st.one_of(
    instants.map(datetime.isoformat), instants.map(lambda d: d.isoformat().replace("+00:00", "Z"))
)
instant_texts = st.one_of(
    zoned_instant_texts,
    st.datetimes().map(datetime.isoformat),  # no zone at all
    dates.map(date.isoformat),
    st.sampled_from(JUNK),
    st.text(max_size=30),
)
date_texts = st.one_of(dates.map(date.isoformat), instant_texts)
zone_texts = st.one_of(
    st.sampled_from(
        [
            "UTC",
            "Europe/Paris",
            "Pacific/Kiritimati",
            "Etc/GMT+12",
            "Mars/Olympus",
            "Pacific Standard Time",
            "../../etc/passwd",
            "/etc/localtime",
            "utc",
            " UTC",
            "",
            "\x00",
            "a" * 300,
        ]
    ),
    st.text(max_size=40),
)
numbers_as_text = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["", "30", "0", "-30", "1441", "30.0", "1e3", "9" * 400, "true", " 30"]),
)
hostile_text = st.one_of(date_texts, zone_texts, numbers_as_text, st.text(max_size=60))

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    instant_texts,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)

BOOKING_FIELDS = {
    "start": st.one_of(instant_texts, json_values),
    "end": st.one_of(instant_texts, json_values),
    "duration": st.one_of(
        st.integers(min_value=-(10**40), max_value=10**40), st.sampled_from([0, 1, 30, 1440, 1441]), json_values
    ),
    "name": st.one_of(st.text(max_size=120), json_values),
    "email": st.one_of(st.emails(), st.text(max_size=60), json_values),
    "timeZone": st.one_of(zone_texts, json_values),
    "notes": st.one_of(st.text(max_size=80), json_values),
    "answers": st.one_of(st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3), json_values),
}
booking_bodies = st.one_of(
    # anything in any field, and fields nobody asked for
    st.tuples(
        st.fixed_dictionaries({}, optional=BOOKING_FIELDS),
        st.dictionaries(st.text(max_size=10), json_values, max_size=2),
    ).map(lambda parts: {**parts[1], **parts[0]}),
    # a well-filled form whose times are hostile: what reaches the core's date arithmetic
    st.fixed_dictionaries(
        {
            "start": zoned_instant_texts,
            "name": st.just("Hostile Tester"),
            "email": st.just("tester@example.org"),
            "timeZone": st.sampled_from(VALID_ZONES),
        },
        optional={"end": instant_texts, "duration": BOOKING_FIELDS["duration"]},
    ),
)


def _duplicated(key: str) -> bytes:
    return f"{{{json.dumps(key)}: 1, {json.dumps(key)}: 2}}".encode()


raw_json = st.one_of(
    st.binary(max_size=200),
    st.integers(min_value=33, max_value=40_000).map(lambda n: ("[" * n + "]" * n).encode()),
    st.integers(min_value=1_000, max_value=70_000).map(lambda n: b"[" * n),
    st.integers(min_value=33, max_value=3_000).map(lambda n: ('{"a":' * n + "1" + "}" * n).encode()),
    st.integers(min_value=4_300, max_value=20_000).map(lambda n: b'{"duration": ' + b"9" * n + b"}"),
    st.sampled_from(
        [
            b'{"start": NaN}',
            b'{"duration": Infinity}',
            b"[1, 2]",
            b'"text"',
            b"null",
            b"{",
            b"",
            b"\xef\xbb\xbf{}",
            b'{"start": "\xff\xfe"}',
            b"\x00" * 50,
        ]
    ),
    st.text(max_size=10).map(_duplicated),
    booking_bodies.map(lambda body: json.dumps(body).encode()),
)
JSON_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=latin-1",
    "application/json; charset=no-such-charset",
    "application/merge-patch+json",
    "application/problem+json",
]
OTHER_TYPES = [
    "multipart/form-data; boundary=x",
    "multipart/form-data",
    "multipart/mixed; boundary=x",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/octet-stream",
    "",
    "*/*",
    "application/xml",
    "text/html; charset=utf-8",
]
content_types = st.sampled_from(JSON_TYPES + OTHER_TYPES)
raw_multipart = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [
            b"--x\r\n\r\n\r\n--x--\r\n",
            b"--x\r\nContent-Disposition: form-data\r\n\r\nv\r\n--x--\r\n",
            b'--x\r\nContent-Disposition: form-data; name="start"\r\n\r\n9999-12-31T23:59:00Z\r\n--x--\r\n',
            b'--x\r\nContent-Disposition: form-data; name="a"; filename="f"\r\n\r\n\xff\r\n--x--\r\n',
            b"--x--",
            b"--y\r\n\r\n",
        ]
    ),
)

# ------------------------------------------------------------------------------------------ the app


class Hostile:
    """The running app, a booking made through the page, and the CSRF tokens its forms carry."""

    def __init__(self, app: Threaded[Site]) -> None:
        self.app = app
        site = app.site
        self.starts: list[str] = app.call(site.free_starts(count=3))
        self.manage = token_of(app.call(site.book(self.starts[0])))
        form = app.request("GET", DEMO_PATH, params={"start": self.starts[1], "tz": "UTC"})
        self.book_csrf = csrf_of(form.text)
        manage = app.request("GET", f"/manage/{self.manage}", params={"tz": "UTC", "reschedule": "1"})
        self.manage_csrf = csrf_of(manage.text)

    def state(self) -> tuple[Any, ...]:
        return self.app.call(world_state(self.app.site))

    def send(self, method: str, path: str, **options: Any) -> Answer:
        """The request; asserts it is never a 5xx and, when refused, changed nothing."""
        before = self.state()
        answer = self.app.request(method, path, **options)
        assert answer.status < 500, (answer.status, answer.text[:500])
        assert "Traceback" not in answer.text
        if answer.status >= 400:
            assert self.state() == before, (answer.status, answer.text[:300])
        return answer


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    directory = tmp_path_factory.mktemp("hostile")
    with threaded(lambda: running_site(directory, SLOTWISE_BOOKING_RATE_LIMIT=10**9)) as app:
        yield Hostile(app)


def _is_problem(answer: Answer) -> bool:
    if answer.content_type != PROBLEM:
        return False
    body = json.loads(answer.body)
    return isinstance(body, dict) and body.get("status") == answer.status and bool(body.get("title"))


# ------------------------------------------------------------------------------------------ JSON


@props(200)
@given(body=raw_json, content_type=content_types, key=st.one_of(st.none(), st.text(max_size=5), st.just("k" * 201)))
def test_the_booking_endpoint_refuses_any_body_cleanly(
    hostile: Hostile, body: bytes, content_type: str, key: str | None
) -> None:
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    if key is not None and key.isascii() and key.isprintable():
        headers["Idempotency-Key"] = key
    answer = hostile.send("POST", DEMO_PATH, data=body, headers=headers)
    if answer.status >= 400 and (content_type in JSON_TYPES or answer.status == 415):
        assert _is_problem(answer), answer.text[:300]  # a form post gets the page's answer (403 without CSRF)


@props(200)
@given(body=booking_bodies)
def test_the_booking_endpoint_names_every_wrong_field(hostile: Hostile, body: dict[str, Any]) -> None:
    answer = hostile.send("POST", DEMO_PATH, json=body)
    assert answer.status in (200, 201, 202, 400, 404, 409, 410, 422), answer.text[:300]
    if answer.status == 422:
        problem = json.loads(answer.body)
        assert problem["errors"] and all(isinstance(v, str) and v for v in problem["errors"].values())


slot_queries = st.one_of(
    st.builds(
        lambda days, tz, more: [("start", days[0].isoformat()), ("end", days[1].isoformat()), ("timeZone", tz), *more],
        date_ranges,
        st.one_of(st.sampled_from(VALID_ZONES), zone_texts),
        st.lists(st.tuples(st.sampled_from(["duration", "start", "x"]), hostile_text), max_size=2),
    ),
    st.lists(st.tuples(st.sampled_from(["start", "end", "timeZone", "duration", "tz", "x"]), hostile_text), max_size=6),
)


@props(150)
@given(params=slot_queries)
def test_the_slots_endpoint_answers_any_query_cleanly(hostile: Hostile, params: list[tuple[str, str]]) -> None:
    answer = hostile.send("GET", f"{DEMO_PATH}/slots", params=params)
    assert answer.status in (200, 400, 414), answer.text[:300]
    if answer.status == 400:
        assert _is_problem(answer) and json.loads(answer.body)["parameter"], answer.text[:300]


# ------------------------------------------------------------------------------------------ pages and forms


def _queries(names: list[str], timed: str) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Junk in any of ``names``, or a plausible query whose ``timed`` parameter is a hostile date or instant."""
    return st.one_of(
        st.lists(st.tuples(st.sampled_from(names), hostile_text), max_size=4),
        st.builds(
            lambda value, tz, more: [(timed, value), ("tz", tz), *more],
            zoned_instant_texts if timed == "start" else dates.map(date.isoformat),
            st.sampled_from(VALID_ZONES),
            st.lists(st.tuples(st.sampled_from(names), hostile_text), max_size=2),
        ),
    )


@props(120)
@given(
    params=st.one_of(
        _queries(["week", "start", "tz", "duration", "booked"], "week"),
        _queries(["week", "start", "tz", "duration", "booked"], "start"),
    )
)
def test_the_booking_page_answers_any_query_cleanly(hostile: Hostile, params: list[tuple[str, str]]) -> None:
    answer = hostile.send("GET", DEMO_PATH, params=params)
    assert answer.status in (200, 400, 414) and answer.content_type in ("text/html", PROBLEM), answer.text[:300]


FORM_FIELDS = ["start", "timeZone", "name", "email", "notes", "idempotency_key", "answer_x", "tz", "reason"]


def _form(fields: list[tuple[str, str]], multipart: bool) -> Any:
    if not multipart:
        return fields
    data = FormData()
    for name, value in fields:
        data.add_field(name, value)
    return data


def _fields(size: int) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Junk in any form field, or a well-filled form whose ``start`` is a hostile date or instant."""
    return st.one_of(
        st.lists(st.tuples(st.sampled_from(FORM_FIELDS), hostile_text), max_size=size),
        st.builds(
            lambda start, tz: [
                ("start", start),
                ("name", "Hostile Tester"),
                ("email", "tester@example.org"),
                ("timeZone", tz),
                ("tz", tz),
            ],
            zoned_instant_texts,
            st.sampled_from(VALID_ZONES),
        ),
    )


@props(150)
@given(fields=_fields(6), csrf=st.sampled_from(["valid", "valid", "none", "junk"]), multipart=st.booleans())
def test_the_booking_form_answers_any_post_cleanly(
    hostile: Hostile, fields: list[tuple[str, str]], csrf: str, multipart: bool
) -> None:
    token = {"valid": [("csrf_token", hostile.book_csrf)], "none": [], "junk": [("csrf_token", "x" * 64)]}[csrf]
    answer = hostile.send("POST", DEMO_PATH, data=_form(token + fields, multipart))
    assert answer.status in (303, 400, 403, 409, 415, 422), answer.text[:300]


JSON_ACCEPTS = ["application/json", "application/problem+json, application/json", "text/html, application/json"]
BROWSER_ACCEPTS = ["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "*/*", "", "text/html"]


@props(60)
@given(
    fields=_fields(4),
    csrf=st.sampled_from(["none", "junk", "other scope"]),
    multipart=st.booleans(),
    accept=st.sampled_from(JSON_ACCEPTS + BROWSER_ACCEPTS),
    manage=st.booleans(),
)
def test_a_form_post_without_a_matching_csrf_pair_is_a_403_in_the_asked_form(
    hostile: Hostile, fields: list[tuple[str, str]], csrf: str, multipart: bool, accept: str, manage: bool
) -> None:
    """A JSON client gets problem details naming ``csrf_token``; a browser the "Please try again" page."""
    path = f"/manage/{hostile.manage}/reschedule" if manage else DEMO_PATH
    other = hostile.book_csrf if manage else hostile.manage_csrf  # a real token, of the other form
    token = {"none": [], "junk": [("csrf_token", "x" * 64)], "other scope": [("csrf_token", other)]}[csrf]
    once = list({k: v for k, v in reversed(fields)}.items())  # a field given twice is a 400 before the check
    data = _form(once + token, multipart)
    answer = hostile.send("POST", path, data=data, headers={"Accept": accept})
    assert answer.status == 403, answer.text[:300]
    if accept in JSON_ACCEPTS:
        assert _is_problem(answer) and json.loads(answer.body)["parameter"] == "csrf_token", answer.text[:300]
    else:
        assert answer.content_type == "text/html" and "Please try again" in answer.text


@props(60)
@given(body=st.one_of(raw_multipart, raw_json), content_type=st.sampled_from(OTHER_TYPES))
def test_the_booking_form_refuses_unreadable_bodies_cleanly(hostile: Hostile, body: bytes, content_type: str) -> None:
    answer = hostile.send("POST", DEMO_PATH, data=body, headers={"Content-Type": content_type})
    assert 400 <= answer.status < 500


@props(150)
@given(
    action=st.sampled_from(["reschedule", "reschedule", "cancel", "delete", "", "..", "reschedule.json"]),
    fields=_fields(5),
    csrf=st.sampled_from(["valid", "valid", "none", "junk"]),
    multipart=st.booleans(),
)
def test_the_manage_forms_answer_any_post_cleanly(
    hostile: Hostile, action: str, fields: list[tuple[str, str]], csrf: str, multipart: bool
) -> None:
    if action == "cancel" and csrf == "valid":
        csrf = "junk"  # a real cancel with a real token is a legitimate request; it is not what this test sends
    token = {"valid": [("csrf_token", hostile.manage_csrf)], "none": [], "junk": [("csrf_token", "0" * 64)]}[csrf]
    path = f"/manage/{hostile.manage}/{quote(action, safe='')}" if action else f"/manage/{hostile.manage}/"
    answer = hostile.send("POST", path, data=_form(token + fields, multipart))
    assert answer.status in (303, 400, 403, 404, 405, 409, 415, 422), answer.text[:300]


@props(60)
@given(
    body=st.one_of(raw_multipart, raw_json),
    content_type=st.sampled_from(OTHER_TYPES + JSON_TYPES),
    action=st.sampled_from(["reschedule", "cancel"]),
)
def test_the_manage_forms_refuse_unreadable_bodies_cleanly(
    hostile: Hostile, body: bytes, content_type: str, action: str
) -> None:
    answer = hostile.send(
        "POST", f"/manage/{hostile.manage}/{action}", data=body, headers={"Content-Type": content_type}
    )
    assert 400 <= answer.status < 500


@props(100)
@given(params=_queries(["week", "reschedule", "tz", "done", "booked"], "week"))
def test_the_manage_page_answers_any_query_cleanly(hostile: Hostile, params: list[tuple[str, str]]) -> None:
    answer = hostile.send("GET", f"/manage/{hostile.manage}", params=[*params, ("reschedule", "1")])
    assert answer.status in (200, 400, 414), answer.text[:300]


# ------------------------------------------------------------------------------------------ sign-in


AUTH_FIELDS = [
    "state",
    "code",
    "claims",
    "error",
    "error_description",
    "admin_consent",
    "tenant",
    "session_state",
    "client_info",
    "scope",
]


@props(80)
@given(
    path=st.sampled_from(["/auth/start", "/auth/callback", "/auth/consent"]),
    params=st.lists(st.tuples(st.sampled_from(AUTH_FIELDS), hostile_text), max_size=5),
    cookie=st.one_of(st.none(), st.text(max_size=40), st.sampled_from(["gAAAAA" + "A" * 100])),
)
def test_the_sign_in_pages_answer_any_query_cleanly(
    hostile: Hostile, path: str, params: list[tuple[str, str]], cookie: str | None
) -> None:
    headers = {"Cookie": f"sw_signin={quote(cookie, safe='')}"} if cookie is not None else {}
    answer = hostile.send("GET", path, params=params, headers=headers)
    assert answer.status in (200, 302, 400, 403, 404, 414)


@props(60)
@given(
    fields=st.lists(st.tuples(st.sampled_from(AUTH_FIELDS), hostile_text), max_size=5),
    body=st.one_of(st.none(), raw_multipart),
    content_type=st.sampled_from(OTHER_TYPES + JSON_TYPES),
)
def test_the_sign_in_callback_answers_any_post_cleanly(
    hostile: Hostile, fields: list[tuple[str, str]], body: bytes | None, content_type: str
) -> None:
    if body is None:
        answer = hostile.send("POST", "/auth/callback", data=fields)
    else:
        answer = hostile.send("POST", "/auth/callback", data=body, headers={"Content-Type": content_type})
    assert 200 <= answer.status < 500


# ------------------------------------------------------------------------------------------ paths


@props(80)
@given(
    segments=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=3),
    where=st.sampled_from(["/book/", "/book/adele/", "/manage/", f"/manage/{'x' * 43}/"]),
    method=st.sampled_from(["GET", "POST"]),
    tail=st.sampled_from(["", "/slots", "/invite.ics"]),
)
def test_any_path_is_answered_cleanly(
    hostile: Hostile, segments: list[str], where: str, method: str, tail: str
) -> None:
    path = where + "/".join(quote(s, safe="") for s in segments) + tail
    answer = hostile.send(method, path, data=b"{}", headers={"Content-Type": "application/json"})
    assert answer.status < 500


@props(20)
@given(
    length=st.one_of(
        st.integers(min_value=MAX_TARGET + 1, max_value=MAX_REQUEST_LINE - 100),
        st.integers(min_value=MAX_REQUEST_LINE + 1, max_value=2 * MAX_REQUEST_LINE),
    ),
    where=st.sampled_from(["/book/", f"{DEMO_PATH}/slots?start=", "/manage/", "/api/messages?x="]),
)
def test_an_overlong_address_is_a_clean_4xx(hostile: Hostile, length: int, where: str) -> None:
    path = where + "a" * (length - len(where))
    answer = hostile.send("GET", path)
    if len(path) + len("GET  HTTP/1.1") < MAX_REQUEST_LINE:
        assert answer.status == 414 and _is_problem(answer)
    else:
        assert answer.status == 400 and len(answer.body) < 400  # aiohttp's own one-liner (web.security)
    assert answer.status >= 400
