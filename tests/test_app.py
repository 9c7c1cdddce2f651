"""The composition root: settings, production safety checks, and the sandbox app over real HTTP."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import app as app_module
from app import SANDBOX_STATE_FILE, Settings, build_app, guide, playground_port
from graph.sandbox import EmulatorState
from graph.sandbox.login import OBO_GRANT
from scheduling.domain import BookingStatus, ConnectionStatus
from scheduling.intervals import Interval

DEMO_PATH = "/book/adele/intro-call"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sandbox_settings(tmp_path: Path, **extra: Any) -> Settings:  # Settings takes its values as Any
    return Settings(
        _env_file=None,
        SLOTWISE_VAR_DIR=str(tmp_path),
        SLOTWISE_PORT=free_port(),
        SLOTWISE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'slotwise.db'}",
        **extra,
    )


async def test_sandbox_app_starts_and_answers_its_health_check(tmp_path: Path) -> None:
    # No demo seeding: this test stops the server at once, before a demo bootstrap could finish.
    settings = sandbox_settings(tmp_path, SLOTWISE_SANDBOX_SEED="false")
    server = TestServer(build_app(settings), host="127.0.0.1", port=settings.port)
    async with TestClient(server) as client:
        resp = await client.get("/healthz")
        assert resp.status == 200 and await resp.json() == {"status": "ok"}
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        emulator = await client.get("/sandbox/graph/v1.0/me")
        assert emulator.status == 401  # the mounted Graph emulator checks bearer tokens
    assert (tmp_path / "slotwise.db").exists() and (tmp_path / "sandbox-secret.key").exists()


def test_without_app_id_runs_in_sandbox_mode(tmp_path: Path) -> None:
    settings = sandbox_settings(tmp_path)
    assert settings.sandbox and settings.emulator_enabled and settings.problems() == []
    assert "sandbox mode" in guide(settings)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, ["SLOTWISE_SECRET_KEY", "SLOTWISE_PUBLIC_BASE_URL", "MicrosoftAppPassword"]),
        (
            {
                "SLOTWISE_SANDBOX_EMULATOR": "true",
                "SLOTWISE_SECRET_KEY": "k" * 40,
                "SLOTWISE_PUBLIC_BASE_URL": "https://slotwise.example.com",
                "MicrosoftAppPassword": "p",
            },
            ["SLOTWISE_SANDBOX_EMULATOR"],
        ),
        (
            {
                "SLOTWISE_SECRET_KEY": "k" * 40,
                "SLOTWISE_PUBLIC_BASE_URL": "http://slotwise.example.com",
                "MicrosoftAppPassword": "p",
            },
            ["SLOTWISE_PUBLIC_BASE_URL"],
        ),
        (
            {
                "SLOTWISE_SECRET_KEY": "short",
                "SLOTWISE_PUBLIC_BASE_URL": "https://slotwise.example.com",
                "MicrosoftAppPassword": "p",
            },
            ["SLOTWISE_SECRET_KEY"],
        ),
        (
            {
                "SLOTWISE_SECRET_KEY": "k" * 40,
                "SLOTWISE_PUBLIC_BASE_URL": "https://slotwise.example.com",
                "MicrosoftAppPassword": "p",
            },
            [],
        ),
    ],
)
def test_production_mode_refuses_unsafe_settings_saying_what_to_set(
    tmp_path: Path, extra: dict[str, str], expected: list[str]
) -> None:
    settings = Settings(_env_file=None, MicrosoftAppId="11111111-2222-3333-4444-555555555555", **extra)  # type: ignore[arg-type]
    problems = settings.problems()
    assert len(problems) == len(expected)
    for name, problem in zip(expected, problems, strict=True):
        assert name in problem
    if expected:
        with pytest.raises(SystemExit) as exc:
            build_app(settings)
        assert all(name in str(exc.value) for name in expected)


# ------------------------------------------------------------------ sandbox: a place you can come back to


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[web.Application, TestClient[Any, Any]]]:
    """The app serving on its port, once the demo link answers (the demo host is bootstrapped)."""
    application = build_app(settings)
    async with TestClient(TestServer(application, host="127.0.0.1", port=settings.port)) as client:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while (status := (await client.get(DEMO_PATH)).status) != 200:
            assert loop.time() < deadline, f"the demo link never came up (last status {status})"
            await asyncio.sleep(0.05)
        yield application, client


async def book_first_free_slot(client: TestClient[Any, Any], name: str) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    resp = await client.get(
        f"{DEMO_PATH}/slots",
        params={"start": today.isoformat(), "end": (today + timedelta(days=20)).isoformat(), "timeZone": "UTC"},
    )
    slots = (await resp.json())["slots"]
    assert slots, "the demo link offers no slot in three weeks"
    resp = await client.post(
        DEMO_PATH,
        json={
            "start": slots[0]["start"],
            "name": name,
            "email": "ivy@example.org",
            "timeZone": "Europe/Paris",
            "notes": "",
            "answers": {},
        },
    )
    assert resp.status == 201, await resp.text()
    booked: dict[str, Any] = await resp.json()
    return booked


def events_of(emulator: EmulatorState, booking_id: str) -> list[dict[str, Any]]:
    return [e for e in emulator.events("adele@contoso.example") if e.get("transactionId") == booking_id]


async def test_a_restart_keeps_the_booked_meeting_the_demo_link_and_the_connection(tmp_path: Path) -> None:
    settings = sandbox_settings(
        tmp_path, SLOTWISE_OUTBOX_SECONDS="0", SLOTWISE_RECONCILE_SECONDS="3600", SLOTWISE_BOOKING_RATE_LIMIT="1000"
    )
    async with running(settings) as (first, client):
        booked = await book_first_free_slot(client, "Ivy Before")
        [event] = events_of(first[app_module.EMULATOR], booked["id"])
        people = {u.upn: u.id for u in first[app_module.EMULATOR].users.values()}
    assert (tmp_path / SANDBOX_STATE_FILE).exists()

    # The next day, the same machine: a new process over the same var dir.
    async with running(settings) as (second, client):
        emulator, services = second[app_module.EMULATOR], second[app_module.SERVICES]
        assert {u.upn: u.id for u in emulator.users.values()} == people  # no duplicate demo people, same ids
        assert events_of(emulator, booked["id"]) == [event]  # still "in Outlook", join URL and all
        host = await services.repos.users.get_by_handle("adele")
        assert host is not None and host.connection_status is ConnectionStatus.CONNECTED
        assert await services.repos.users.get_by_handle("adele-2") is None
        # Reconciliation sees the meeting through Graph, so it leaves the booking alone.
        found = await services.calendar.find_booking_events(
            host.host_calendar(),
            Interval(
                datetime.fromisoformat(booked["start"]) - timedelta(hours=1),
                datetime.fromisoformat(booked["end"]) + timedelta(hours=1),
            ),
        )
        assert [e.booking_id for e in found] == [booked["id"]]
        report = await services.reconciler.run()
        assert report.orphans_cancelled == [] and report.released == [] and emulator.cancellations == []
        stored = await services.repos.bookings.get(booked["id"])
        assert stored is not None and stored.status is BookingStatus.CONFIRMED
        # The host's stored Microsoft tokens still work: the next booking needs no new sign-in.
        requests_before = len(emulator.token_requests)
        again = await book_first_free_slot(client, "Ivy After")
        assert len(events_of(emulator, again["id"])) == 1
        assert [r for r in emulator.token_requests[requests_before:] if r.grant_type == OBO_GRANT] == []
        # ... and the sandbox page shows both meetings with their Teams links.
        page = await (await client.get("/sandbox", params={"mailbox": "adele@contoso.example", "days": "21"})).text()
        for booking in (booked, again):
            [shown] = events_of(emulator, booking["id"])
            assert shown["subject"] in page and shown["onlineMeeting"]["joinUrl"] in page
    saved = json.loads((tmp_path / SANDBOX_STATE_FILE).read_text())
    assert sum(e.get("transaction_id") in (booked["id"], again["id"]) for e in saved["events"]) == 2


async def test_the_sandbox_page_is_absent_in_production_mode(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        MicrosoftAppId="11111111-2222-3333-4444-555555555555",
        MicrosoftAppPassword="p",
        SLOTWISE_SECRET_KEY="k" * 40,
        SLOTWISE_PORT=free_port(),
        SLOTWISE_PUBLIC_BASE_URL="https://slotwise.example.com",
        SLOTWISE_VAR_DIR=str(tmp_path),
        SLOTWISE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'slotwise.db'}",
        SLOTWISE_OUTBOX_SECONDS="0",
        SLOTWISE_RECONCILE_SECONDS="3600",
    )
    application = build_app(settings)
    async with TestClient(TestServer(application, host="127.0.0.1", port=settings.port)) as client:
        for path in ("/sandbox", "/sandbox/", "/sandbox/graph/v1.0/me"):
            assert (await client.get(path)).status == 404, path
    assert app_module.EMULATOR not in application
    assert not (tmp_path / SANDBOX_STATE_FILE).exists()


def test_the_guide_names_the_playground_port_the_playground_uses_and_the_sandbox_page(tmp_path: Path) -> None:
    settings = sandbox_settings(tmp_path, TEAMSAPPTESTER_PORT="56199")
    text = guide(settings)
    assert "http://127.0.0.1:56199" in text and "56150" not in text
    assert f"{settings.base_url}/sandbox " in text
    assert "http://127.0.0.1:56150" in guide(sandbox_settings(tmp_path))
    assert "not a port number" in guide(sandbox_settings(tmp_path, TEAMSAPPTESTER_PORT="seven"))


@pytest.mark.parametrize(
    ("raw", "port"),
    [
        # what the Playground's cli does with TEAMSAPPTESTER_PORT: value ? parseInt(value) : 56150
        ("", 56150),
        ("56151", 56151),
        ("  56152", 56152),
        ("56153abc", 56153),
        ("+56154", 56154),
        ("0x1F", 31),
        ("00056155", 56155),
        ("abc", None),
        ("-5", None),
        ("0", None),
        ("70000", None),
        ("9" * 400, None),
    ],
)
def test_the_playground_port_is_read_as_the_playground_reads_it(raw: str, port: int | None) -> None:
    assert playground_port(raw) == port


async def test_the_pending_booking_deadline_is_a_setting_that_reaches_the_booking_service(tmp_path: Path) -> None:
    settings = sandbox_settings(
        tmp_path, SLOTWISE_SANDBOX_SEED="false", SLOTWISE_PENDING_SECONDS="90", SLOTWISE_OUTBOX_SECONDS="0"
    )
    application = build_app(settings)
    async with TestClient(TestServer(application, host="127.0.0.1", port=settings.port)):
        assert application[app_module.SERVICES].booking.pending_timeout == timedelta(seconds=90)
    assert sandbox_settings(tmp_path).pending_seconds == 600
    for bad in ("0", "-1", "59", "100000", "soon"):
        with pytest.raises(pydantic.ValidationError, match="SLOTWISE_PENDING_SECONDS"):
            sandbox_settings(tmp_path, SLOTWISE_PENDING_SECONDS=bad)


def test_the_served_app_takes_what_startup_built_out_of_the_garbage_collectors_sight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python app.py`` freezes (gc.freeze) what start-up built once the services are up: a full collection over
    those ~200,000 objects paused every request in flight for ~90 ms (bench.fleet --latency)."""
    served: dict[str, web.Application] = {}
    monkeypatch.setattr(web, "run_app", lambda application, **_kw: served.update(app=application))
    monkeypatch.setattr(app_module, "configure_logging", lambda _format: None)
    monkeypatch.setenv("SLOTWISE_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("SLOTWISE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'slotwise.db'}")
    app_module.main()
    startup = list(served["app"].on_startup)
    hook = app_module._freeze_what_startup_built
    assert hook in startup and startup.index(hook) == len(startup) - 1  # after the services are built
    before = gc.get_freeze_count()
    try:
        asyncio.run(hook(served["app"]))
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
