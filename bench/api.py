"""Bookings through the REST API under load, and how fast their webhooks arrive: ``python -m bench.api``.

Starts the sandbox app in its own process on a scratch PostgreSQL database (next to ``$SLOTWISE_TEST_POSTGRES_URL``)
with the Graph emulator adding 50 ms to every Graph request, makes an API key for the demo host (in the database,
as "api key" in chat would) and a webhook subscription to ``booking.created`` pointing at a receiver in this process
(sandbox mode allows http://127.0.0.1). Then 50 concurrent clients book the demo link's free slots through
``POST /api/v1/bookings`` (each with its own Idempotency-Key) until the slots run out or each client made its
share. Every booking costs three Graph requests (free/busy, create, read back), so ~150 ms is the floor of one.

Figures: bookings created per second and the p50/p95 latency of a booking request; the webhook delivery lag of each
booking, from the commit of the booking (the ``timestamp`` of its ``booking.created`` event, written in the same
transaction) to the moment the receiver got it, p50/p95 (target p95 < 2 s). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import aiohttp
from aiohttp import web

from bench.support import create_scratch_database, drop_scratch_database
from bench.web import free_port, percentile, wait_for_demo
from scheduling.api_keys import ApiKeyService
from storage.api import SqlApiKeyStore
from storage.db import create_database
from storage.users import SqlUserStore

TARGET_LAG_P95_MS = 2000.0
DEMO_HANDLE = "adele"


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def start_app(var_dir: Path, port: int, database_url: str, latency_ms: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLOTWISE_", "Microsoft", "MICROSOFT_"))}
    env.update(
        {
            "SLOTWISE_PORT": str(port),
            "SLOTWISE_HOST": "127.0.0.1",
            "SLOTWISE_VAR_DIR": str(var_dir),
            "SLOTWISE_DATABASE_URL": database_url,
            "SLOTWISE_SANDBOX_LATENCY_MS": str(latency_ms),
            "SLOTWISE_API_RATE_LIMIT": "1000000",
            "SLOTWISE_RECONCILE_SECONDS": "3600",
            "SLOTWISE_LOG_FORMAT": "text",
        }
    )
    return subprocess.Popen([sys.executable, "-m", "app"], cwd=var_dir, env=env, stdout=subprocess.DEVNULL, stderr=log)


async def api_key(database_url: str) -> str:
    """A key of the demo host, made with the core's use case straight on the database."""
    db = create_database(database_url, pool_size=1, max_overflow=0)
    try:
        users = SqlUserStore(db)
        for _ in range(300):
            host = await users.get_by_handle(DEMO_HANDLE)
            if host is not None:
                issued = await ApiKeyService(keys=SqlApiKeyStore(db), users=users, clock=SystemClock()).create(host)
                return issued.secret
            await asyncio.sleep(0.1)
        raise SystemExit("the demo host never appeared")
    finally:
        await db.dispose()


class Receiver:
    def __init__(self) -> None:
        self.lags_ms: dict[str, float] = {}
        self.count = 0
        self.wanted: set[str] = set()
        self.all_in = asyncio.Event()

    def expect(self, booking_ids: set[str]) -> None:
        """Set ``all_in`` once the webhooks of all these bookings have arrived."""
        self.wanted = booking_ids
        if self.wanted <= set(self.lags_ms):
            self.all_in.set()

    async def handle(self, request: web.Request) -> web.Response:
        got = datetime.now(UTC)
        event = json.loads(await request.read())
        self.count += 1
        if event["type"] == "booking.created":
            committed = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
            self.lags_ms.setdefault(event["data"]["id"], (got - committed).total_seconds() * 1000)
            if self.wanted and self.wanted <= set(self.lags_ms):
                self.all_in.set()
        return web.Response(status=204)


async def free_slots(session: aiohttp.ClientSession, base: str, headers: dict[str, str], link_id: str) -> list[str]:
    today = datetime.now(UTC).date()
    starts: list[str] = []
    for offset in (0, 31):
        params = {
            "start": (today + timedelta(days=offset)).isoformat(),
            "end": (today + timedelta(days=offset + 30)).isoformat(),
            "timeZone": "UTC",
        }
        async with session.get(f"{base}/api/v1/event-types/{link_id}/slots", headers=headers, params=params) as resp:
            body = await resp.json()
            starts += [s["start"] for s in body.get("slots", [])]
    return sorted(set(starts))


async def run(clients: int, per_client: int, latency_ms: int) -> dict[str, Any]:
    database_url = await create_scratch_database("postgres")
    receiver = Receiver()
    hook_app = web.Application()
    hook_app.router.add_post("/hook", receiver.handle)
    hook_runner = web.AppRunner(hook_app, access_log=None)
    await hook_runner.setup()
    hook_port = free_port()
    await web.TCPSite(hook_runner, "127.0.0.1", hook_port).start()
    try:
        with tempfile.TemporaryDirectory(prefix="slotwise-bench-api-") as tmp:
            var_dir = Path(tmp)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            with (var_dir / "app.log").open("wb") as log:
                proc = start_app(var_dir, port, database_url, latency_ms, log)
            try:
                connector = aiohttp.TCPConnector(limit=clients + 5)
                timeout = aiohttp.ClientTimeout(total=120)
                async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                    await wait_for_demo(session, base, proc, seconds=90)
                    headers = {"Authorization": f"Bearer {await api_key(database_url)}"}
                    async with session.get(f"{base}/api/v1/event-types", headers=headers) as resp:
                        links = (await resp.json())["data"]
                    link_id = next(x["id"] for x in links if x["slug"] == "intro-call")
                    hook = {"url": f"http://127.0.0.1:{hook_port}/hook", "events": ["booking.created"]}
                    async with session.post(f"{base}/api/v1/webhooks", headers=headers, json=hook) as resp:
                        assert resp.status == 201, await resp.text()
                    slots = await free_slots(session, base, headers, link_id)
                    queue = slots[: clients * per_client]
                    print(
                        f"app up on PostgreSQL (Graph latency {latency_ms} ms); {len(slots)} free slots, "
                        f"booking {len(queue)}"
                    )
                    latencies: list[float] = []
                    errors: list[str] = []
                    booked: list[str] = []

                    async def client() -> None:
                        while queue:
                            start = queue.pop()
                            body = {
                                "eventTypeId": link_id,
                                "start": start,
                                "name": "Bench Invitee",
                                "email": "bench@example.org",
                            }
                            t0 = time.perf_counter()
                            async with session.post(
                                f"{base}/api/v1/bookings",
                                headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
                                json=body,
                            ) as resp:
                                answer = await resp.read()
                                latencies.append((time.perf_counter() - t0) * 1000)
                                if resp.status == 201:
                                    booked.append(json.loads(answer)["id"])
                                else:
                                    errors.append(f"{resp.status} {answer[:200]!r}")

                    t0 = time.perf_counter()
                    await asyncio.gather(*(client() for _ in range(clients)))
                    wall = time.perf_counter() - t0
                    receiver.expect(set(booked))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(receiver.all_in.wait(), 60)
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log_tail = (var_dir / "app.log").read_text(errors="replace").splitlines()[-5:]
    finally:
        await hook_runner.cleanup()
        await drop_scratch_database(database_url)
    lags = [receiver.lags_ms[b] for b in booked if b in receiver.lags_ms]
    missing = len(booked) - len(lags)
    rate = len(booked) / wall if wall else 0.0
    p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
    lag50, lag95 = (statistics.median(lags), percentile(lags, 0.95)) if lags else (float("nan"), float("nan"))
    print(f"{clients} clients: {len(booked)} bookings in {wall:.2f} s = {rate:.1f} bookings/s")
    print(f"booking latency ms: p50 {p50:.0f}  p95 {p95:.0f}  max {max(latencies):.0f}")
    print(
        f"webhook lag ms (commit -> receiver): p50 {lag50:.0f}  p95 {lag95:.0f}  (target p95 < {TARGET_LAG_P95_MS:.0f})"
    )
    print(f"errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else "") + f"; webhooks missing: {missing}")
    if errors or missing:
        print("app log tail:", *log_tail, sep="\n  ")
    return {
        "bookings": len(booked),
        "bookings_per_s": round(rate, 1),
        "booking_p50_ms": round(p50, 1),
        "booking_p95_ms": round(p95, 1),
        "webhook_lag_p50_ms": round(lag50, 1),
        "webhook_lag_p95_ms": round(lag95, 1),
        "webhooks_received": len(lags),
        "webhooks_missing": missing,
        "errors": len(errors),
        "clients": clients,
        "emulator_latency_ms": latency_ms,
        "database": "postgresql",
        "target_lag_p95_ms": TARGET_LAG_P95_MS,
        "target_met": bool(lags) and lag95 < TARGET_LAG_P95_MS and not errors and not missing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--per-client", type=int, default=6, help="bookings per client (at most)")
    parser.add_argument("--latency-ms", type=int, default=50, help="emulator latency per Graph request")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.clients, args.per_client, args.latency_ms))))


if __name__ == "__main__":
    main()
