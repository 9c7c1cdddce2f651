"""The whole Slotwise app in sandbox mode, driven the way Teams drives it.

* ``running_bot`` starts ``app.build_app`` on a free port (the sandbox Graph base URL is
  ``http://127.0.0.1:<port>/sandbox/graph/v1.0``, so the test server binds that same port), with a
  temporary SQLite file and no background outbox delivery (tests run ``bot.delivery.run_once()`` themselves).
* ``FakeConnector`` is the Bot Framework connector the activities' ``serviceUrl`` points at: it records
  every activity the bot posts, answers roster lookups from the people it knows, creates 1:1 chats
  (``conversations.create``) with them as Teams does (or refuses, when told to), and can be told to
  fail the next sends.
* Activities are the JSON fixtures in ``fixtures/`` (shapes from teams-facts §1) dressed for a person.
* Every card the bot sends or returns is checked against the official Adaptive Card schema and the
  card rules of tests/cards/checks.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import shutil
import socket
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, or_, select

from app import EMULATOR, SERVICES, TEAMS_DELIVERY, Settings, build_app
from bot.handler import BOT_RUNTIME, BotRuntime
from graph.sandbox import EmulatorState
from scheduling.delivery import DeliveryService
from scheduling.sync import SyncRequest
from storage.migrate import upgrade
from storage.models import SyncWorkRow
from tests.cards.checks import inputs, problems

FIXTURES = Path(__file__).parent / "fixtures"
TENANT = "7e2c1d5a-3b4f-4a6e-8c9d-1f2e3d4c5b6a"
OTHER_TENANT = "3a9f8e7d-6c5b-4a39-8271-605f4e3d2c1b"
BOT_ID = "28:00000000-0000-0000-0000-00000000bb01"
CHANNEL_TEAM = "19:team0123@thread.tacv2"  # the Teams team of the channel in fixtures/channel_message_mention.json
ADAPTIVE = "application/vnd.microsoft.card.adaptive"

Json = dict[str, Any]


@dataclass(frozen=True)
class Person:
    teams_id: str
    aad: str
    name: str
    email: str
    tenant: str = TENANT
    zone: str = "Europe/London"
    role: str = "user"  # the roster's userRole ("owner" for a team's owner)

    @property
    def chat(self) -> str:
        """Their personal chat with the bot."""
        return f"a:1{self.teams_id.removeprefix('29:')}-chat"

    def member(self) -> Json:
        """What the connector's roster says about them (TeamsChannelAccount)."""
        return {
            "id": self.teams_id,
            "name": self.name,
            "aadObjectId": self.aad,
            "email": self.email,
            "userPrincipalName": self.email,
            "tenantId": self.tenant,
            "userRole": self.role,
        }


DANA = Person("29:1dana-host-teams-id", "6b2d1b0c-4a0e-4c5f-9d8e-0c1f2a3b4c5d", "Dana Host", "dana@contoso.example")
IVAN = Person(
    "29:1ivan-invitee-teams-id",
    "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a",
    "Ivan Invitee",
    "ivan@fabrikam.example",
    zone="America/New_York",
)
MALLORY = Person(
    "29:1mallory-teams-id", "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c", "Mallory Meddler", "mallory@contoso.example"
)
EVE = Person(
    "29:1eve-teams-id",
    "6b2d1b0c-4a0e-4c5f-9d8e-0c1f2a3b4c5d",
    "Eve Elsewhere",
    "eve@tailspin.example",
    tenant=OTHER_TENANT,
)  # same object id as Dana, another tenant: must be another user
PEOPLE = (DANA, IVAN, MALLORY, EVE)


def fixture(name: str) -> Json:
    loaded: Json = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def form_values(card: Json, **changes: str) -> dict[str, str]:
    """What Teams submits for the card's inputs: each input's current value (as a string), then ``changes``."""
    values = {}
    for node in inputs(card):
        value = node.get("value", "")
        values[node["id"]] = str(int(value) if isinstance(value, float) and value.is_integer() else value)
    unknown = set(changes) - set(values)
    assert not unknown, f"no inputs {unknown} in the card"
    return values | changes


_PROBLEMS: dict[str, list[str]] = {}


def card_problems(card: Json) -> list[str]:
    """``tests.cards.checks.problems``, once per distinct card (schema validation is the slow part)."""
    key = json.dumps(card, sort_keys=True)
    if key not in _PROBLEMS:
        _PROBLEMS[key] = problems(card)
    return _PROBLEMS[key]


def checked(card: Json) -> Json:
    found = card_problems(card)
    assert not found, "\n".join(found)
    return card


def cards_of(activity: Mapping[str, Any]) -> list[Json]:
    return [a["content"] for a in activity.get("attachments") or [] if a.get("contentType") == ADAPTIVE]


@dataclass
class Sent:
    conversation_id: str
    path: str
    body: Json

    @property
    def cards(self) -> list[Json]:
        return cards_of(self.body)


@dataclass
class FakeConnector:
    """The Bot Framework connector service (``{serviceUrl}v3/...``) as far as the bot uses it."""

    people: Mapping[str, Person]
    sent: list[Sent] = field(default_factory=list)
    failures: deque[int] = field(default_factory=deque)
    failed_sends: int = 0
    roster_lookups: int = 0
    invalid_cards: list[str] = field(default_factory=list)
    url: str = ""
    created: list[Json] = field(default_factory=list)  # conversations.create requests
    refuse_conversations: bool = False  # as Teams does when the app isn't available to the user

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{cid}/activities", self._post)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._post)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._post)
        app.router.add_get("/v3/conversations/{cid}/members/{mid}", self._member)
        return app

    async def _post(self, request: web.Request) -> web.Response:
        if self.failures:
            self.failed_sends += 1
            status = self.failures.popleft()
            return web.json_response({"error": {"code": "ServiceError", "message": "injected failure"}}, status=status)
        body = await request.json()
        sent = Sent(request.match_info["cid"], request.path, body)
        for card in sent.cards:  # every card the bot sends, replies and proactive messages alike
            self.invalid_cards.extend(card_problems(card))
        self.sent.append(sent)
        return web.json_response({"id": f"1:{uuid.uuid4().hex}"})

    async def _create(self, request: web.Request) -> web.Response:
        """``conversations.create``: a 1:1 chat with one person of the tenant named in ``channelData`` gives
        that person's personal chat with the bot (Teams answers with the existing one)."""
        body = await request.json()
        self.created.append(body)
        members = body.get("members") or []
        person = self.people.get(members[0].get("id", "")) if len(members) == 1 else None
        tenant = ((body.get("channelData") or {}).get("tenant") or {}).get("id")
        if self.refuse_conversations or person is None or body.get("isGroup") or tenant != person.tenant:
            return web.json_response(
                {"error": {"code": "Forbidden", "message": "the bot can't start this chat"}}, status=403
            )
        return web.json_response({"id": person.chat})

    async def _member(self, request: web.Request) -> web.Response:
        self.roster_lookups += 1
        person = self.people.get(request.match_info["mid"])
        if person is None:
            return web.json_response(
                {"error": {"code": "MemberNotFoundInConversation", "message": "no such member"}}, status=404
            )
        return web.json_response(person.member())

    def to(self, conversation_id: str) -> list[Sent]:
        return [s for s in self.sent if s.conversation_id == conversation_id]

    def proactive(self, conversation_id: str, turn_ids: set[str]) -> list[Sent]:
        """What was sent into the conversation on the bot's own initiative (not a reply to a turn)."""
        return [s for s in self.to(conversation_id) if s.body.get("replyToId") not in turn_ids]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Bot:
    """The running app plus helpers that act like a Teams client."""

    app: web.Application
    client: TestClient[Any, Any]
    connector: FakeConnector
    turn_ids: set[str] = field(default_factory=set)  # ids of the activities sent to the bot

    @property
    def runtime(self) -> BotRuntime:
        return self.app[BOT_RUNTIME]

    @property
    def emulator(self) -> EmulatorState:
        return self.app[EMULATOR]

    @property
    def delivery(self) -> DeliveryService:
        """The Teams channel's outbox delivery (tests run its passes themselves: ``await bot.delivery.run_once()``)."""
        return self.app[TEAMS_DELIVERY]

    @property
    def repos(self) -> Any:
        return self.app[SERVICES].repos

    @property
    def base_url(self) -> str:
        return self.app[SERVICES].settings.base_url

    async def stale_busy_cache(self, person: Person) -> None:
        """As when Graph tells Slotwise it missed notifications: the host's busy cache is stale, so slot views
        read the calendar live (and the sync worker runs a delta round); in-process reads are forgotten."""
        host = await self.repos.users.get_by_aad(person.tenant, person.aad)
        now = datetime.now(UTC)
        await self.repos.calendar_sync.request_work(
            host.id, SyncRequest(delta=True), due_at=now, now=now, stale_reason="notifications missed"
        )
        self.runtime.bot.deps.booking.forget_busy()

    def activity(self, name: str, person: Person, *, conversation: str | None = None, **changes: Any) -> Json:
        """Fixture ``name`` as sent by ``person`` (into their personal chat unless ``conversation``)."""
        body = copy.deepcopy(fixture(name))
        body["id"] = f"f:{uuid.uuid4()}"
        self.turn_ids.add(body["id"])
        body["serviceUrl"] = self.connector.url
        body["from"] = {"id": person.teams_id, "name": person.name, "aadObjectId": person.aad}
        body["conversation"]["id"] = conversation or person.chat
        if conversation and conversation.startswith("19:"):  # a group chat (@thread.v2) or a channel thread
            kind = "groupChat" if conversation.endswith("@thread.v2") else "channel"
            body["conversation"].update({"conversationType": kind, "isGroup": True})
            if kind == "channel":  # every activity in a channel names its team and channel (teams-facts §1.1)
                body["channelData"].setdefault("team", {"id": CHANNEL_TEAM})
                body["channelData"].setdefault("channel", {"id": conversation.split(";")[0]})
        body["conversation"]["tenantId"] = person.tenant
        body["channelData"]["tenant"]["id"] = person.tenant
        if "localTimezone" in body:
            body["localTimezone"] = person.zone
        for entity in body.get("entities") or []:
            if entity.get("type") == "clientInfo" and "timezone" in entity:
                entity["timezone"] = person.zone
        for member in body.get("membersAdded") or []:
            if member["id"].startswith("29:"):
                member.update({"id": person.teams_id, "aadObjectId": person.aad})
        body.update(changes)
        return body

    async def post(self, body: Any, headers: Mapping[str, str] | None = None) -> tuple[int, Any]:
        resp = await self.client.post("/api/messages", json=body, headers=dict(headers or {}))
        text = await resp.text()
        return resp.status, json.loads(text) if text else None

    async def send(self, body: Json) -> list[Sent]:
        """POST an activity that is answered by messages; returns what the bot sent (cards checked)."""
        before = len(self.connector.sent)
        status, _ = await self.post(body)
        assert status == 200, status
        return self.connector.sent[before:]

    async def say(
        self, person: Person, text: str, *, conversation: str | None = None, name: str = "personal_message"
    ) -> list[Sent]:
        return await self.send(self.activity(name, person, conversation=conversation, text=text))

    async def card(self, person: Person, text: str) -> Json:
        """The one card the bot answers ``text`` with."""
        sent = await self.say(person, text)
        cards = [c for s in sent for c in s.cards]
        assert len(cards) == 1, [s.body for s in sent]
        return cards[0]

    async def invoke(self, body: Json) -> tuple[int, Any]:
        status, payload = await self.post(body)
        return status, payload

    async def execute(
        self,
        person: Person,
        action: Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        *,
        trigger: str = "manual",
        conversation: str | None = None,
    ) -> Json:
        """Click an ``Action.Execute`` (inputs merged into its data, as Teams does); returns the new card."""
        value = {
            "action": {
                "type": "Action.Execute",
                "id": action.get("id", ""),
                "verb": action["verb"],
                "data": {**action.get("data", {}), **(inputs or {})},
            },
            "trigger": trigger,
        }
        body = self.activity("adaptive_card_action", person, conversation=conversation, value=value)
        status, payload = await self.post(body)
        assert status == 200, (status, payload)
        assert payload["statusCode"] == 200, payload
        assert payload["type"] == ADAPTIVE, payload
        return checked(payload["value"])

    async def submit(self, person: Person, data: Mapping[str, Any]) -> list[Sent]:
        """Click an ``Action.Submit`` (a message whose value is the data plus the inputs)."""
        body = self.activity("personal_message", person, text=None, value=dict(data), replyToId="1:card")
        body.pop("attachments", None)
        return await self.send(body)


def migrated_database(directory: Path) -> Path:
    """A migrated SQLite file (made once per session and copied per test: migrating takes longer than
    everything else an app start does)."""
    path = directory / "template.db"
    thread = threading.Thread(target=lambda: asyncio.run(upgrade(f"sqlite+aiosqlite:///{path}")))
    thread.start()
    thread.join()
    assert path.exists()
    return path


@asynccontextmanager
async def running_bot(tmp_path: Path, template: Path | None = None, **settings: Any) -> AsyncIterator[Bot]:
    port = free_port()
    if template is not None:
        shutil.copyfile(template, tmp_path / "slotwise.db")
    options: dict[str, Any] = {
        "port": port,
        "database_url": f"sqlite+aiosqlite:///{tmp_path}/slotwise.db",
        "var_dir": str(tmp_path),
        "outbox_interval": 0,
        "reconcile_interval": 3600,
        "seed_demo": False,
    }
    options.update(settings)
    app = build_app(Settings(_env_file=None, **options))
    connector = FakeConnector({p.teams_id: p for p in PEOPLE})
    async with TestServer(connector.app()) as connector_server, TestClient(TestServer(app, port=port)) as client:
        connector.url = str(connector_server.make_url("/"))
        yield Bot(app, client, connector)
        await sync_at_rest(app)
    assert not connector.invalid_cards, "\n".join(connector.invalid_cards)


async def sync_at_rest(app: web.Application, seconds: float = 3.0) -> None:
    """Before the app stops, let calendar sync finish what it is doing: it calls the Graph emulator inside the
    same server, and a connection racing the server's shutdown is left open (a ResourceWarning). Work that
    waits for a retry later is not waited for."""
    notifier = app[EMULATOR].notifier
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                if notifier is not None and notifier.tasks:
                    await asyncio.wait(set(notifier.tasks), timeout=seconds)
                now = datetime.now(UTC)
                async with app[SERVICES].repos.db.read() as s:
                    busy = await s.scalar(
                        select(func.count())
                        .select_from(SyncWorkRow)
                        .where(or_(SyncWorkRow.due_at <= now, SyncWorkRow.leased_until > now))
                    )
                if not busy and not (notifier is not None and notifier.tasks):
                    return
                await asyncio.sleep(0.01)
