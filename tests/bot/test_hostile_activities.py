"""Whatever reaches ``/api/messages`` is answered with the protocol's 4xx or a card that says what was wrong,
never a 5xx and never the "something went wrong on our side" card (issue 11 §3, issue 16 §1, by class).

Hypothesis generates against one running bot (served from its own thread, see tests/web/threaded.py):
raw bodies (random bytes, thousands of ``[``, numbers with thousands of digits, any JSON) under any content
type; card actions (Action.Execute invokes and Action.Submit messages) of every verb, and of verbs that
don't exist, whose data holds anything in any key, instants and dates from year 1 to 9999 at any offset, a
real link's id or junk; ``signin/tokenExchange`` and ``composeExtension/queryLink`` invokes whose value is
anything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cards.verbs import ALL_VERBS, TIME_ZONE_INPUT, VERB_DATA
from tests.bot.harness import DANA, IVAN, Bot, migrated_database, running_bot
from tests.scheduling.strategies import props
from tests.web.threaded import Threaded, threaded

OUR_SIDE = "on our side"

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
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
        st.datetimes(max_value=datetime(1, 1, 1, 1)),  # the first and last hour there is
        st.datetimes(min_value=datetime(9999, 12, 31, 23)),
        st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2032, 12, 31)),
    ),
    st.sampled_from(OFFSETS),
).map(lambda d: d.isoformat().replace("+00:00", "Z"))
dates = st.one_of(
    st.dates(max_value=date(1, 1, 31)),
    st.dates(min_value=date(9999, 12, 1)),
    st.dates(min_value=date(2025, 1, 1), max_value=date(2100, 1, 31)),
).map(date.isoformat)
KEYS = sorted({key for spec in VERB_DATA.values() for key in spec.required | spec.optional} | {TIME_ZONE_INPUT})


VALUES: dict[str, st.SearchStrategy[Any]] = {
    "start": instants,
    "weekStart": dates,
    "day": dates,
    "tz": st.sampled_from(["UTC", "Europe/Paris", "Pacific/Kiritimati", "Mars/Olympus", ""]),
    TIME_ZONE_INPUT: st.sampled_from(["Asia/Tokyo", "Etc/GMT-14", "nowhere"]),
    "duration": st.one_of(st.sampled_from([30, "30", 0, 1441, True]), json_scalars),
    "offset": st.one_of(st.integers(min_value=-5, max_value=10**6), json_scalars),
    "page": st.one_of(st.integers(min_value=-5, max_value=10**6), json_scalars),
    "text": st.sampled_from(["help", "my links", "make a 9999999999999999999 minute link", ""]),
}
TIMES = ("start", "weekStart", "day")
#: The verbs whose buttons carry a date or a time: what reaches the picker's and the core's date arithmetic.
TIMED_VERBS = sorted(v for v, spec in VERB_DATA.items() if set(TIMES) & (spec.required | spec.optional))


def junk_data(link_id: str) -> st.SearchStrategy[dict[str, Any]]:
    """Any keys of the contract (and others) holding anything, a real link id among them."""
    values = VALUES | {"linkId": st.sampled_from([link_id, link_id, "no-such-link", ""])}
    return st.lists(st.sampled_from([*KEYS, "x"]), max_size=7, unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({k: st.one_of(values.get(k, json_values), json_values) for k in keys})
    )


def timed_button(link_id: str) -> st.SearchStrategy[dict[str, Any]]:
    """A button of a verb that carries dates or times, every other key well-formed (the real link), and its
    dates and times anywhere from year 1 to 9999 at any offset."""
    plausible: dict[str, st.SearchStrategy[Any]] = {
        "linkId": st.just(link_id),
        "bookingId": st.just("no-such-booking"),
        "tz": st.just("Europe/Paris"),
        "duration": st.just(30),
        "offset": st.just(0),
    }

    def button(verb: str) -> st.SearchStrategy[dict[str, Any]]:
        spec = VERB_DATA[verb]  # type: ignore[index]
        keys = spec.required | spec.optional
        fields = {k: VALUES[k] for k in TIMES if k in keys}
        fields |= {k: plausible[k] for k in spec.required - set(TIMES) if k in plausible}
        return st.fixed_dictionaries({"verb": st.just(verb), **fields})

    return st.sampled_from(TIMED_VERBS).flatmap(button)


class HostileBot:
    def __init__(self, app: Threaded[Bot]) -> None:
        self.app = app
        bot = app.site
        created = app.call(bot.card(DANA, "make a 30-min link called Hostile"))
        self.link_id = next(a["data"]["linkId"] for a in _actions(created) if "linkId" in a.get("data", {}))

    def post(self, body: Any, **options: Any) -> tuple[int, str]:
        if isinstance(body, bytes):
            answer = self.app.request("POST", "/api/messages", data=body, **options)
        else:
            answer = self.app.request("POST", "/api/messages", json=body, **options)
        assert answer.status < 500, (answer.status, answer.text[:300])
        assert "Traceback" not in answer.text
        return answer.status, answer.text

    def sent_since(self, before: int) -> str:
        return json.dumps([s.body for s in self.app.site.connector.sent[before:]])


def _actions(card: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = [card]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "Action.Execute":
                found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileBot]:
    template = migrated_database(tmp_path_factory.mktemp("hostile-template"))
    directory: Path = tmp_path_factory.mktemp("hostile-bot")
    with threaded(lambda: running_bot(directory, template)) as app:
        yield HostileBot(app)


raw_bodies = st.one_of(
    st.binary(max_size=200),
    st.integers(min_value=65, max_value=60_000).map(lambda n: ("[" * n + "]" * n).encode()),
    st.integers(min_value=1_000, max_value=100_000).map(lambda n: b"[" * n),
    st.integers(min_value=4_300, max_value=20_000).map(lambda n: b'{"type": "message", "id": ' + b"9" * n + b"}"),
    st.sampled_from([b"{}", b"[]", b"null", b'{"type": "message"}', b'{"type": NaN}', b"\xff\xfe{}"]),
    json_values.map(lambda v: json.dumps(v).encode()),
)


@props(120)
@given(
    body=raw_bodies,
    content_type=st.sampled_from(
        ["application/json", "application/json; charset=latin-1", "multipart/form-data; boundary=x", "text/plain", ""]
    ),
)
def test_any_body_at_the_bot_endpoint_is_a_clean_4xx(hostile: HostileBot, body: bytes, content_type: str) -> None:
    status, text = hostile.post(body, headers={"Content-Type": content_type})
    assert status in (200, 400, 401, 415), text[:300]


def _execute(hostile: HostileBot, verb: Any, values: dict[str, Any]) -> None:
    bot = hostile.app.site
    value = {"action": {"type": "Action.Execute", "id": "", "verb": verb, "data": values}, "trigger": "manual"}
    status, text = hostile.post(bot.activity("adaptive_card_action", IVAN, value=value))
    assert status == 200, text[:300]
    answer = json.loads(text)
    assert answer["statusCode"] == 200 and OUR_SIDE not in text, text[:500]


@props(120)
@given(
    verb=st.one_of(st.sampled_from(sorted(ALL_VERBS)), st.sampled_from(["link.nuke", ""]), json_scalars), data=st.data()
)
def test_any_card_action_gets_a_card_never_our_side(hostile: HostileBot, verb: Any, data: st.DataObject) -> None:
    _execute(hostile, verb, data.draw(junk_data(hostile.link_id)))


@props(150)
@given(data=st.data())
def test_a_button_with_any_date_or_time_gets_a_card_never_our_side(hostile: HostileBot, data: st.DataObject) -> None:
    values = data.draw(timed_button(hostile.link_id))
    _execute(hostile, values["verb"], values)


@props(80)
@given(verb=st.one_of(st.sampled_from(sorted(ALL_VERBS)), json_scalars), data=st.data())
def test_any_submit_gets_an_answer_never_our_side(hostile: HostileBot, verb: Any, data: st.DataObject) -> None:
    values = {"verb": verb, **data.draw(st.one_of(junk_data(hostile.link_id), timed_button(hostile.link_id)))}
    bot = hostile.app.site
    before = len(bot.connector.sent)
    body = bot.activity("personal_message", IVAN, text=None, value=values, replyToId="1:card")
    body.pop("attachments", None)
    status, text = hostile.post(body)
    assert status == 200, text[:300]
    assert OUR_SIDE not in hostile.sent_since(before)


@props(100)
@given(
    value=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {},
            optional={
                "id": st.one_of(st.text(max_size=10), json_values),
                "token": st.one_of(st.text(max_size=30), json_values),
                "connectionName": json_values,
            },
        ),
    )
)
def test_any_token_exchange_is_answered_by_the_protocol(hostile: HostileBot, value: Any) -> None:
    body = hostile.app.site.activity("signin_token_exchange", DANA, value=value)
    status, text = hostile.post(body)
    assert status in (200, 400, 412), text[:300]
    if status == 400:
        assert "failureDetail" in json.loads(text)


@props(100)
@given(
    value=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {
                "url": st.one_of(
                    st.text(max_size=40),
                    json_values,
                    st.sampled_from(["http://127.0.0.1/book/adele/x", "https://[::1/book/a/b"]),
                    st.integers(min_value=8_000, max_value=20_000).map(lambda n: "https://x.example/book/a/" + "b" * n),
                )
            }
        ),
    )
)
def test_any_link_query_is_answered_with_a_result(hostile: HostileBot, value: Any) -> None:
    body = hostile.app.site.activity("query_link", IVAN, value=value)
    status, text = hostile.post(body)
    assert status == 200 and "composeExtension" in json.loads(text), text[:300]
