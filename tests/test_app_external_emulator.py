"""Sandbox mode on a Graph emulator of its own process (SLOTWISE_SANDBOX_EMULATOR_URL), as the fleet runs it:
nothing of the emulator is mounted in the app; a Teams user who talks to the bot gets a mailbox there through
its admin API and is signed in through its login app; slots come from that mailbox; a booking's event lands
there; the emulator's change notifications reach the app across processes; the demo bootstrap works (or is
skipped with SLOTWISE_SANDBOX_SEED=0); the settings refuse the URL outside sandbox mode."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, or_, select

import app as app_module
from app import SERVICES, Settings, bootstrap_sandbox, build_app, guide
from storage.models import SyncWorkRow
from tests.bot.harness import DANA, PEOPLE, TENANT, Bot, FakeConnector, free_port, migrated_database
from tests.graph.test_emulator_process import ADMIN_TOKEN, EmulatorProcess, emulator_process, events, stats

Json = dict[str, Any]
BUSY = ("busy", "oof", "tentative")  # what blocks a slot by default (scheduling.rules)


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with emulator_process(log=tmp_path_factory.mktemp("emulator") / "stderr.log") as running:
        yield running


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_database(tmp_path_factory.mktemp("template"))


@pytest.fixture(autouse=True)
def no_ca_bundle(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Plain http on loopback only: an empty CA directory spares loading certifi's bundle per httpx client."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path_factory.getbasetemp()))
    yield


def external_settings(tmp_path: Path, emu: EmulatorProcess, **extra: Any) -> Settings:
    options: dict[str, Any] = {
        "port": free_port(),
        "database_url": f"sqlite+aiosqlite:///{tmp_path}/slotwise.db",
        "var_dir": str(tmp_path),
        "outbox_interval": 0,
        "reconcile_interval": 3600,
        "seed_demo": False,
        "emulator_url": emu.base,
        "emulator_token": emu.token,
    }
    return Settings(_env_file=None, **(options | extra))


async def at_rest(bot: Bot, seconds: float = 3.0) -> None:
    """Let calendar sync finish what it is doing before the app stops (work waiting for a retry is not waited for)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                now = datetime.now(UTC)
                async with bot.app[SERVICES].repos.db.read() as s:
                    busy = await s.scalar(
                        select(func.count())
                        .select_from(SyncWorkRow)
                        .where(or_(SyncWorkRow.due_at <= now, SyncWorkRow.leased_until > now))
                    )
                if not busy:
                    return
                await asyncio.sleep(0.02)


@asynccontextmanager
async def external_app(settings: Settings, template: Path) -> AsyncIterator[Bot]:
    shutil.copyfile(template, Path(settings.var_dir) / "slotwise.db")  # migrated once per module
    application = build_app(settings)
    connector = FakeConnector({p.teams_id: p for p in PEOPLE})
    async with (
        TestServer(connector.app()) as connector_server,
        TestClient(TestServer(application, host="127.0.0.1", port=settings.port)) as client,
    ):
        connector.url = str(connector_server.make_url("/"))
        bot = Bot(application, client, connector)
        yield bot
        await at_rest(bot)
    assert not connector.invalid_cards, "\n".join(connector.invalid_cards)


async def eventually(check: Any, seconds: float = 10.0) -> Any:
    """``await check()`` until it returns something truthy (at most ``seconds``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        result = await check()
        if result:
            return result
        assert loop.time() < deadline, "the condition never held"
        await asyncio.sleep(0.1)


def overlaps(slot: Json, event: Json) -> bool:
    start, end = datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"])
    return start < datetime.fromisoformat(event["end"]) and datetime.fromisoformat(event["start"]) < end


async def test_a_replica_on_the_emulator_process_connects_a_teams_user_offers_their_slots_and_books_there(
    tmp_path: Path, template_db: Path, emu: EmulatorProcess
) -> None:
    settings = external_settings(tmp_path, emu)
    assert settings.external_emulator == emu.base and not settings.in_process_emulator
    async with external_app(settings, template_db) as bot:
        services = bot.app[SERVICES]
        # nothing of the emulator in this process: no state, no mounted Graph or login app, no /sandbox page
        assert app_module.EMULATOR not in bot.app and services.emulator is None
        for path in ("/sandbox", "/sandbox/graph/v1.0/me", "/sandbox/login/common/discovery/instance"):
            assert (await bot.client.get(path)).status == 404, path
        assert services.graph.base_url == emu.graph
        unauthenticated = stats(emu)["requests"].get("401", 0)
        ready = await bot.client.get("/readyz")  # readiness asks the emulator's Graph base (a 401 is an answer)
        assert ready.status == 200 and (await ready.json())["checks"]["graph"]["status"] == "ok"
        assert stats(emu)["requests"]["401"] > unauthenticated
        assert await bootstrap_sandbox(services) is None  # SLOTWISE_SANDBOX_SEED=0: no demo host
        assert await services.repos.users.get_by_handle("adele") is None

        # Dana talks to the bot: a mailbox in the emulator process (her tenant, her object id), signed in there
        created = await bot.card(DANA, "make a 30-min link called Intro")
        with emu.admin() as admin:
            mailbox = admin.get(f"/mailboxes/{DANA.email}").json()
        assert (mailbox["id"], mailbox["tenantId"]) == (DANA.aad, TENANT)
        [url] = {u for u in json.dumps(created).split('"') if u.startswith(f"{bot.base_url}/book/")}
        path = url.removeprefix(bot.base_url)

        async def slots() -> list[Json]:
            today = datetime.now(UTC).date()
            params = {"start": today.isoformat(), "end": (today + timedelta(days=13)).isoformat(), "timeZone": "UTC"}
            resp = await bot.client.get(f"{path}/slots", params=params)
            assert resp.status == 200, await resp.text()
            found: list[Json] = (await resp.json())["slots"]
            return found

        offered = await slots()
        assert offered, "Dana's link offers no slot in two weeks"
        window = (offered[0]["start"], offered[-1]["end"])
        busy = [
            e
            for e in events(emu, DANA.email)
            if e["type"] == "singleInstance" and e["showAs"] in BUSY and window[0] < e["end"] and e["start"] < window[1]
        ]
        assert busy, "the emulator seeded no meeting in the window: the check below would prove nothing"
        assert not [(s, e) for s in offered for e in busy if overlaps(s, e)]  # her meetings there are busy time

        # Her calendar changes in the emulator process: Graph's change notification reaches the app (another
        # process), and the slot is no longer offered.
        async def subscribed() -> bool:
            answered = stats(emu)["notifications"].get("validation", {})
            return stats(emu)["subscriptions"] >= 1 and "200" in answered

        await eventually(subscribed)
        taken = offered[0]
        with emu.graph_client(DANA.email) as graph:
            blocker = graph.post(
                "/me/events",
                json={
                    "subject": "Dentist",
                    "start": {"dateTime": taken["start"][:19], "timeZone": "UTC"},
                    "end": {"dateTime": taken["end"][:19], "timeZone": "UTC"},
                },
            )
        assert blocker.status_code == 201, blocker.text

        async def gone() -> bool:
            delivered = stats(emu)["notifications"].get("notification", {})
            return any(s.startswith("2") for s in delivered) and taken["start"] not in {
                s["start"] for s in await slots()
            }

        await eventually(gone)

        # An invitee books on the web: the meeting is in Dana's mailbox in the emulator process, tagged with the booking
        pick = next(s for s in await slots() if s["start"] != taken["start"])
        resp = await bot.client.post(
            path,
            json={
                "start": pick["start"],
                "name": "Ivy Invitee",
                "email": "ivy@example.org",
                "timeZone": "Europe/Paris",
                "notes": "",
                "answers": {},
            },
        )
        assert resp.status == 201, await resp.text()
        booked = await resp.json()
        mine = [e for e in events(emu, DANA.email) if e["slotwiseBookingId"] == booked["id"]]
        assert [(e["transactionId"], e["start"]) for e in mine] == [
            (booked["id"], datetime.fromisoformat(pick["start"]).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        ]
        with emu.admin() as admin:
            everything = admin.get("/events").json()["events"]
        assert [e["mailbox"] for e in everything if e["slotwiseBookingId"] == booked["id"]] == [DANA.email]


async def test_the_demo_bootstrap_runs_against_the_emulator_process(
    tmp_path: Path, template_db: Path, emu: EmulatorProcess
) -> None:
    settings = external_settings(tmp_path, emu, seed_demo=True)
    assert f"Graph emulator:      {emu.base}/v1.0" in guide(settings) and "/sandbox " not in guide(settings)
    async with external_app(settings, template_db) as bot:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while (status := (await bot.client.get("/book/adele/intro-call")).status) != 200:
            assert loop.time() < deadline, f"the demo link never came up (last status {status})"
            await asyncio.sleep(0.05)
        host = await bot.app[SERVICES].repos.users.get_by_handle("adele")
        with emu.admin() as admin:
            adele = admin.get("/mailboxes/adele@contoso.example").json()
        assert host is not None and (host.tenant_id, host.aad_object_id) == (adele["tenantId"], adele["id"])


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"emulator_token": ""}, ["SLOTWISE_SANDBOX_EMULATOR_TOKEN"]),
        ({"emulator_url": "127.0.0.1:8765"}, ["SLOTWISE_SANDBOX_EMULATOR_URL"]),
        ({"emulator_url": "http://127.0.0.1:8765/v1.0"}, ["SLOTWISE_SANDBOX_EMULATOR_URL"]),
        ({"emulator": False}, ["SLOTWISE_SANDBOX_EMULATOR is off"]),
        (
            {
                "MicrosoftAppId": "11111111-2222-3333-4444-555555555555",
                "secret_key": "k" * 40,
                "public_base_url": "https://slotwise.example.com",
                "MicrosoftAppPassword": "p",
            },
            ["SLOTWISE_SANDBOX_EMULATOR_URL is set while MicrosoftAppId is set"],
        ),
        ({}, []),
    ],
)
def test_the_emulator_url_is_for_sandbox_mode_with_its_admin_token(extra: Json, expected: list[str]) -> None:
    options: Json = {"emulator_url": "http://127.0.0.1:8765", "emulator_token": ADMIN_TOKEN} | extra
    settings = Settings(_env_file=None, **options)
    problems = settings.problems()
    assert len(problems) == len(expected), problems
    for needle, problem in zip(expected, problems, strict=True):
        assert needle in problem
    if expected:
        with pytest.raises(SystemExit) as exc:
            build_app(settings)
        assert expected[0] in str(exc.value)
    else:
        assert settings.external_emulator == "http://127.0.0.1:8765" and not settings.in_process_emulator
