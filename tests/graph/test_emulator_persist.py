"""The emulator's world in a file (graph.sandbox.persist): generated worlds and records round-trip exactly,
a restored emulator answers as the old one did (events, occurrences, tokens, subscriptions, delta links,
transactionId), the file is written atomically and only when the world changed, and a file that can't be
read (another version, damaged, inconsistent) never stops a start."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.sandbox import EmulatorState, create_graph_app, seed_demo
from graph.sandbox.errors import GraphError
from graph.sandbox.events import Expand, render_event
from graph.sandbox.model import AccessToken, DeltaSync, StoredEvent, Subscription
from graph.sandbox.page import render
from graph.sandbox.persist import (
    EVENT,
    FORMAT,
    RECORDS,
    VERSION,
    StateFile,
    StateFormatError,
    dumps,
    restore,
    to_document,
)
from graph.sandbox.recurrence import Recurrence
from graph.sandbox.seed import demo_user_id
from tests.graph.emulator_fixtures import ADELE, MEGAN, T0, Clock, event_body, running, serve
from tests.graph.receiver import Receiver, running_receiver

ZONES = (
    "UTC",
    "Pacific Standard Time",
    "Europe/London",
    "India Standard Time",
    "AUS Eastern Standard Time",
    "America/Sao_Paulo",
    "",
)
EVERYTHING = Expand(ext_props=frozenset(), extensions=frozenset())


def reloaded(state: EmulatorState, clock: Clock | None = None) -> EmulatorState:
    """A new emulator restored from ``state``'s document, through JSON text as the file holds it."""
    fresh = EmulatorState(clock=clock)
    restore(fresh, json.loads(dumps(state)))
    return fresh


def world_view(state: EmulatorState, start: datetime, end: datetime) -> dict[str, Any]:
    """What clients can see: every mailbox's stored events and the expanded view of every calendar."""
    return {
        "users": sorted((u.id, u.upn, u.tenant_id, u.time_zone) for u in state.users.values()),
        "events": {u.upn: state.events(u.id) for u in state.users.values()},
        "views": {
            cal.id: [render_event(e, expand=EVERYTHING) for e in state.view(cal, start, end)]
            for cal in state.calendars.values()
        },
        "directory": dict(state.directory),
    }


# ------------------------------------------------------------------------------- generated worlds

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=24)
attendees = st.lists(st.tuples(texts, st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.example", fullmatch=True)), max_size=3)
event_specs = st.fixed_dictionaries(
    {
        "who": st.integers(0, 5),
        "subject": texts,
        "day": st.integers(-10, 40),
        "minute": st.integers(0, 24 * 60 - 1),
        "length": st.integers(0, 600),
        "zone": st.sampled_from(ZONES[:-1]),
        "all_day": st.booleans(),
        "recurrence": st.sampled_from([None, "daily", "weekly", "numbered"]),
        "online": st.booleans(),
        "attendees": attendees,
        "show_as": st.sampled_from(["busy", "free", "tentative", "oof", "workingElsewhere"]),
        "tx": st.one_of(st.none(), st.uuids().map(str)),
        "categories": st.lists(texts, max_size=2),
        "change": st.sampled_from([None, "exception", "delete-occurrence", "delete", "patch"]),
    }
)
worlds = st.fixed_dictionaries(
    {
        "people": st.lists(st.tuples(st.sampled_from(ZONES), st.booleans()), min_size=1, max_size=4),
        "events": st.lists(event_specs, max_size=8),
        "share": st.booleans(),
        "links": st.lists(st.tuples(st.uuids().map(str), st.integers(0, 5)), max_size=3),
    }
)


def _recurrence(kind: str | None, day: date) -> dict[str, Any] | None:
    if kind == "daily":
        return {
            "pattern": {"type": "daily", "interval": 2},
            "range": {"type": "endDate", "startDate": day.isoformat(), "endDate": (day + timedelta(20)).isoformat()},
        }
    if kind == "weekly":
        return {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [day.strftime("%A").lower(), "friday"]},
            "range": {"type": "noEnd", "startDate": day.isoformat()},
        }
    if kind == "numbered":
        return {
            "pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": day.day},
            "range": {"type": "numbered", "startDate": day.isoformat(), "numberOfOccurrences": 4},
        }
    return None


def build_world(spec: dict[str, Any], clock: Clock) -> EmulatorState:
    state = EmulatorState(clock=clock, seed=11)
    people = [
        state.add_user(
            f"p{i}@contoso.example",
            f"Person {i}",
            time_zone=zone,
            working_days=("monday", "tuesday") if short else ("monday", "tuesday", "wednesday"),
        )
        for i, (zone, short) in enumerate(spec["people"])
    ]
    if spec["share"] and len(people) > 1:
        state.add_calendar(people[0].id, "Team", can_edit=False, owner_upn=people[1].upn)
    for e in spec["events"]:
        owner = people[e["who"] % len(people)]
        day = T0.date() + timedelta(days=e["day"])
        start = datetime.combine(day, datetime.min.time(), UTC) + timedelta(minutes=e["minute"])
        try:
            created = state.add_event(
                owner.id,
                e["subject"],
                day if e["all_day"] else start,
                day + timedelta(days=1) if e["all_day"] else start + timedelta(minutes=e["length"]),
                show_as=e["show_as"],
                is_all_day=e["all_day"],
                time_zone=e["zone"],
                recurrence=_recurrence(e["recurrence"], day),
                is_online_meeting=e["online"],
                attendees=e["attendees"],
                categories=e["categories"],
                transaction_id=e["tx"],
                single_value_extended_properties=[
                    {"id": "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name Tag", "value": e["subject"]}
                ],
            )
        except GraphError:
            continue  # the emulator refused it, as Graph would: nothing to keep
        if e["change"] is not None:
            with contextlib.suppress(GraphError):  # refused (an all-day occurrence given clock times...)
                _change(state, owner.id, created, e)
    for oid, who in spec["links"]:
        state.link_directory(state.default_tenant_id, oid, people[who % len(people)])
    state.issue_token(people[0].id)
    state.issue_refresh_token(people[0], "client-1", "Calendars.ReadWrite")
    return state


def _change(state: EmulatorState, owner_id: str, created: dict[str, Any], e: dict[str, Any]) -> None:
    owner = state.users[owner_id]
    if e["change"] == "delete":
        state.remove_event(owner.id, created["id"])
    elif e["change"] == "patch":
        state.patch_event(owner.id, created["id"], {"subject": e["subject"] + " (moved)", "showAs": "free"})
    elif created["type"] == "seriesMaster":
        occurrences = [
            o
            for cal in state.calendars.values()
            if cal.owner_id == owner.id
            for o in state.view(cal, T0 - timedelta(days=20), T0 + timedelta(days=90))
            if o.series_master_id == created["id"]
        ]
        if occurrences and e["change"] == "exception":
            state.patch_event(
                owner.id,
                occurrences[0].id,
                {
                    "subject": "just this once",
                    "start": {"dateTime": "2030-03-01T07:00:00", "timeZone": "UTC"},
                    "end": {"dateTime": "2030-03-01T07:30:00", "timeZone": "UTC"},
                },
            )
        elif occurrences:
            state.remove_event(owner.id, occurrences[-1].id)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds)
def test_a_generated_world_round_trips_exactly_and_answers_as_before(spec: dict[str, Any]) -> None:
    clock = Clock(T0)
    state = build_world(spec, clock)
    restored = reloaded(state, clock)
    assert dumps(restored) == dumps(state)  # a fixed point: nothing lost, nothing added
    window = (T0 - timedelta(days=15), T0 + timedelta(days=60))
    assert world_view(restored, *window) == world_view(state, *window)
    for ev in [e for cal in state.calendars.values() for e in state.view(cal, *window)]:
        owner = state.users[ev.owner_id]
        assert render_event(restored.find_event(restored.user(owner.id), ev.id)) == render_event(ev)
    assert restored.ids.guid() == state.ids.guid()  # the id source goes on where it stopped: no id twice


def test_the_demo_world_round_trips_and_its_people_have_the_same_ids_on_every_run() -> None:
    state = EmulatorState(tenant_id="7e57e57e-0000-4000-8000-000000000001")
    people = seed_demo(state, T0)
    again = seed_demo(EmulatorState(tenant_id=state.default_tenant_id), T0 + timedelta(days=3))
    assert (
        [p.id for p in again]
        == [p.id for p in people]
        == [demo_user_id(state.default_tenant_id, p.upn) for p in people]
    )
    restored = reloaded(state)
    assert seed_demo(restored, T0) == [restored.user(p.upn) for p in people]  # seeding a restored world adds nothing
    assert dumps(restored) == dumps(state)


# -------------------------------------------------------------------------------------- records


def test_every_field_of_every_record_has_a_codec() -> None:
    """Adding a field to a record without saying how it is saved fails here (it would be lost at restart)."""
    for cls, codec in RECORDS.items():
        assert set(codec.fields) == {f.name for f in fields(cls)}, cls.__name__


aware = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
objects = st.dictionaries(texts, json_values, max_size=3)
dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1))
recurrences = st.builds(
    Recurrence,
    type=st.sampled_from(["daily", "weekly"]),
    interval=st.integers(1, 99),
    days_of_week=st.lists(st.integers(0, 6), max_size=7).map(tuple),
    first_day_of_week=st.integers(0, 6),
    day_of_month=st.integers(0, 31),
    month=st.integers(0, 12),
    index=st.sampled_from(["first", "last"]),
    range_type=st.sampled_from(["endDate", "noEnd", "numbered"]),
    start_date=dates,
    end_date=st.none() | dates,
    count=st.integers(0, 999),
    recurrence_time_zone=st.none() | st.sampled_from(ZONES),
)
EVENT_FIELDS: dict[str, Any] = {
    "id": texts,
    "key": st.binary(min_size=16, max_size=16),
    "owner_id": texts,
    "calendar_id": texts,
    "ical_uid": texts,
    "change_key": texts,
    "created": aware,
    "modified": aware,
    "start": aware,
    "end": aware,
    "start_tz": st.sampled_from(ZONES[:-1]),
    "end_tz": st.sampled_from(ZONES[:-1]),
    "subject": texts,
    "body_type": st.sampled_from(["html", "text"]),
    "body_content": texts,
    "importance": texts,
    "sensitivity": texts,
    "show_as": texts,
    "categories": st.lists(texts, max_size=3),
    "is_all_day": st.booleans(),
    "all_day_start": st.none() | dates,
    "all_day_end": st.none() | dates,
    "location": objects,
    "locations": st.lists(objects, max_size=2),
    "attendees": st.lists(objects, max_size=2),
    "organizer": objects,
    "is_organizer": st.booleans(),
    "response_status": st.dictionaries(texts, texts, max_size=2),
    "is_online_meeting": st.booleans(),
    "online_meeting_provider": texts,
    "online_meeting": st.none() | objects,
    "recurrence": st.none() | recurrences,
    "exceptions": st.just({}),
    "deleted_dates": st.sets(dates, max_size=3),
    "type": texts,
    "series_master_id": st.none() | texts,
    "original_start": st.none() | aware,
    "original_date": st.none() | dates,
    "transaction_id": st.none() | texts,
    "ext_props": st.dictionaries(texts, st.tuples(texts, texts), max_size=2),
    "extensions": st.lists(objects, max_size=2),
    "is_reminder_on": st.booleans(),
    "reminder_minutes": st.integers(-(2**31), 2**31),
    "response_requested": st.booleans(),
    "allow_new_time_proposals": st.booleans(),
    "hide_attendees": st.booleans(),
    "is_cancelled": st.booleans(),
}
exception_events = st.builds(StoredEvent, **EVENT_FIELDS)
stored_events = st.builds(
    StoredEvent, **(EVENT_FIELDS | {"exceptions": st.dictionaries(dates, exception_events, max_size=2)})
)


def test_the_event_strategy_sets_every_field() -> None:
    assert set(EVENT_FIELDS) == {f.name for f in fields(StoredEvent)}


@settings(max_examples=150, deadline=None)
@given(stored_events)
def test_any_stored_event_round_trips_through_json_with_its_types(event: StoredEvent) -> None:
    back = EVENT.decode(json.loads(json.dumps(EVENT.encode(event))), "event")
    for f in fields(StoredEvent):
        if f.name != "exceptions":
            assert getattr(back, f.name) == getattr(event, f.name), f.name
            assert type(getattr(back, f.name)) is type(getattr(event, f.name)), f.name
    assert {d: EVENT.encode(x) for d, x in back.exceptions.items()} == {
        d: EVENT.encode(x) for d, x in event.exceptions.items()
    }


# ------------------------------------------------------------------------ a restored emulator over HTTP


def _relocate(link: str, base: str) -> str:
    """A link the first emulator handed out, pointed at the second one (same path and query)."""
    parts = urlsplit(link)
    return f"{base}{parts.path[parts.path.index('/v1.0') + len('/v1.0') :]}?{parts.query}"


async def test_a_restored_emulator_keeps_tokens_subscriptions_delta_links_and_transaction_ids() -> None:
    async with running_receiver() as receiver:
        doc, saved = await _first_life(receiver)
        async with running(people=False, now=T0 + timedelta(minutes=30), setup=lambda s: restore(s, doc)) as emu:
            old = {"Authorization": f"Bearer {saved['access_token']}"}
            events = await emu.http.get(f"{emu.graph}/me/events", headers=old)
            assert events.status_code == 200 and [e["subject"] for e in events.json()["value"]] == ["Booked yesterday"]
            subs = await emu.http.get(f"{emu.graph}/subscriptions", headers=old)
            assert [s["id"] for s in subs.json()["value"]] == [saved["subscription"]]
            unchanged = await emu.http.get(_relocate(saved["delta"], emu.graph), headers=old)
            assert unchanged.status_code == 200 and unchanged.json()["value"] == []
            again = await emu.http.post(
                f"{emu.graph}/me/events",
                headers=old,
                json=event_body(
                    "Booked yesterday",
                    T0 + timedelta(days=1),
                    T0 + timedelta(days=1, minutes=30),
                    transactionId=saved["tx"],
                ),
            )
            assert again.json()["id"] == saved["event"]  # a retried create still finds yesterday's event
            refreshed = await emu.http.post(
                f"{emu.login}/common/oauth2/v2.0/token",
                data={"grant_type": "refresh_token", "refresh_token": saved["refresh_token"], "client_id": "client-1"},
            )
            assert refreshed.status_code == 200, refreshed.text
            receiver.notifications.clear()
            created = await emu.post(
                ADELE,
                "/me/events",
                event_body("Booked today", T0 + timedelta(days=2), T0 + timedelta(days=2, minutes=30)),
            )
            assert created.status_code == 201
            await emu.state.notifier.drain()
            assert [n["value"][0]["subscriptionId"] for n in receiver.notifications] == [saved["subscription"]]
            changed = await emu.http.get(_relocate(saved["delta"], emu.graph), headers=old)
            assert [e["subject"] for e in changed.json()["value"]] == ["Booked today"]


async def _first_life(receiver: Receiver) -> tuple[dict[str, Any], dict[str, str]]:
    async with running(now=T0) as emu:
        tx = "5a1d0b0c-0000-4000-8000-0000000000aa"
        created = await emu.post(
            ADELE,
            "/me/events",
            event_body(
                "Booked yesterday", T0 + timedelta(days=1), T0 + timedelta(days=1, minutes=30), transactionId=tx
            ),
        )
        sub = await emu.post(
            ADELE,
            "/subscriptions",
            {
                "changeType": "created,updated,deleted",
                "notificationUrl": f"{receiver.url}/notify",
                "resource": "me/events",
                "expirationDateTime": (T0 + timedelta(days=2)).isoformat().replace("+00:00", "Z"),
                "clientState": "s3cret",
            },
        )
        assert sub.status_code == 201, sub.text
        delta = await emu.get(
            ADELE,
            "/me/calendarView/delta",
            params={"startDateTime": T0.isoformat(), "endDateTime": (T0 + timedelta(days=7)).isoformat()},
        )
        assert delta.status_code == 200 and "@odata.deltaLink" in delta.json()
        saved = {
            "access_token": emu.token(ADELE),
            "tx": tx,
            "event": created.json()["id"],
            "subscription": sub.json()["id"],
            "delta": delta.json()["@odata.deltaLink"],
            "refresh_token": emu.state.issue_refresh_token(emu.state.user(ADELE), "client-1", "User.Read"),
        }
        return json.loads(dumps(emu.state)), saved


def test_expired_tokens_and_used_codes_are_not_kept() -> None:
    clock = Clock(T0)
    state = EmulatorState(clock=clock)
    user = state.add_user(ADELE, "Adele")
    live, dead = state.issue_token(ADELE, expires_in=3600), state.issue_token(ADELE, expires_in=60)
    clock.advance(minutes=5)
    doc = to_document(state)
    assert set(doc["access_tokens"]) == {live} and dead not in json.dumps(doc)
    restored = reloaded(state, clock)
    authenticated = restored.authenticate(live)
    assert isinstance(authenticated, AccessToken) and authenticated.user_id == user.id
    assert restored.authenticate(dead) is None


# --------------------------------------------------------------------------------- unreadable files


def _doc() -> dict[str, Any]:
    state = EmulatorState(clock=Clock(T0))
    state.add_user(ADELE, "Adele", time_zone="Pacific Standard Time")
    state.add_event(ADELE, "Standup", T0, T0 + timedelta(minutes=15))
    return to_document(state)


def _broken(change: str) -> Any:
    doc = _doc()
    if change == "version":
        doc["version"] = VERSION + 1
    elif change == "format":
        doc["format"] = "something-else"
    elif change == "missing":
        del doc["events"]
    elif change == "type":
        doc["users"][0]["upn"] = 5
    elif change == "owner":
        doc["events"][0]["owner_id"] = "nobody"
    elif change == "zone":
        doc["users"][0]["time_zone"] = "Mars/Olympus_Mons"
    elif change == "naive":
        doc["events"][0]["start"] = "2030-03-04T00:00:00"
    elif change == "ids":
        doc["ids"] = [3, [1, 2, 3], None]
    elif change == "interval":  # a series that would never end expanding
        doc["events"][0]["recurrence"] = {
            "type": "daily",
            "interval": 0,
            "days_of_week": [],
            "first_day_of_week": 6,
            "day_of_month": 0,
            "month": 0,
            "index": "first",
            "range_type": "noEnd",
            "start_date": "2030-03-04",
            "end_date": None,
            "count": 0,
            "recurrence_time_zone": None,
        }
    elif change == "times":
        doc["events"][0]["end"] = "2030-03-03T00:00:00+00:00"
    elif change == "list":
        return [doc]
    return doc


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("version", f"format version {VERSION + 1}; this one reads version {VERSION}"),
        ("format", "not a saved Graph sandbox"),
        ("missing", "events: missing"),
        ("type", "users[0].upn: expected a string"),
        ("owner", "owner or calendar is unknown"),
        ("zone", "unknown time zone"),
        ("naive", "events[0].start: expected a date and time with its UTC offset"),
        ("ids", "ids:"),
        ("list", "not a saved Graph sandbox"),
        ("not json", "it is not JSON"),
        ("interval", "interval must be a positive integer"),
        ("times", "its times are inconsistent"),
    ],
)
def test_a_file_that_cannot_be_used_is_moved_aside_and_the_sandbox_starts_fresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, change: str, reason: str
) -> None:
    path = tmp_path / "sandbox-graph.json"
    text = "{ half a file" if change == "not json" else json.dumps(_broken(change))
    path.write_text(text)
    state = EmulatorState()
    with caplog.at_level(logging.WARNING, logger="graph.sandbox"):
        assert StateFile(path).load(state) is False
    assert state.users == {} and state.all_stored_events() == []  # untouched: seeding can start from scratch
    assert not path.exists() and (tmp_path / "sandbox-graph.json.unreadable").read_text() == text
    [record] = caplog.records
    assert reason in record.getMessage() and "starting with a fresh world" in record.getMessage()
    seed_demo(state, T0)
    assert state.get_user(ADELE) is not None


def test_restore_names_where_the_document_is_wrong() -> None:
    doc = _doc()
    doc["events"][0]["attendees"] = [{"emailAddress": {}}, "not an object"]
    with pytest.raises(StateFormatError, match=r"events\[0\]\.attendees\[1\]: expected an object"):
        restore(EmulatorState(), doc)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:4]):
            out += _paths(v, (*prefix, i))
    return out


SMALL_DOC = _doc()
DOC_PATHS = [p for p in _paths(SMALL_DOC) if p and p[0] != "ids"]
# Graph JSON kept as the client sent it (attendees, locations, extensions, a custom zone): its shape (an object,
# a list of objects) is checked on load, its content was checked when it was POSTed.
AS_SENT = {
    "location",
    "locations",
    "attendees",
    "organizer",
    "online_meeting",
    "extensions",
    "working_time_zone",
    "response_status",
}


TRICKY = st.sampled_from(
    [
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59-05:00",
        "2030-03-04",
        "",
        "UTC",
        "Mars/Olympus",
        "AAMkAG+/==",
        "daily",
        "weekly",
        "noEnd",
        "numbered",
        0,
        -1,
        2**63,
        True,
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(DOC_PATHS), st.one_of(TRICKY, json_values))
def test_no_damage_to_a_file_crashes_the_start_or_a_later_read(
    tmp_path_factory: pytest.TempPathFactory, where: tuple[Any, ...], value: Any
) -> None:
    doc = json.loads(json.dumps(SMALL_DOC))
    target = doc
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = value
    path = tmp_path_factory.mktemp("damaged") / "sandbox-graph.json"
    path.write_text(json.dumps(doc))
    state = EmulatorState(clock=Clock(T0))
    if StateFile(path).load(state):  # restored: every mailbox reads as Graph would show it
        if AS_SENT & set(where):
            return
        for user in state.users.values():
            state.events(user.id)
        for cal in state.calendars.values():
            [render_event(e) for e in state.view(cal, T0 - timedelta(days=400), T0 + timedelta(days=400))]
        render(state, days=62)
    else:  # moved aside: the start goes on with an empty world
        assert state.users == {} and not path.exists()


# ------------------------------------------------------------------------------------- the file itself


def test_saving_is_atomic_private_and_only_when_something_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "var" / "sandbox-graph.json"
    state = EmulatorState()
    state.add_user(ADELE, "Adele")
    keeper = StateFile(path)
    assert keeper.save(state) is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds tokens
    assert keeper.save(state) is False  # unchanged: no write
    state.add_user(MEGAN, "Megan")
    before = path.read_text()

    def crash(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        keeper.save(state)
    assert path.read_text() == before  # the old world is whole
    assert sorted(p.name for p in path.parent.iterdir()) == ["sandbox-graph.json"]  # no temporary left
    monkeypatch.undo()
    assert keeper.save(state) is True
    assert {u["upn"] for u in json.loads(path.read_text())["users"]} == {ADELE, MEGAN}
    assert json.loads(path.read_text())["format"] == FORMAT


async def test_a_kept_world_is_written_soon_after_a_change_and_on_shutdown(tmp_path: Path) -> None:
    path = tmp_path / "sandbox-graph.json"
    state = EmulatorState(clock=Clock(T0))
    state.add_user(ADELE, "Adele")
    keeper = StateFile(path, debounce=0.02, check_every=3600)
    app = create_graph_app(state)
    app.cleanup_ctx.append(keeper.keep(state))
    async with serve(app) as root:
        token = state.issue_token(ADELE)
        async with httpx.AsyncClient() as http:
            created = await http.post(
                f"{root}/v1.0/me/events",
                headers={"Authorization": f"Bearer {token}"},
                json=event_body("Over HTTP", T0, T0 + timedelta(minutes=30)),
            )
            assert created.status_code == 201
        for _ in range(200):
            if path.exists() and "Over HTTP" in path.read_text():
                break
            await asyncio.sleep(0.01)
        assert "Over HTTP" in path.read_text()
        mtime = path.stat().st_mtime_ns
        await asyncio.sleep(0.1)
        assert path.stat().st_mtime_ns == mtime  # nothing changed: nothing written
        state.add_user(MEGAN, "Megan")  # just before shutdown
    assert MEGAN in path.read_text()
    restored = EmulatorState()
    assert StateFile(path).load(restored) is True
    assert [e["subject"] for e in restored.events(ADELE)] == ["Over HTTP"]


def test_a_loaded_world_is_not_written_again_until_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "sandbox-graph.json"
    state = EmulatorState(clock=Clock(T0))
    state.add_user(ADELE, "Adele")
    state.subscriptions["s1"] = Subscription(
        id="s1",
        user_id=state.user(ADELE).id,
        resource="me/events",
        change_types=("created",),
        notification_url="https://example.org/n",
        lifecycle_notification_url=None,
        expiration=T0 + timedelta(days=1),
        client_state=None,
        application_id="app",
        creator_id=state.user(ADELE).id,
        tenant_id=state.default_tenant_id,
    )
    state.delta_syncs["d1"] = DeltaSync(
        state.user(ADELE).id, state.default_calendar(ADELE).id, T0, T0 + timedelta(days=1), {"e": "k"}, issued=T0
    )
    StateFile(path).save(state)
    again = EmulatorState(clock=Clock(T0))
    keeper = StateFile(path)
    assert keeper.load(again) is True
    assert keeper.save(again) is False
    assert again.subscriptions["s1"].expiration == T0 + timedelta(days=1)
    assert again.delta_syncs["d1"].seen == {"e": "k"}


def test_the_document_is_plain_json_with_format_and_version() -> None:
    doc = _doc()
    assert doc["format"] == FORMAT and doc["version"] == VERSION
    assert json.loads(json.dumps(doc)) == doc


async def test_a_failing_save_is_logged_once_and_retried_until_it_works(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "var"
    blocker.write_text("a file where the var directory should be")
    path = blocker / "sandbox-graph.json"
    state = EmulatorState(clock=Clock(T0))
    keeper = StateFile(path, debounce=0.01, check_every=3600)
    app = web.Application()
    app.cleanup_ctx.append(keeper.keep(state))
    with caplog.at_level(logging.INFO, logger="graph.sandbox"):
        async with serve(app):
            for i in range(5):
                state.add_user(f"p{i}@contoso.example", f"Person {i}")
                await asyncio.sleep(0.03)
            blocker.unlink()
            state.add_user(ADELE, "Adele")
            for _ in range(200):
                if path.exists():
                    break
                await asyncio.sleep(0.01)
    assert ADELE in path.read_text()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "could not save" in errors[0].getMessage()
    assert any("saved the world" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)
