"""Demo data (seed_demo, seed_mailbox, ensure_user) and the standalone ``python -m graph.sandbox``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from graph.sandbox import EmulatorState, seed_demo, seed_mailbox
from graph.sandbox.model import EmUser

NOW = datetime(2030, 3, 6, 15, 30, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def summary(state: EmulatorState, user: EmUser) -> list[tuple[object, ...]]:
    return [
        (e["subject"], e["start"]["dateTime"], e["end"]["dateTime"], e["showAs"], e["type"], e["isAllDay"])
        for e in state.events(user.id)
    ]


def test_seed_demo_is_deterministic_for_a_given_now() -> None:
    a, b, c = EmulatorState(), EmulatorState(), EmulatorState()
    people_a, people_b = seed_demo(a, NOW), seed_demo(b, NOW)
    seed_demo(c, NOW + timedelta(days=7))
    assert [p.upn for p in people_a] == [p.upn for p in people_b]
    for pa, pb in zip(people_a, people_b, strict=True):
        assert summary(a, pa) == summary(b, pb)
    assert summary(a, people_a[0]) != summary(c, c.user(people_a[0].upn))
    assert seed_demo(a, NOW) == people_a  # idempotent
    assert len(a.events(people_a[0].id)) == len(b.events(people_b[0].id))


def test_seed_demo_people_cover_the_zone_cases() -> None:
    state = EmulatorState()
    people = seed_demo(state, NOW)
    zones = {p.upn.split("@")[0]: p.time_zone for p in people}
    assert zones == {
        "adele": "Pacific Standard Time",
        "megan": "Europe/London",
        "priya": "India Standard Time",
        "diego": "Eastern Standard Time",
        "lee": "AUS Eastern Standard Time",
    }
    assert isinstance(state.user("diego@contoso.example").working_time_zone, dict)
    assert state.user("lee@contoso.example").working_days == ("monday", "tuesday", "wednesday", "thursday")
    assert len({p.tenant_id for p in people}) == 1


def test_seed_mailbox_fills_working_hours_but_leaves_room() -> None:
    state = EmulatorState()
    user = state.add_user(
        "kim@contoso.example", "Kim", time_zone="Europe/Berlin", working_start="09:00", working_end="17:00"
    )
    events = seed_mailbox(state, user, NOW, weeks=2, rng_seed=3)
    twin_state = EmulatorState()
    twin = twin_state.add_user(
        "kim@contoso.example", "Kim", time_zone="Europe/Berlin", working_start="09:00", working_end="17:00"
    )
    seed_mailbox(twin_state, twin, NOW, weeks=2, rng_seed=3)
    assert summary(state, user) == summary(twin_state, twin)
    other_state = EmulatorState()
    other = other_state.add_user("kim@contoso.example", "Kim", time_zone="Europe/Berlin")
    seed_mailbox(other_state, other, NOW, weeks=2, rng_seed=4)
    assert summary(other_state, other) != summary(state, user)
    singles = [e for e in events if e["type"] == "singleInstance"]
    assert len(singles) >= 10
    tz = user.mailbox_zone()
    busy_minutes_by_day: dict[object, int] = {}
    for e in singles:
        start = datetime.fromisoformat(e["start"]["dateTime"][:19]).replace(tzinfo=tz)
        end = datetime.fromisoformat(e["end"]["dateTime"][:19]).replace(tzinfo=tz)
        assert e["start"]["timeZone"] == "Europe/Berlin"
        assert start.weekday() < 5
        assert start.hour * 60 + start.minute >= 9 * 60 and end.hour * 60 + end.minute <= 17 * 60
        busy_minutes_by_day[start.date()] = busy_minutes_by_day.get(start.date(), 0) + int(
            (end - start).total_seconds() // 60
        )
    assert all(minutes <= 6 * 60 for minutes in busy_minutes_by_day.values())
    series = [e for e in events if e["type"] == "seriesMaster"]
    assert [s["subject"] for s in series] == ["Weekly team sync"]


def test_ensure_user_creates_and_seeds_once() -> None:
    state = EmulatorState(clock=lambda: NOW)
    user = state.ensure_user("teams.user@contoso.example", "Teams User", "W. Europe Standard Time")
    assert user.time_zone == "W. Europe Standard Time" and len(state.events(user.id)) > 5
    count = len(state.events(user.id))
    again = state.ensure_user("TEAMS.USER@contoso.example", "Someone Else", "UTC")
    assert again is user and len(state.events(user.id)) == count
    blank = state.ensure_user("blank@contoso.example", "Blank", "")
    assert blank.time_zone == "UTC"


def test_python_api_rejects_bad_users() -> None:
    state = EmulatorState()
    state.add_user("a@contoso.example", "A")
    for kwargs in (
        {"upn": "A@contoso.example", "display_name": "dup"},
        {"upn": "b@contoso.example", "display_name": "B", "time_zone": "Nowhere/City"},
        {"upn": "c@contoso.example", "display_name": "C", "working_days": ("funday",)},
        {"upn": "d@contoso.example", "display_name": "D", "working_start": "25:00"},
    ):
        try:
            state.add_user(**kwargs)
        except ValueError:
            continue
        raise AssertionError(f"accepted {kwargs}")
    assert state.get_user("nobody") is None and state.get_user("") is None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_python_m_graph_sandbox_serves_the_demo() -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "graph.sandbox", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(timeout=2) as http:
            deadline = time.monotonic() + 15
            while True:
                try:
                    if http.get(f"{base}/v1.0/me").status_code == 401:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "emulator did not start"
                time.sleep(0.1)
            assert proc.stdout is not None
            header = proc.stdout.readline()
            assert f"{base}/v1.0" in header and "/login/" in header
            tokens: dict[str, str] = {}
            while len(tokens) < 5:
                line = proc.stdout.readline()
                if "<" in line:
                    tokens[line.split("<")[1].split(">")[0]] = proc.stdout.readline().strip()
            me = http.get(f"{base}/v1.0/me", headers={"Authorization": f"Bearer {tokens['priya@contoso.example']}"})
            assert me.json()["displayName"] == "Priya Raman"
            tenant = header.rsplit("/", 1)[1].strip()
            doc = http.get(f"{base}/login/{tenant}/v2.0/.well-known/openid-configuration").json()
            assert doc["token_endpoint"] == f"{base}/login/{tenant}/oauth2/v2.0/token"
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
