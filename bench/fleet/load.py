"""What the fleet is asked to do, all through the balancer: the hosts' setup in chat, then the mixed load.

Setup (faults off): each host installs the bot in their personal chat (``conversationUpdate``), says "make a 30-min
link" (sandbox mode connects them at once) and gets the link's card; the first host also says "api key" (the key is
read from its card) and subscribes a webhook to the receiver through the REST API.

The load: ``workers`` virtual clients, each repeating one of

* ``slots``: a week of a host's slots (``GET /book/{handle}/{slug}/slots``);
* ``book``: an invitee reads the host's next two weeks and books one of the first three times shown (so invitees
  race for the same few slots: 409 for the losers), JSON with an ``Idempotency-Key``; its manage link is kept;
* ``manage`` + ``reschedule``: the manage page with its times (``?reschedule=1``), then a move to one of them;
* ``manage`` + ``cancel``: the manage page, then the cancel form;
* ``api_bookings`` / ``api_slots``: ``GET /api/v1/bookings`` and an event type's slots with the API key;
* ``chat``: a host's message ("upcoming", "my links", "help") at ``/api/messages``.

Each invitee has a unique name, which the host notification cards name: that is how the audit ties a notice in
chat to its booking.
"""

from __future__ import annotations

import asyncio
import random
import re
import secrets
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.fleet.stand_ins import Connector, Person, Receiver, walk

TENANT = "5f1ee700-0000-4000-8000-00000000f1ee"
TEAM = "19:fleet-team@thread.tacv2"
CHANNEL = "19:fleet-channel@thread.tacv2"
TEAM_MEMBERS = 3  # hosts 0..2 take the team link's bookings (round-robin)
TEAM_SHARE = 0.2  # of slot views and bookings go to the team link
BOT_ID = "28:00000000-0000-0000-0000-00000000bb01"
ZONES = (
    "Europe/London",
    "America/New_York",
    "Europe/Berlin",
    "Asia/Kolkata",
    "America/Los_Angeles",
    "Australia/Sydney",
    "America/Sao_Paulo",
    "Asia/Tokyo",
)
WEIGHTS = {"slots": 36, "book": 26, "reschedule": 8, "cancel": 5, "api": 12, "chat": 13}
CHAT_TEXTS = ("upcoming", "my links", "help")
MAX_IN_FLIGHT = 256  # open loop: sessions running at once before arrivals are shed (and counted)
CSRF_COOKIE = "sw_csrf"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_START = re.compile(r'name="start" value="([^"]+)"')


def person(index: int) -> Person:
    aad = str(uuid.uuid5(uuid.NAMESPACE_URL, f"slotwise-fleet-host-{index}"))
    return Person(
        teams_id=f"29:1fleet-host-{index}",
        aad=aad,
        name=f"Fleet Host {index}",
        email=f"host{index}@fleet.example",
        tenant=TENANT,
        zone=ZONES[index % len(ZONES)],
    )


@dataclass
class Host:
    person: Person
    link_path: str = ""  # /book/{handle}/{slug}

    @property
    def zone(self) -> str:
        return self.person.zone


@dataclass
class Booked:
    id: str
    token: str
    host: int
    invitee: str
    busy: bool = False  # a reschedule or cancel of it is under way


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    timed_at: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # when each latency ended
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    errors: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    server_errors: list[dict[str, Any]] = field(default_factory=list)  # answered 500
    examples: dict[str, str] = field(default_factory=dict)  # "kind status" -> the first such answer (not 2xx/3xx)
    balancer: Counter[int] = field(default_factory=Counter)  # answers made by HAProxy itself (no request id)
    bookings: int = 0  # 201/202 answers to a booking
    arrivals: int = 0  # open loop: sessions started at their arrival time
    shed: int = 0  # open loop: arrivals dropped because MAX_IN_FLIGHT sessions were still running
    reschedules: int = 0
    cancels: int = 0
    first: float = 0.0
    last: float = 0.0

    def record(self, kind: str, resp: httpx.Response, ms: float) -> None:
        """One answer. Latencies are those of the app's answers (every status): an error HAProxy made itself
        (no replica to send it to, or one that died mid-request) is counted in ``balancer``, not timed."""
        self.statuses[kind][resp.status_code] += 1
        if "X-Request-Id" not in resp.headers and resp.status_code >= 500:
            self.balancer[resp.status_code] += 1
        else:
            self.latencies[kind].append(ms)
            self.timed_at[kind].append(time.monotonic())
        if resp.status_code >= 400 and f"{kind} {resp.status_code}" not in self.examples:
            self.examples[f"{kind} {resp.status_code}"] = resp.text[:300]
        if resp.status_code == 500:
            self.server_errors.append(
                {
                    "kind": kind,
                    "path": re.sub(r"/manage/[^/?]+", "/manage/<token>", resp.request.url.path),
                    "request_id": resp.headers.get("X-Request-Id"),
                    "body": resp.text[:300],
                }
            )

    @property
    def requests(self) -> int:
        return sum(sum(c.values()) for c in self.statuses.values()) + sum(sum(c.values()) for c in self.errors.values())


class FleetClient:
    """The harness's HTTP side: one httpx client to the balancer (cookies never kept: each flow sends its own)."""

    def __init__(self, base: str, connector: Connector, stats: Stats, *, connections: int) -> None:
        self.base = base
        self.connector = connector
        self.stats = stats
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(60.0, connect=5.0),
            limits=limits,
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            follow_redirects=False,
        )
        self.recording = False

    async def aclose(self) -> None:
        await self.http.aclose()

    async def call(self, kind: str, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            resp = await self.http.request(method, self.base + path, **kwargs)
        except httpx.HTTPError as exc:
            if self.recording:
                self.stats.errors[kind][type(exc).__name__] += 1
            return None
        if self.recording:
            self.stats.record(kind, resp, (time.perf_counter() - started) * 1000)
        return resp

    # ------------------------------------------------------------------ chat

    def activity(self, who: Person, text: str | None = None, **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "message",
            "id": f"f:{uuid.uuid4()}",
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "localTimezone": who.zone,
            "serviceUrl": self.connector.url,
            "channelId": "msteams",
            "from": {"id": who.teams_id, "name": who.name, "aadObjectId": who.aad},
            "conversation": {"conversationType": "personal", "tenantId": who.tenant, "id": who.chat},
            "recipient": {"id": BOT_ID, "name": "Slotwise"},
            "textFormat": "plain",
            "entities": [{"type": "clientInfo", "locale": "en-GB", "timezone": who.zone}],
            "channelData": {"tenant": {"id": who.tenant}},
            "locale": "en-GB",
        }
        if text is not None:
            body["text"] = text
        body.update(changes)
        return body

    async def say(self, who: Person, text: str, kind: str = "chat") -> list[dict[str, Any]] | None:
        """A message in their personal chat; the cards the bot answered with (None: no 200)."""
        activity = self.activity(who, text)
        resp = await self.call(kind, "POST", "/api/messages", json=activity)
        if resp is None or resp.status_code != 200:
            return None
        return [card for posted in self.connector.replies.pop(activity["id"], []) for card in posted.cards]

    def in_channel(self, who: Person, activity: dict[str, Any], thread: str) -> dict[str, Any]:
        """``activity`` moved into the fleet team's channel (the thread of message ``thread``)."""
        activity["conversation"] = {
            "isGroup": True,
            "conversationType": "channel",
            "tenantId": who.tenant,
            "id": f"{CHANNEL};messageid={thread}",
        }
        activity["channelData"] = {
            "teamsChannelId": CHANNEL,
            "teamsTeamId": TEAM,
            "channel": {"id": CHANNEL},
            "team": {"id": TEAM},
            "tenant": {"id": who.tenant},
        }
        return activity

    async def installed(self, who: Person) -> bool:
        activity = self.activity(
            who,
            type="conversationUpdate",
            membersAdded=[{"id": BOT_ID}, {"id": who.teams_id, "aadObjectId": who.aad}],
        )
        activity.pop("textFormat")
        resp = await self.call("setup", "POST", "/api/messages", json=activity)
        return resp is not None and resp.status_code == 200


# ------------------------------------------------------------------ setup


@dataclass
class Setup:
    hosts: list[Host]
    api_key: str
    event_type_id: str
    webhook_id: str
    team: Host | None = None  # the round-robin team link (its person: the creator)


async def team_link(client: FleetClient, hosts: list[Host]) -> Host:
    """Host 0 makes a 30-min round-robin link in the fleet team's channel; hosts 1.. join it from its card."""
    creator = hosts[0].person
    thread = str(int(time.time() * 1000))
    text = "<at>Slotwise</at> make a 30-min round-robin link"
    activity = client.in_channel(creator, client.activity(creator, text), thread)
    activity["entities"].insert(
        0, {"type": "mention", "mentioned": {"id": BOT_ID, "name": "Slotwise"}, "text": "<at>Slotwise</at>"}
    )
    resp = await client.call("setup", "POST", "/api/messages", json=activity)
    cards = [c for p in client.connector.replies.pop(activity["id"], []) for c in p.cards]
    if resp is None or resp.status_code != 200 or not cards:
        raise RuntimeError(f"no team link card: {resp.status_code if resp else 'no answer'} {cards!r:.1000}")
    card = cards[0]
    join = next((n for n in walk(card) if n.get("type") == "Action.Execute" and n.get("verb") == "team.join"), None)
    link = next(
        (
            n.get("url", "")
            for n in walk(card)
            if n.get("type") == "Action.OpenUrl" and "/book/team/" in n.get("url", "")
        ),
        None,
    )
    if join is None or link is None:
        raise RuntimeError(f"the team link card has no Join button or link: {card!r:.2000}")
    for host in hosts[1:TEAM_MEMBERS]:
        who = host.person
        invoke = client.in_channel(
            who,
            client.activity(
                who,
                type="invoke",
                name="adaptiveCard/action",
                value={
                    "action": {"type": "Action.Execute", "id": "", "verb": join["verb"], "data": join.get("data", {})},
                    "trigger": "manual",
                },
                replyToId=thread,
            ),
            thread,
        )
        invoke.pop("textFormat")
        resp = await client.call("setup", "POST", "/api/messages", json=invoke)
        if resp is None or resp.status_code != 200 or resp.json().get("statusCode") != 200:
            raise RuntimeError(f"{who.name} could not join the team link: {resp.text[:500] if resp else 'no answer'}")
    return Host(creator, urlsplit(link).path)


async def setup(
    client: FleetClient, receiver: Receiver, host_count: int, *, team: bool = True, deadline: float = 120.0
) -> Setup:
    """Every host installs the bot and makes a 30-min link; host 0 makes an API key and a webhook subscription, and
    (``team``) a round-robin link in a channel that hosts 1 and 2 join."""
    hosts = [Host(person(i)) for i in range(host_count)]
    for host in hosts:
        client.connector.people[host.person.teams_id] = host.person

    async def one(host: Host) -> None:
        end = time.monotonic() + deadline
        while not await client.installed(host.person):
            if time.monotonic() > end:
                raise RuntimeError(f"{host.person.name} could not install the bot")
            await asyncio.sleep(0.5)
        while True:
            cards = await client.say(host.person, "make a 30-min link", kind="setup") or []
            urls = [n.get("url", "") for c in cards for n in walk(c) if n.get("type") == "Action.OpenUrl"]
            link = next((u for u in urls if "/book/" in u), None)
            if link is not None:
                host.link_path = urlsplit(link).path
                return
            if time.monotonic() > end:
                raise RuntimeError(f"{host.person.name} got no link: {cards!r:.2000}")
            await asyncio.sleep(0.5)

    await asyncio.gather(*(one(h) for h in hosts))
    owner = hosts[0].person
    cards = await client.say(owner, "api key", kind="setup") or []
    key = next((n.get("value") for c in cards for n in walk(c) if n.get("id") == "apiKey.value"), None)
    if not key:
        raise RuntimeError(f"no API key in the answer to 'api key': {cards!r:.2000}")
    auth = {"Authorization": f"Bearer {key}"}
    resp = await client.call("setup", "GET", "/api/v1/event-types", headers=auth)
    if resp is None or resp.status_code != 200:
        raise RuntimeError(f"GET /api/v1/event-types: {resp.status_code if resp else 'no answer'}")
    event_type_id = resp.json()["data"][0]["id"]
    hook = {
        "url": f"{receiver.url}/hooks/fleet",
        "events": ["booking.created", "booking.rescheduled", "booking.cancelled"],
        "description": "fleet harness",
    }
    resp = await client.call("setup", "POST", "/api/v1/webhooks", headers=auth, json=hook)
    if resp is None or resp.status_code != 201:
        raise RuntimeError(
            f"POST /api/v1/webhooks: {resp.status_code if resp else 'no answer'} {resp.text if resp else ''}"
        )
    made = resp.json()
    receiver.secrets["fleet"] = made["secret"]
    world = Setup(hosts, key, event_type_id, made["id"])
    if team and len(hosts) >= TEAM_MEMBERS:
        world.team = await team_link(client, hosts)
    return world


# ------------------------------------------------------------------ the load


def _days(first: date, count: int) -> tuple[str, str]:
    return first.isoformat(), (first + timedelta(days=count - 1)).isoformat()


class Load:
    def __init__(self, client: FleetClient, world: Setup, *, seed: int) -> None:
        self.client = client
        self.world = world
        self.stats = client.stats
        self.rng = random.Random(seed)
        self.booked: list[Booked] = []
        self.auth = {"Authorization": f"Bearer {world.api_key}"}

    def _host(self, team: bool = False) -> tuple[int, Host]:
        """A host's link at random (the team link for a share of them when ``team``: index -1)."""
        if team and self.world.team is not None and self.rng.random() < TEAM_SHARE:
            return -1, self.world.team
        index = self.rng.randrange(len(self.world.hosts))
        return index, self.world.hosts[index]

    async def run(self, workers: int, seconds: float, rate: float | None = None) -> None:
        """``workers`` clients back to back (closed loop: as much as the fleet serves, so latencies are those of a
        saturated fleet), or with ``rate`` sessions arriving at random (Poisson) at that mean rate per second,
        each started on time whatever the others are doing (open loop: the latencies a user sees at that load)."""
        stop = time.monotonic() + seconds
        self.client.recording = True
        self.stats.first = time.monotonic()
        if rate:
            await self._open_loop(rate, stop)
        else:
            await asyncio.gather(*(self._worker(stop) for _ in range(workers)))
        self.stats.last = time.monotonic()
        self.client.recording = False

    async def _worker(self, stop: float) -> None:
        while time.monotonic() < stop:
            await self._session()

    async def _session(self) -> None:
        kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
        kind = self.rng.choices(kinds, weights)[0]
        await getattr(self, f"_{kind}")()

    async def _open_loop(self, rate: float, stop: float) -> None:
        running: set[asyncio.Task[None]] = set()
        due = time.monotonic()
        while True:
            due += self.rng.expovariate(rate)
            if due >= stop:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            self.stats.arrivals += 1
            if len(running) >= MAX_IN_FLIGHT:
                self.stats.shed += 1
                continue
            task = asyncio.create_task(self._session())
            running.add(task)
            task.add_done_callback(running.discard)
        await asyncio.gather(*running, return_exceptions=True)

    async def _slot_starts(self, host: Host, first: date, days: int, kind: str = "slots") -> list[str] | None:
        start, end = _days(first, days)
        resp = await self.client.call(
            kind, "GET", f"{host.link_path}/slots", params={"start": start, "end": end, "timeZone": host.zone}
        )
        if resp is None or resp.status_code != 200:
            return None
        return [s["start"] for s in resp.json().get("slots", [])]

    async def _slots(self) -> None:
        _, host = self._host(team=True)
        first = datetime.now(UTC).date() + timedelta(days=7 * self.rng.randrange(8))
        await self._slot_starts(host, first, 7)

    async def _book(self) -> None:
        index, host = self._host(team=True)
        starts = await self._slot_starts(host, datetime.now(UTC).date(), 14)
        if not starts:
            return
        start = self.rng.choice(starts[:3])
        name = f"Guest {secrets.token_hex(5)}"
        body = {
            "start": start,
            "name": name,
            "email": f"{name.split()[1]}@invitees.example",
            "timeZone": self.rng.choice(ZONES),
            "notes": "booked by the fleet harness",
        }
        resp = await self.client.call(
            "book", "POST", host.link_path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
        )
        if resp is not None and resp.status_code in (200, 201, 202):
            answer = resp.json()
            token = urlsplit(answer.get("manageUrl") or "").path.removeprefix("/manage/")
            self.stats.bookings += 1
            if token:
                self.booked.append(Booked(answer["id"], token, index, name))

    def _pick(self) -> Booked | None:
        free = [b for b in self.booked if not b.busy]
        if not free:
            return None
        chosen = self.rng.choice(free)
        chosen.busy = True
        return chosen

    async def _manage_page(self, booking: Booked, nonce: str, **query: str) -> str | None:
        resp = await self.client.call(
            "manage",
            "GET",
            f"/manage/{booking.token}",
            params={"tz": "UTC", **query},
            headers={"Cookie": f"{CSRF_COOKIE}={nonce}"},
        )
        if resp is None or resp.status_code != 200:
            return None
        return resp.text

    async def _reschedule(self) -> None:
        booking = self._pick()
        if booking is None:
            return await self._book()
        try:
            nonce = secrets.token_urlsafe(16)
            page = await self._manage_page(booking, nonce, reschedule="1")
            if page is None:
                return
            csrf, starts = _CSRF.search(page), _START.findall(page)
            if csrf is None or not starts:
                return
            resp = await self.client.call(
                "reschedule",
                "POST",
                f"/manage/{booking.token}/reschedule",
                data={"csrf_token": csrf.group(1), "start": self.rng.choice(starts), "tz": "UTC"},
                headers={"Cookie": f"{CSRF_COOKIE}={nonce}"},
            )
            if resp is not None and resp.status_code == 303:
                self.stats.reschedules += 1
        finally:
            booking.busy = False

    async def _cancel(self) -> None:
        booking = self._pick()
        if booking is None:
            return await self._book()
        try:
            nonce = secrets.token_urlsafe(16)
            page = await self._manage_page(booking, nonce)
            if page is None:
                return
            csrf = _CSRF.search(page)
            if csrf is None:  # already cancelled: nothing to click
                self.booked.remove(booking)
                return
            resp = await self.client.call(
                "cancel",
                "POST",
                f"/manage/{booking.token}/cancel",
                data={"csrf_token": csrf.group(1), "tz": "UTC", "reason": "fleet harness"},
                headers={"Cookie": f"{CSRF_COOKIE}={nonce}"},
            )
            if resp is not None and resp.status_code == 303:
                self.stats.cancels += 1
                self.booked.remove(booking)
        finally:
            booking.busy = False

    async def _api(self) -> None:
        if self.rng.random() < 0.5:
            await self.client.call("api_bookings", "GET", "/api/v1/bookings", params={"limit": 20}, headers=self.auth)
            return
        first = datetime.now(UTC).date() + timedelta(days=7 * self.rng.randrange(4))
        start, end = _days(first, 7)
        await self.client.call(
            "api_slots",
            "GET",
            f"/api/v1/event-types/{self.world.event_type_id}/slots",
            params={"start": start, "end": end, "timeZone": self.world.hosts[0].zone},
            headers=self.auth,
        )

    async def _chat(self) -> None:
        _, host = self._host()
        await self.client.say(host.person, self.rng.choice(CHAT_TEXTS))
