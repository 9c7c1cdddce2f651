"""After the load: wait until the fleet has settled, then count what went wrong, from the database (read-only SQL
on the harness's own PostgreSQL), the Graph emulator (``GET /_admin/events``: every event of every mailbox) and
what the stand-ins recorded.

Settled: no booking pending or waiting for its Outlook event to be updated, no outbox item due, and nothing new
reaching the connector or the receiver, for ``quiet`` seconds (longer than the reconciliation interval).

The counts (each must be 0):

* ``double_booked_hosts``: hosts with two holding bookings (confirmed or pending) whose times overlap;
* ``bookings_without_one_event``: confirmed bookings that don't have exactly one live (not cancelled) Outlook event
  tagged with them in the organiser's mailbox (``events_at_wrong_time`` counts those whose event is elsewhere in
  time);
* ``events_without_booking``: live Outlook events made by Slotwise (tagged with a booking, or carrying a booking's
  ``transactionId``) whose booking is not confirmed (released, cancelled) or does not exist;
* ``notices_not_exactly_once``: (booking, host, change) where the host's personal chat got other than exactly one
  notice. What each booking should have caused comes from its row: "created" once it was confirmed (it has an
  Outlook event id), "rescheduled" once per move (``version`` counts moves and the cancel), "cancelled" when
  cancelled; each for every host of the booking;
* ``webhooks_missing`` / ``webhook_events_duplicated``: the same changes of the bookings the subscribed host sees
  (those they host, and every booking of the team link they made), against
  the verified deliveries by distinct ``webhook-id`` (a repeated id is a redelivery the receiver drops, counted as
  ``webhook_redeliveries``, which at-least-once delivery allows); ``webhook_ids_missing``: delivery items in the
  outbox whose ``webhook-id`` never reached the receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from bench.fleet.load import CHANNEL, Setup
from bench.fleet.processes import Emulator
from bench.fleet.stand_ins import Connector, Receiver
from graph.models import booking_id_of

BOOKING_KINDS = ("booking.created", "booking.rescheduled", "booking.cancelled")

SETTLE_SQL = """
SELECT
  (SELECT count(*) FROM bookings WHERE status = 'pending') AS pending,
  (SELECT count(*) FROM bookings WHERE calendar_sync <> 'in_sync') AS out_of_sync,
  (SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND NOT dead AND held_for IS NULL) AS due
"""


async def read_only(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn, timeout=10)
    await conn.execute("SET default_transaction_read_only = on")
    return conn


@dataclass
class Settled:
    settled: bool
    seconds: float
    last: dict[str, int] = field(default_factory=dict)


async def settle(
    dsn: str, connector: Connector, receiver: Receiver, *, deadline: float, quiet: float, poll: float = 1.0
) -> Settled:
    started = time.monotonic()
    calm_since: float | None = None
    seen: tuple[int, int] = (-1, -1)
    last: dict[str, int] = {}
    while time.monotonic() - started < deadline:
        try:
            conn = await read_only(dsn)
            try:
                row = await conn.fetchrow(SETTLE_SQL)
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError):
            await asyncio.sleep(poll)
            continue
        assert row is not None
        last = dict(row)
        now_seen = (len(connector.posted), len(receiver.accepted) + receiver.redeliveries)
        if any(last.values()) or now_seen != seen:
            calm_since = None
        elif calm_since is None:
            calm_since = time.monotonic()
        elif time.monotonic() - calm_since >= quiet:
            return Settled(True, time.monotonic() - started, last)
        seen = now_seen
        await asyncio.sleep(poll)
    return Settled(False, time.monotonic() - started, last)


def _instant(value: Any) -> datetime | None:
    """An event's start/end as Graph renders it (``{"dateTime", "timeZone"}``, UTC from the admin API) or a
    string."""
    if isinstance(value, Mapping):
        text, zone = str(value.get("dateTime", "")), str(value.get("timeZone", "UTC"))
        if not text:
            return None
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            if zone.upper() not in ("UTC", "Z"):
                from zoneinfo import ZoneInfo

                with contextlib.suppress(Exception):
                    return parsed.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    if isinstance(value, str) and value:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    return None


@dataclass
class Audit:
    counts: dict[str, int]
    details: dict[str, Any]


def _expected_changes(booking: Mapping[str, Any]) -> Counter[str]:
    """What a booking's row says it went through: created (confirmed once), moves, cancelled."""
    out: Counter[str] = Counter()
    cancelled = booking["status"] == "cancelled"
    if booking["graph_event_id"] is not None:
        out["booking.created"] = 1
    moves = booking["version"] - 1 - (1 if cancelled else 0)
    if moves > 0:
        out["booking.rescheduled"] = moves
    if cancelled:
        out["booking.cancelled"] = 1
    return out


def double_booked(bookings: Sequence[Mapping[str, Any]]) -> tuple[int, list[tuple[str, str, str]]]:
    by_host: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for b in bookings:
        if b["status"] in ("confirmed", "pending"):
            for host in b["host_ids"]:
                by_host[host].append(b)
    pairs: list[tuple[str, str, str]] = []
    for host, items in by_host.items():
        items.sort(key=lambda b: (b["start_at"], b["end_at"]))
        latest: Mapping[str, Any] | None = None
        for b in items:
            if latest is not None and b["start_at"] < latest["end_at"]:
                pairs.append((host, latest["id"], b["id"]))
            if latest is None or b["end_at"] > latest["end_at"]:
                latest = b
    return len({p[0] for p in pairs}), pairs


async def audit(
    dsn: str,
    emulator: Emulator,
    http: httpx.AsyncClient,
    connector: Connector,
    receiver: Receiver,
    world: Setup,
) -> Audit:
    conn = await read_only(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id, organizer_id, host_ids, start_at, end_at, status, graph_event_id, transaction_id, version,"
            " invitee_name, calendar_sync, event_type_id FROM bookings"
        )
        team_link_ids = {r["id"] for r in await conn.fetch("SELECT id FROM event_types WHERE team_id IS NOT NULL")}
        made_by = {r["event_type_id"]: r["created_by"] for r in await conn.fetch("SELECT * FROM team_links")}
        users = await conn.fetch("SELECT id, aad_object_id, email FROM users")
        outbox = await conn.fetch(
            "SELECT id, kind, channel, payload, dedupe_key, delivered_at, dead, held_for FROM outbox"
        )
    finally:
        await conn.close()
    bookings = [dict(r) | {"host_ids": _json(r["host_ids"])} for r in rows]
    by_id = {b["id"]: b for b in bookings}
    by_tx = {b["transaction_id"]: b for b in bookings}
    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for b in bookings:
        by_name[b["invitee_name"]].append(b)
    user_by_aad = {u["aad_object_id"]: u for u in users}
    user_by_id = {u["id"]: u for u in users}

    counts: dict[str, int] = {}
    details: dict[str, Any] = {"bookings": Counter(b["status"] for b in bookings)}

    # double bookings
    hosts, pairs = double_booked(bookings)
    counts["double_booked_hosts"] = hosts
    details["double_booked_pairs"] = pairs[:10]

    # Outlook events
    resp = await emulator.admin(http, "GET", "events")
    resp.raise_for_status()
    events = resp.json().get("events", [])
    live_for: dict[str, list[dict[str, Any]]] = defaultdict(list)
    orphans: list[dict[str, Any]] = []
    for event in events:
        if event.get("isCancelled"):
            continue
        tagged = booking_id_of(event)
        booking = by_id.get(tagged) if tagged else by_tx.get(event.get("transactionId") or "")
        if booking is None and not tagged:
            continue  # not Slotwise's (a seeded meeting)
        organizer = user_by_id.get(booking["organizer_id"]) if booking else None
        if booking is not None and organizer is not None and not _in_mailbox(event, organizer):
            continue  # an attendee's copy
        if booking is None or booking["status"] != "confirmed":
            orphans.append({"event": event.get("id"), "booking": tagged or (booking or {}).get("id")})
            continue
        live_for[booking["id"]].append(event)
    wrong_count, wrong_time = [], []
    for b in bookings:
        if b["status"] != "confirmed":
            continue
        found = live_for.get(b["id"], [])
        if len(found) != 1:
            wrong_count.append((b["id"], len(found)))
        elif (_instant(found[0].get("start")), _instant(found[0].get("end"))) != (b["start_at"], b["end_at"]):
            wrong_time.append(b["id"])
    counts["bookings_without_one_event"] = len(wrong_count)
    counts["events_without_booking"] = len(orphans)
    counts["events_at_wrong_time"] = len(wrong_time)
    details["bookings_without_one_event"] = wrong_count[:10]
    details["events_without_booking"] = orphans[:10]
    details["events_at_wrong_time"] = wrong_time[:10]

    # notices in chat
    chat_owner = {h.person.chat: user_by_aad.get(h.person.aad, {}).get("id") for h in world.hosts}
    received: Counter[tuple[str, str | None, str]] = Counter()
    posted_at: dict[tuple[str, str | None, str], list[float]] = defaultdict(list)
    unmatched = 0
    for posted, kind, who in connector.notices():
        matches = by_name.get(who, [])
        if len(matches) != 1:
            unmatched += 1
            continue
        key = (matches[0]["id"], chat_owner.get(posted.conversation_id), kind)
        received[key] += 1
        posted_at[key].append(posted.at)
    expected: Counter[tuple[str, str | None, str]] = Counter()
    for b in bookings:
        for kind, n in _expected_changes(b).items():
            for host in b["host_ids"]:
                expected[(b["id"], host, kind)] += n
    wrong = {k: (expected[k], received[k]) for k in set(expected) | set(received) if expected[k] != received[k]}
    counts["notices_not_exactly_once"] = len(wrong) + unmatched
    details["notices"] = {
        "expected": sum(expected.values()),
        "received": sum(received.values()),
        "missing": sum(max(0, e - r) for e, r in wrong.values()),
        "duplicated": sum(max(0, r - e) for e, r in wrong.values()),
        "unmatched": unmatched,
        "examples": [[*k, *v] for k, v in list(wrong.items())[:10]],
        "duplicates": [
            {"booking": k[0], "host": k[1], "kind": k[2], "expected": e, "posted_at": posted_at[k]}
            for k, (e, r) in wrong.items()
            if r > e
        ],  # all of them: bench.fleet.run tells a repeat after a SIGKILL from any other
    }
    # announcements of the team link's bookings in its channel
    if world.team is not None:
        said: Counter[tuple[str, str]] = Counter()
        said_at: dict[tuple[str, str], list[float]] = defaultdict(list)
        for posted, kind, who in connector.announcements(CHANNEL):
            matches = by_name.get(who, [])
            said_key = (matches[0]["id"] if len(matches) == 1 else "?", kind)
            said[said_key] += 1
            said_at[said_key].append(posted.at)
        meant: Counter[tuple[str, str]] = Counter()
        for b in bookings:
            if b["event_type_id"] in team_link_ids:
                for kind, n in _expected_changes(b).items():
                    meant[(b["id"], kind)] += n
        off = {k: (meant[k], said[k]) for k in set(meant) | set(said) if meant[k] != said[k]}
        counts["announcements_not_exactly_once"] = len(off)
        details["announcements"] = {
            "expected": sum(meant.values()),
            "received": sum(said.values()),
            "examples": [[*k, *v] for k, v in list(off.items())[:10]],
            "duplicates": [
                {"booking": k[0], "kind": k[1], "expected": e, "posted_at": said_at[k]}
                for k, (e, r) in off.items()
                if r > e
            ],
        }
    teams_items = [o for o in outbox if o["channel"] == "teams" and o["kind"] in BOOKING_KINDS]
    details["notice_items"] = {
        "total": len(teams_items),
        "dead": sum(1 for o in teams_items if o["dead"]),
        "held": sum(1 for o in teams_items if o["held_for"] is not None),
        "undelivered": sum(1 for o in teams_items if o["delivered_at"] is None),
    }

    # webhooks (the bookings the subscribed host sees through the API: those they host, and every booking of the
    # team links they made, whoever of the rotation hosts it)
    subscriber = user_by_aad.get(world.hosts[0].person.aad, {}).get("id")
    hook_expected: Counter[tuple[str, str]] = Counter()
    for b in bookings:
        if subscriber in b["host_ids"] or made_by.get(b["event_type_id"]) == subscriber:
            for kind, n in _expected_changes(b).items():
                hook_expected[(b["id"], kind)] += n
    hook_received: Counter[tuple[str, str]] = Counter(
        (d.booking_id, d.type) for d in receiver.accepted if d.booking_id is not None
    )
    keys = set(hook_expected) | set(hook_received)
    counts["webhooks_missing"] = sum(max(0, hook_expected[k] - hook_received[k]) for k in keys)
    counts["webhook_events_duplicated"] = sum(max(0, hook_received[k] - hook_expected[k]) for k in keys)
    delivery_ids = {
        f"msg_{o['id']}" for o in outbox if o["channel"] == "webhook" and o["dedupe_key"].startswith("whd:")
    }
    counts["webhook_ids_missing"] = len(delivery_ids - set(receiver.seen))
    details["webhooks"] = {
        "expected": sum(hook_expected.values()),
        "received": sum(hook_received.values()),
        "delivery_items": len(delivery_ids),
        "redeliveries": receiver.redeliveries,
        "refused_signatures": receiver.refused,
        "examples": [[*k, hook_expected[k], hook_received[k]] for k in keys if hook_expected[k] != hook_received[k]][
            :10
        ],
    }
    counts["webhook_signatures_refused"] = receiver.refused
    return Audit(counts, details)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _in_mailbox(event: Mapping[str, Any], user: Mapping[str, Any]) -> bool:
    mailbox = str(event.get("mailbox") or "").lower()
    mailbox_id = str(event.get("mailboxId") or "")
    if not mailbox and not mailbox_id:
        return True
    return mailbox == str(user["email"]).lower() or mailbox_id == user["aad_object_id"]
