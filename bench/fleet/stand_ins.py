"""What the fleet talks to besides Graph, served by the harness on loopback: a stand-in Bot Connector (the
activities' ``serviceUrl``) and a webhook receiver.

* :class:`Connector` answers like the Bot Framework connector as far as Slotwise uses it: it records every
  activity the bot posts or updates (replies in a turn and proactive messages alike), creates personal chats
  (``conversations.create``), answers roster lookups (members, team details) from the people it knows, and lists
  what else it was asked (``unknown``) so a missing route shows.
* :class:`Receiver` verifies each webhook delivery's Standard Webhooks signature with the ``standardwebhooks``
  package, and records its ``webhook-id`` (a repeat of an id is a redelivery, counted), type and booking.

Cards are read by :func:`booking_notice`: the host notification card of ``cards.bookings`` (its heading names the
invitee and what happened; the harness gives each invitee a unique name).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

Json = dict[str, Any]
ADAPTIVE = "application/vnd.microsoft.card.adaptive"


@dataclass(frozen=True)
class Person:
    teams_id: str
    aad: str
    name: str
    email: str
    tenant: str
    zone: str
    role: str = "user"

    @property
    def chat(self) -> str:
        """Their personal chat with the bot."""
        return f"a:1{self.teams_id.removeprefix('29:')}-chat"

    def member(self) -> Json:
        return {
            "id": self.teams_id,
            "name": self.name,
            "aadObjectId": self.aad,
            "email": self.email,
            "userPrincipalName": self.email,
            "tenantId": self.tenant,
            "userRole": self.role,
        }


@dataclass
class Posted:
    at: float
    method: str
    conversation_id: str
    path: str
    body: Json
    headers: dict[str, str] = field(default_factory=dict)  # the request id headers the bot sent, if any

    @property
    def cards(self) -> list[Json]:
        return [
            a.get("content") or {}
            for a in self.body.get("attachments") or []
            if isinstance(a, dict) and a.get("contentType") == ADAPTIVE
        ]


def walk(node: Any) -> Iterator[Json]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def card_texts(card: Json) -> list[str]:
    return [n["text"] for n in walk(card.get("body", [])) if n.get("type") == "TextBlock" and "text" in n]


def card_facts(card: Json) -> dict[str, str]:
    return {
        f.get("title", ""): f.get("value", "")
        for n in walk(card.get("body", []))
        if n.get("type") == "FactSet"
        for f in n.get("facts", [])
    }


def unescape(text: str) -> str:
    """Markdown escapes undone (cards escape what a person typed)."""
    return re.sub(r"\\(.)", r"\1", text)


_NOTICE_HEADINGS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("booking.created", re.compile(r"^New booking from (?P<who>.+)$")),
    ("booking.rescheduled", re.compile(r"^(?P<who>.+)'s meeting was moved$")),
    ("booking.rescheduled", re.compile(r"^You moved the meeting with (?P<who>.+)$")),
    ("booking.rescheduled", re.compile(r"^The meeting with (?P<who>.+) was moved in Outlook$")),
    ("booking.cancelled", re.compile(r"^You cancelled the meeting with (?P<who>.+)$")),
    ("booking.cancelled", re.compile(r"^The meeting with (?P<who>.+) was cancelled in Outlook$")),
    ("booking.cancelled", re.compile(r"^(?P<who>.+) cancelled$")),
)


def booking_notice(card: Json) -> tuple[str, str] | None:
    """(kind, invitee name) when ``card`` is a host notification of a booking change (``cards.bookings``)."""
    texts = card_texts(card)
    if not texts or "Invitee" not in card_facts(card):
        return None
    heading = unescape(texts[0])
    for kind, pattern in _NOTICE_HEADINGS:
        found = pattern.match(heading)
        if found:
            return kind, found.group("who")
    return None


_ANNOUNCEMENTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("booking.rescheduled", re.compile(r"^(?P<who>.+?)'s .* moved to .*")),
    ("booking.cancelled", re.compile(r"^(?P<who>.+?)'s .* was cancelled\.$")),
    ("booking.created", re.compile(r"^(?P<who>.+?) booked .*")),
)


def announcement(text: str) -> tuple[str, str] | None:
    """(kind, invitee name) when ``text`` is a team link's channel announcement (``cards.team.announcement_text``)."""
    for kind, pattern in _ANNOUNCEMENTS:
        found = pattern.match(unescape(text))
        if found:
            return kind, found.group("who")
    return None


@dataclass
class Connector:
    """The Bot Framework connector (``{serviceUrl}v3/...``) as far as the bot uses it."""

    people: dict[str, Person] = field(default_factory=dict)  # by Teams id
    posted: list[Posted] = field(default_factory=list)
    replies: dict[str, list[Posted]] = field(default_factory=dict)  # by the activity id they reply to
    unknown: Counter[str] = field(default_factory=Counter)
    created: int = 0
    url: str = ""

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{cid}/activities", self._post)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._post)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._post)
        app.router.add_delete("/v3/conversations/{cid}/activities/{aid}", self._deleted)
        app.router.add_get("/v3/conversations/{cid}/members/{mid}", self._member)
        app.router.add_get("/v3/conversations/{cid}/members", self._members)
        app.router.add_get("/v3/conversations/{cid}/pagedmembers", self._paged_members)
        app.router.add_get("/v3/teams/{tid}", self._team)
        app.router.add_get("/v3/teams/{tid}/conversations", self._channels)
        app.router.add_route("*", "/{tail:.*}", self._other)
        return app

    async def _post(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = {}
        cid = request.match_info["cid"]
        ids = {k: v for k, v in request.headers.items() if "request-id" in k.lower() or "correlation" in k.lower()}
        posted = Posted(time.time(), request.method, cid, request.path, body if isinstance(body, dict) else {}, ids)
        self.posted.append(posted)
        reply_to = body.get("replyToId") if isinstance(body, dict) else None
        if isinstance(reply_to, str):
            self.replies.setdefault(reply_to, []).append(posted)
        return web.json_response({"id": request.match_info.get("aid") or f"1:{uuid.uuid4().hex}"})

    async def _deleted(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _create(self, request: web.Request) -> web.Response:
        """``conversations.create``: a 1:1 chat with one known person gives their personal chat with the bot."""
        self.created += 1
        body = await request.json()
        members = body.get("members") or []
        person = self.people.get(members[0].get("id", "")) if len(members) == 1 else None
        if person is None or body.get("isGroup"):
            return web.json_response({"error": {"code": "Forbidden", "message": "can't start this chat"}}, status=403)
        return web.json_response({"id": person.chat})

    async def _member(self, request: web.Request) -> web.Response:
        person = self.people.get(request.match_info["mid"]) or next(
            (p for p in self.people.values() if p.aad == request.match_info["mid"]), None
        )
        if person is None:
            return web.json_response({"error": {"code": "MemberNotFoundInConversation", "message": "no"}}, status=404)
        return web.json_response(person.member())

    async def _members(self, request: web.Request) -> web.Response:
        return web.json_response([p.member() for p in self.people.values()])

    async def _paged_members(self, request: web.Request) -> web.Response:
        return web.json_response({"members": [p.member() for p in self.people.values()]})

    async def _team(self, request: web.Request) -> web.Response:
        tid = request.match_info["tid"]
        return web.json_response(
            {"id": tid, "name": "Fleet team", "aadGroupId": str(uuid.uuid5(uuid.NAMESPACE_URL, tid))}
        )

    async def _channels(self, request: web.Request) -> web.Response:
        return web.json_response({"conversations": [{"id": request.match_info["tid"], "name": None}]})

    async def _other(self, request: web.Request) -> web.Response:
        self.unknown[f"{request.method} {re.sub(r'/[^/]*[0-9][^/]*', '/*', request.path)}"] += 1
        return web.json_response({"error": {"code": "NotFound", "message": "not in the stand-in"}}, status=404)

    def dump(self, path: Path) -> None:
        """Everything posted, one JSON line each (kept with the work folder)."""
        with path.open("w") as out:
            for p in self.posted:
                notice = next((booking_notice(c) for c in p.cards if booking_notice(c)), None)
                line = {"at": p.at, "method": p.method, "conversation": p.conversation_id, "path": p.path}
                facts = next((card_facts(c) for c in p.cards if booking_notice(c)), None)
                line |= {"headers": p.headers, "notice": notice, "facts": facts, "text": p.body.get("text")}
                out.write(json.dumps(line) + "\n")

    def announcements(self, channel: str) -> list[tuple[Posted, str, str]]:
        """Every booking announcement posted in ``channel``: (what carried it, kind, invitee name)."""
        out = []
        for posted in self.posted:
            text = posted.body.get("text")
            if posted.conversation_id.startswith(channel) and isinstance(text, str):
                found = announcement(text)
                if found is not None:
                    out.append((posted, *found))
        return out

    def notices(self) -> list[tuple[Posted, str, str]]:
        """Every booking notice posted: (what carried it, kind, invitee name)."""
        out = []
        for posted in self.posted:
            for card in posted.cards:
                found = booking_notice(card)
                if found is not None:
                    out.append((posted, *found))
        return out


@dataclass
class Delivery:
    webhook_id: str
    type: str
    booking_id: str | None
    data: Json
    at: float


@dataclass
class Receiver:
    """Webhook deliveries, verified; ``secrets`` by subscription name (the path's last segment)."""

    secrets: dict[str, str] = field(default_factory=dict)
    accepted: list[Delivery] = field(default_factory=list)
    seen: Counter[str] = field(default_factory=Counter)  # webhook-id -> verified deliveries of it
    refused: int = 0  # signature missing or wrong
    url: str = ""

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/hooks/{name}", self._deliver)
        return app

    async def _deliver(self, request: web.Request) -> web.Response:
        body = await request.read()
        secret = self.secrets.get(request.match_info["name"])
        if secret is None:
            return web.Response(status=404)
        headers: Mapping[str, str] = {k.lower(): v for k, v in request.headers.items()}
        try:
            event = Webhook(secret).verify(body, dict(headers))
        except WebhookVerificationError:
            self.refused += 1
            return web.Response(status=400)
        webhook_id = headers["webhook-id"]
        self.seen[webhook_id] += 1
        if self.seen[webhook_id] == 1:  # a redelivery of an id already processed is acknowledged, not processed
            data = event.get("data") if isinstance(event, dict) else None
            data = data if isinstance(data, dict) else {}
            booking_id = data.get("id") if str(event.get("type", "")).startswith("booking.") else None
            self.accepted.append(Delivery(webhook_id, str(event.get("type")), booking_id, data, time.monotonic()))
        return web.Response(status=204)

    @property
    def redeliveries(self) -> int:
        return sum(n - 1 for n in self.seen.values())
