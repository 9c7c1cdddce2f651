"""A small async driver for the Microsoft 365 Agents Playground (npm ``@microsoft/m365agentsplayground``), a
Teams-like client that talks to the bot the way Teams does. The tests use its own HTTP and WebSocket API
(the one its web page uses), so no browser is needed except for the screenshot test.

* :func:`start_playground` runs the CLI bound to loopback (``tools/playground/loopback-only.cjs``) on a
  free port, in a scratch directory (it writes ``devTools/`` logs into its working directory), and waits
  for ``GET /_debug/ping``. Stopping it ends its whole process group, by id.
* :class:`Playground` reads ``GET /_internal/v1/config`` (users, personal chat, group chats, teams) and
  acts as a person: send a message, install the app, click an ``Action.Submit`` or an ``Action.Execute``.
* Everything the bot posts arrives on the WebSocket stream
  ``/_ws_conversation/v1/conversations/stream`` as ``{"action": "createMessage", "actionConversationId",
  "message": {"messageId", "text" | "attachments", ...}}``; :meth:`Playground.wait_for` waits for one.

API facts (Playground 0.2.28, read from its bundled ``dist/``):

* ``POST /_conversation/v1/conversations/{id}/messages`` ``{"from": {"id"}, "text", "textFormat"}`` or
  ``{"from", "attachments": [...], "attachmentLayout": "list"}`` -> ``{"messageId", "timestamp"}``. Only
  personal-chat messages and messages that @mention the bot are sent to the bot.
* ``POST /_conversation/v1/invoke`` ``{"name": "adaptiveCard/action", "value": {"action": {"type":
  "Action.Execute", "title", "verb", "data"}}, "from": {"id"}, "conversation": {"id"}, "replyToId":
  <messageId of the card>}`` -> the bot's invoke response without its status, ``{"type", "value"}``; the
  Playground also replaces the clicked message's card with ``value``. The page merges the card's input
  values into ``data`` (Adaptive Cards JS does) and sends no ``trigger``.
* ``POST /_conversation/v1/submit`` ``{"conversation": {"id"}, "from": {"id"}, "replyToId", "value"}``
  (Action.Submit) -> 200 at once; the bot's answer arrives on the stream.
* ``POST /_debug/conversation/{id}/installation`` ``{}``: installationUpdate + conversationUpdate
  (bot added).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
PLAYGROUND_DIR = ROOT / "tools" / "playground"
CLI = PLAYGROUND_DIR / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"
PRELOAD = PLAYGROUND_DIR / "loopback-only.cjs"
INSTALL_HINT = (
    "the Microsoft 365 Agents Playground needs Node.js 20+ and `make playground` (npm ci --prefix tools/playground)"
)
ADAPTIVE = "application/vnd.microsoft.card.adaptive"

Json = dict[str, Any]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def missing() -> str | None:
    """Why the Playground can't run here (with the install hint), or None."""
    if shutil.which("node") is None:
        return f"node not found: {INSTALL_HINT}"
    if not CLI.is_file():
        return f"{CLI.relative_to(ROOT)} not found: {INSTALL_HINT}"
    return None


# ------------------------------------------------------------------------------------------ cards


def walk(node: Any) -> Iterator[Json]:
    """Every object in a card, ShowCard cards and fallbacks included."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def actions(
    card: Json, *, verb: str | None = None, title: str | None = None, kind: str = "Action.Execute"
) -> list[Json]:
    """The card's actions of ``kind`` (Execute by default; fallbacks are Action.Submit), by verb / title."""
    return [
        n
        for n in walk(card)
        if n.get("type") == kind
        and "title" in n
        and (verb is None or n.get("verb") == verb or (n.get("data") or {}).get("verb") == verb)
        and (title is None or n["title"] == title)
    ]


def action(card: Json, *, verb: str | None = None, title: str | None = None, kind: str = "Action.Execute") -> Json:
    found = actions(card, verb=verb, title=title, kind=kind)
    assert found, f"no {kind} (verb={verb!r}, title={title!r}) in the card: {card_text(card)}"
    return found[0]


def card_text(card: Json) -> str:
    """TextBlock texts and fact titles/values, one per line (for assertions and failure messages)."""
    out = []
    for node in walk(card):
        if node.get("type") == "TextBlock":
            out.append(str(node.get("text", "")))
        elif node.get("type") == "FactSet":
            out += [f"{f.get('title')}: {f.get('value')}" for f in node.get("facts", [])]
    return "\n".join(out)


def inputs(card: Json) -> dict[str, Json]:
    return {n["id"]: n for n in walk(card) if str(n.get("type", "")).startswith("Input.") and "id" in n}


# --------------------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class Message:
    """A message the bot posted, as the Playground streamed it."""

    conversation_id: str
    message_id: str
    text: str
    attachments: list[Json]
    frame: Json

    @property
    def cards(self) -> list[Json]:
        return [a["content"] for a in self.attachments if a.get("contentType") == ADAPTIVE]

    @property
    def card(self) -> Json:
        cards = self.cards
        assert len(cards) == 1, f"expected one card in message {self.message_id}: {self.frame}"
        return cards[0]

    def shows(self, snippet: str) -> bool:
        """True when the text or a card's text holds ``snippet``."""
        return snippet in self.text or any(snippet in card_text(c) for c in self.cards)


@dataclass
class Playground:
    """A running Playground and a client session for its API."""

    port: int
    session: aiohttp.ClientSession
    config: Json = field(default_factory=dict)
    frames: list[Json] = field(default_factory=list)
    _ws: aiohttp.ClientWebSocketResponse | None = None
    _reader: asyncio.Task[None] | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ setup

    async def connect(self) -> None:
        async with self.session.get(f"{self.url}/_internal/v1/config") as resp:
            assert resp.status == 200, await resp.text()
            self.config = (await resp.json())["config"]
        self._ws = await self.session.ws_connect(
            f"ws://127.0.0.1:{self.port}/_ws_conversation/v1/conversations/stream", heartbeat=None
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                frame = json.loads(msg.data)
                async with self._changed:
                    self.frames.append(frame)
                    self._changed.notify_all()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    # ------------------------------------------------------------------ who and where

    @property
    def me(self) -> Json:
        """The signed-in person of the Playground page (user-id-0)."""
        current: Json = self.config["currentUser"]
        return current

    def user(self, user_id: str) -> Json:
        people = [self.me, *self.config["users"]]
        return next(p for p in people if p["id"] == user_id)

    @property
    def personal_chat(self) -> str:
        return str(self.config["personalChat"]["id"])

    @property
    def group_chat(self) -> Json:
        group: Json = self.config["groupChats"][0]
        return group

    @property
    def bot_id(self) -> str:
        return str(self.config["bot"]["id"])

    # ------------------------------------------------------------------ acting

    async def _post(self, path: str, body: Json) -> Any:
        async with self.session.post(f"{self.url}{path}", json=body) as resp:
            text = await resp.text()
            assert resp.status == 200, f"POST {path}: {resp.status} {text}"
            return json.loads(text) if text else None

    async def install(self, conversation_id: str) -> None:
        """Add the app to a conversation (installationUpdate + conversationUpdate, as Teams does)."""
        await self._post(f"/_debug/conversation/{conversation_id}/installation", {})

    async def send(self, conversation_id: str, text: str, *, user: str = "user-id-0") -> str:
        """Type a message; returns its id."""
        created = await self._post(
            f"/_conversation/v1/conversations/{conversation_id}/messages",
            {"from": {"id": user}, "text": text, "textFormat": "plain"},
        )
        return str(created["messageId"])

    async def post_in_channel(self, channel_id: str, text: str, *, user: str = "user-id-0") -> tuple[str, str]:
        """Start a post in a team channel that @mentions the bot (``<at>bot name</at> text``, with the mention
        entity the Playground needs to send it to the bot); returns (the post's conversation id, its message id).
        The bot gets a ``channel`` activity whose conversation is the post (``{channel};messageid={id}``)."""
        name = str(self.config["bot"]["name"])
        mention = f"<at>{name}</at>"
        created = await self._post(
            f"/_conversation/v1/conversations/{channel_id}/messages",
            {
                "from": {"id": user},
                "text": f"{mention} {text}",
                "textFormat": "plain",
                "mentions": [{"type": "mention", "mentioned": {"id": self.bot_id, "name": name}, "text": mention}],
            },
        )
        return str(created["postConversationId"]), str(created["messageId"])

    @property
    def team(self) -> Json:
        team: Json = self.config["teams"][0]
        return team

    async def post_card(self, conversation_id: str, card: Json, *, user: str) -> str:
        """Post a card as ``user`` (a card forwarded into a chat); returns the message id."""
        created = await self._post(
            f"/_conversation/v1/conversations/{conversation_id}/messages",
            {
                "from": {"id": user},
                "attachments": [{"contentType": ADAPTIVE, "content": card}],
                "attachmentLayout": "list",
            },
        )
        return str(created["messageId"])

    async def submit(self, conversation_id: str, reply_to: str, value: Json, *, user: str = "user-id-0") -> None:
        """Click an Action.Submit: ``value`` is its data merged with the card's inputs."""
        await self._post(
            "/_conversation/v1/submit",
            {"conversation": {"id": conversation_id}, "from": {"id": user}, "replyToId": reply_to, "value": value},
        )

    async def invoke_action(
        self, conversation_id: str, reply_to: str, execute: Json, inputs: Json | None = None, *, user: str = "user-id-0"
    ) -> Json:
        """Click an Action.Execute on message ``reply_to`` (inputs merged into its data, as the page does);
        returns the invoke response ``{"type", "value"}``."""
        assert execute.get("type") == "Action.Execute", execute
        value = {
            "action": {
                "type": "Action.Execute",
                "title": execute.get("title", ""),
                "verb": execute["verb"],
                "data": {**(execute.get("data") or {}), **(inputs or {})},
            }
        }
        response: Json = await self._post(
            "/_conversation/v1/invoke",
            {
                "name": "adaptiveCard/action",
                "value": value,
                "from": {"id": user},
                "conversation": {"id": conversation_id},
                "replyToId": reply_to,
            },
        )
        return response

    async def execute(
        self, conversation_id: str, reply_to: str, execute: Json, inputs: Json | None = None, *, user: str = "user-id-0"
    ) -> Json:
        """:meth:`invoke_action` that must answer with a card (the one replacing the clicked card)."""
        response = await self.invoke_action(conversation_id, reply_to, execute, inputs, user=user)
        assert response.get("type") == ADAPTIVE, f"{execute.get('verb')}: {response}"
        card: Json = response["value"]
        return card

    # ------------------------------------------------------------------ what the bot said

    def mark(self) -> int:
        """A position in the stream: pass it as ``since`` to look only at what came after."""
        return len(self.frames)

    def messages(self, since: int = 0) -> list[Message]:
        return [
            _message(f)
            for f in self.frames[since:]
            if f.get("action") == "createMessage" and (f.get("message") or {}).get("from", {}).get("id") == self.bot_id
        ]

    async def wait_for(self, predicate: Callable[[Message], bool], *, since: int = 0, within: float = 10.0) -> Message:
        """The first bot message after ``since`` matching ``predicate``, waiting up to ``within`` seconds."""

        def found() -> Message | None:
            return next((m for m in self.messages(since) if predicate(m)), None)

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: found() is not None), within)
            except TimeoutError:
                seen = "\n".join(
                    f"- [{m.conversation_id}] {m.text or ''} {[card_text(c)[:200] for c in m.cards]}"
                    for m in self.messages(since)
                )
                raise AssertionError(f"no matching bot message within {within}s; the bot sent:\n{seen}") from None
        message = found()
        assert message is not None
        return message


def _message(frame: Json) -> Message:
    message = frame.get("message") or {}
    return Message(
        conversation_id=str(frame.get("actionConversationId", "")),
        message_id=str(message.get("messageId", "")),
        text=str(message.get("text") or ""),
        attachments=list(message.get("attachments") or []),
        frame=frame,
    )


# ---------------------------------------------------------------------------------------- process


@dataclass
class PlaygroundProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    stopped: bool = False

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self, grace: float = 5.0) -> None:
        """End the Playground's process group (SIGTERM, then SIGKILL) and reap it. Idempotent: the group id
        is never signalled again once its leader has been reaped and cleaned up."""
        if self.stopped:
            return
        self.stopped = True
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(grace)
        with contextlib.suppress(ProcessLookupError):  # anything it started that outlived it
            os.killpg(self.process.pid, signal.SIGKILL)


def launch(app_endpoint: str, workdir: Path, port: int | None = None) -> PlaygroundProcess:
    """Start the Playground (loopback only, no browser, no telemetry) pointing at ``app_endpoint``."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "playground.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEAMSAPPTESTER_", "BOT_ENDPOINT"))}
    env.update(TEAMSAPPTESTER_BROWSER="none", TEAMSAPPTESTER_PORT=str(port))
    with log.open("wb") as out:
        process = subprocess.Popen(  # the Playground writes devTools/ logs into its working directory
            ["node", "-r", str(PRELOAD), str(CLI), "-e", app_endpoint, "-p", str(port), "--disable-telemetry"],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started = PlaygroundProcess(process, port, log)
    atexit.register(started.stop)  # even if a test run ends without fixture teardown
    return started


async def wait_until_up(proc: PlaygroundProcess, session: aiohttp.ClientSession, seconds: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        if proc.process.poll() is not None:
            raise RuntimeError(f"the Playground exited with {proc.process.returncode}:\n{proc.output()}")
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(f"http://127.0.0.1:{proc.port}/_debug/ping") as resp:
                if resp.status == 200 and (await resp.text()).strip() == "pong":
                    return
        if loop.time() > deadline:
            raise RuntimeError(f"the Playground did not answer /_debug/ping within {seconds}s:\n{proc.output()}")
        await asyncio.sleep(0.1)
