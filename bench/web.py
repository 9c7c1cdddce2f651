"""Booking-page slot reads under load: ``python -m bench.web``.

Starts the sandbox app in its own process (``python -m app``: a temporary var dir and SQLite database,
a free port, the Graph emulator with 50 ms added latency per request, the booking rate limit lifted),
waits until the demo link /book/adele/intro-call answers and calendar sync has filled the demo host's
busy cache (subscription made, first delta round done), then runs 50 concurrent clients that each
read one week of slots from the JSON endpoint ``/book/adele/intro-call/slots`` a fixed number of
times (a bounded loop; the weeks rotate over the next four so not every request asks the same thing).

Then, with the app in this process (so the Graph emulator's request log can be read):

* ``graph_requests_per_view``: Graph requests per slot view with a warm busy cache, over 1,000 reads with
  random windows (1 to 14 days) and random IANA zones inside the 60-day booking window (target 0);
* ``graph_requests_random_windows``: the same reads with calendar sync off (the live read a stale cache
  falls back to), from a cold slot-view cache: busy time is cached per host per day range and shared
  across zones (target <= 3).

Prints figures and ends with one JSON line: slots_p50_ms, slots_p95_ms, requests, errors
(target: p95 under 50 ms, 0 errors), graph_requests_per_view (target 0), graph_requests_random_windows
(target <= 3).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import available_timezones

import aiohttp
from aiohttp import web

DEMO_PATH = "/book/adele/intro-call"
TARGET_P95_MS = 50.0
TARGET_RANDOM_WINDOW_GRAPH_REQUESTS = 3
TARGET_GRAPH_REQUESTS_PER_VIEW = 0.0
BOOKING_WINDOW_DAYS = 60  # the demo link's rolling window


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_app(var_dir: Path, port: int, latency_ms: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLOTWISE_", "Microsoft", "MICROSOFT_"))}
    env.update(
        {
            "SLOTWISE_PORT": str(port),
            "SLOTWISE_HOST": "127.0.0.1",
            "SLOTWISE_VAR_DIR": str(var_dir),
            "SLOTWISE_DATABASE_URL": f"sqlite+aiosqlite:///{var_dir / 'slotwise.db'}",
            "SLOTWISE_SANDBOX_LATENCY_MS": str(latency_ms),
            "SLOTWISE_BOOKING_RATE_LIMIT": "1000000",
            "SLOTWISE_SLOT_READ_RATE_LIMIT": "1000000",
        }
    )
    # cwd is the temp dir so that a developer's .env in the repository is not read
    return subprocess.Popen([sys.executable, "-m", "app"], cwd=var_dir, env=env, stdout=subprocess.DEVNULL, stderr=log)


async def wait_for_demo(
    session: aiohttp.ClientSession, base: str, proc: subprocess.Popen[bytes] | None, seconds: float = 60.0
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the app exited with {proc.returncode} before the demo link came up")
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(base + DEMO_PATH) as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.1)
    raise SystemExit("the demo link did not come up in time")


def sync_settled(db_file: Path) -> bool:
    """Whether the app's calendar sync has a usable busy cache and no queued work (read from its SQLite file)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=1)) as conn:
            cached = conn.execute(
                "SELECT count(*) FROM busy_cache WHERE delta_cursor IS NOT NULL "
                "AND stale_since IS NULL AND dirty_since IS NULL"
            ).fetchone()[0]
            queued = conn.execute("SELECT count(*) FROM sync_work").fetchone()[0]
    except sqlite3.Error:
        return False
    return bool(cached) and not queued


async def wait_for_sync(db_file: Path, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not sync_settled(db_file):
        if time.monotonic() > deadline:
            raise SystemExit("calendar sync did not fill the busy cache in time")
        await asyncio.sleep(0.1)


def weeks(count: int) -> list[tuple[str, str]]:
    today = datetime.now(UTC).date()
    return [
        ((today + timedelta(days=7 * i)).isoformat(), (today + timedelta(days=7 * i + 6)).isoformat())
        for i in range(count)
    ]


async def client(
    session: aiohttp.ClientSession,
    base: str,
    index: int,
    requests: int,
    windows: list[tuple[str, str]],
    latencies: list[float],
    errors: list[str],
    path: str | None = None,
) -> None:
    for i in range(requests):
        start, end = windows[(index + i) % len(windows)]
        url = base + (path or f"{DEMO_PATH}/slots?start={start}&end={end}&timeZone=Europe/London")
        t0 = time.perf_counter()
        try:
            async with session.get(url) as resp:
                body = await resp.read()
                if resp.status != 200:
                    errors.append(f"{resp.status} {body[:200]!r}")
                elif not json.loads(body).get("slots") and start == windows[0][0]:
                    errors.append("no slots in the first week")
        except aiohttp.ClientError as exc:
            errors.append(repr(exc))
        latencies.append((time.perf_counter() - t0) * 1000)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def run(clients: int, per_client: int, latency_ms: int, week_count: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="slotwise-bench-web-") as tmp:
        var_dir = Path(tmp)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with (var_dir / "app.log").open("wb") as log:
            proc = start_app(var_dir, port, latency_ms, log)
        try:
            connector = aiohttp.TCPConnector(limit=clients)
            async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
                started = time.perf_counter()
                await wait_for_demo(session, base, proc)
                await wait_for_sync(var_dir / "slotwise.db")
                print(
                    f"app up, demo ready and its busy cache filled in {time.perf_counter() - started:.1f} s "
                    f"(port {port}, emulator latency {latency_ms} ms)"
                )
                windows = weeks(week_count)
                warm: list[float] = []
                await client(session, base, 0, len(windows), windows, warm, [])  # warm-up: first reads, caches
                # the floor of this machine and harness: the same load on the health check
                floor: list[float] = []
                await asyncio.gather(
                    *(client(session, base, i, per_client, windows, floor, [], "/healthz") for i in range(clients))
                )
                latencies: list[float] = []
                errors: list[str] = []
                t0 = time.perf_counter()
                await asyncio.gather(
                    *(client(session, base, i, per_client, windows, latencies, errors) for i in range(clients))
                )
                wall = time.perf_counter() - t0
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log_tail = (var_dir / "app.log").read_text(errors="replace").splitlines()[-5:]
    p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
    print(
        f"{clients} clients x {per_client} requests = {len(latencies)} slot reads of one week "
        f"({week_count} different weeks) in {wall:.2f} s: {len(latencies) / wall:.0f} req/s"
    )
    print(
        f"latency ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {percentile(latencies, 0.99):.1f}  "
        f"max {max(latencies):.1f}  (target p95 < {TARGET_P95_MS:.0f})"
    )
    print(
        f"floor (same load on /healthz, no calendar read): p50 {statistics.median(floor):.1f}  "
        f"p95 {percentile(floor, 0.95):.1f}"
    )
    print(f"errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    if errors:
        print("app log tail:", *log_tail, sep="\n  ")
    return {
        "slots_p50_ms": round(p50, 1),
        "slots_p95_ms": round(p95, 1),
        "requests": len(latencies),
        "errors": len(errors),
        "clients": clients,
        "emulator_latency_ms": latency_ms,
        "requests_per_s": round(len(latencies) / wall, 1),
        "floor_p95_ms": round(percentile(floor, 0.95), 1),
        "target_p95_ms": TARGET_P95_MS,
        "target_met": p95 < TARGET_P95_MS and not errors,
    }


def random_queries(count: int, seed: int) -> list[dict[str, str]]:
    """Slot queries with random windows (1-14 local days) and random zones inside the booking window."""
    rng = random.Random(seed)
    zones = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
    today = datetime.now(UTC).date()
    queries = []
    for _ in range(count):
        first = today + timedelta(days=rng.randrange(0, BOOKING_WINDOW_DAYS))
        last = min(first + timedelta(days=rng.randrange(0, 14)), today + timedelta(days=BOOKING_WINDOW_DAYS - 1))
        queries.append({"start": first.isoformat(), "end": last.isoformat(), "timeZone": rng.choice(zones)})
    return queries


@contextlib.asynccontextmanager
async def in_process_app(
    *, calendar_sync: bool, latency_ms: int = 0, var_dir: Path | None = None
) -> AsyncIterator[tuple[str, web.Application]]:
    """The sandbox app served from this process (its emulator's request log can be read): (base URL, app),
    once the demo link answers and, with calendar sync, the demo host's busy cache is filled."""
    from app import SERVICES, Settings, build_app  # the app itself, here

    with tempfile.TemporaryDirectory(prefix="slotwise-bench-") as tmp:
        port = free_port()
        folder = var_dir or Path(tmp)
        settings = Settings(
            _env_file=None,
            microsoft_app_id="",
            SLOTWISE_HOST="127.0.0.1",
            SLOTWISE_PORT=port,
            SLOTWISE_VAR_DIR=str(folder),
            SLOTWISE_DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'slotwise.db'}",
            SLOTWISE_BOOKING_RATE_LIMIT=1_000_000,
            SLOTWISE_SLOT_READ_RATE_LIMIT=1_000_000,
            SLOTWISE_RECONCILE_SECONDS=3600,
            SLOTWISE_OUTBOX_SECONDS=0,
            SLOTWISE_TRUSTED_PROXIES="",
            SLOTWISE_CALENDAR_SYNC=calendar_sync,
            SLOTWISE_SANDBOX_LATENCY_MS=latency_ms,
        )
        application = build_app(settings)
        runner = web.AppRunner(application, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
                await wait_for_demo(session, base, None)
            if calendar_sync:
                await wait_for_sync(folder / "slotwise.db")
            application[SERVICES].booking.forget_busy()  # nothing kept in process from the start-up probes
            yield base, application
        finally:
            await runner.cleanup()


async def random_reads(base: str, queries: list[dict[str, str]], concurrency: int) -> tuple[list[str], float]:
    """Read the slots of every query, ``concurrency`` at a time: (failures, seconds taken)."""
    failures: list[str] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        t0 = time.perf_counter()

        async def worker(mine: list[dict[str, str]]) -> None:
            for params in mine:
                async with session.get(f"{base}{DEMO_PATH}/slots", params=params) as resp:
                    if resp.status != 200:
                        failures.append(f"{resp.status} {params}")
                    await resp.read()

        await asyncio.gather(*(worker(queries[i::concurrency]) for i in range(concurrency)))
        return failures, time.perf_counter() - t0


def graph_log(application: web.Application) -> list[Any]:
    from app import EMULATOR

    return application[EMULATOR].request_log


async def graph_requests_per_view(reads: int, concurrency: int = 25, seed: int = 2) -> dict[str, object]:
    """Graph requests per slot view with a warm busy cache (calendar sync on), over ``reads`` random views."""
    async with in_process_app(calendar_sync=True) as (base, application):
        log = graph_log(application)
        before = len(log)
        failures, wall = await random_reads(base, random_queries(reads, seed), concurrency)
        requests = [r for r in log[before:] if not r.path.startswith("$batch:")]
    per_view = len(requests) / reads if reads else 0.0
    print(
        f"{reads} slot reads with a warm busy cache, random windows and zones, {concurrency} at a time: "
        f"{len(requests)} Graph request(s) = {per_view:g} per view in {wall:.2f} s "
        f"(target {TARGET_GRAPH_REQUESTS_PER_VIEW:g}); errors: {len(failures)}"
    )
    return {
        "graph_requests_per_view": per_view,
        "warm_cache_reads": reads,
        "warm_cache_errors": len(failures),
        "graph_requests_per_view_target_met": per_view <= TARGET_GRAPH_REQUESTS_PER_VIEW and not failures,
    }


async def graph_requests_random_windows(reads: int, concurrency: int = 25, seed: int = 1) -> dict[str, object]:
    """Calendar sync off (the live read a stale cache falls back to): how many Graph requests ``reads`` random
    slot reads cause from a cold slot-view cache."""
    async with in_process_app(calendar_sync=False) as (base, application):
        log = graph_log(application)
        before = len(log)
        failures, wall = await random_reads(base, random_queries(reads, seed), concurrency)
        log = log[before:]
    graph_requests = sum(1 for r in log if not r.path.startswith("$batch:"))
    schedules = sum(1 for r in log if r.path.endswith("getSchedule"))
    print(
        f"{reads} slot reads, random windows and zones inside the {BOOKING_WINDOW_DAYS}-day window, "
        f"{concurrency} at a time, calendar sync off, cold cache: {graph_requests} Graph request(s) "
        f"({schedules} getSchedule) in {wall:.2f} s (target <= {TARGET_RANDOM_WINDOW_GRAPH_REQUESTS}); "
        f"errors: {len(failures)}" + (f" (first: {failures[0]})" if failures else "")
    )
    return {
        "graph_requests_random_windows": graph_requests,
        "random_window_reads": reads,
        "random_window_errors": len(failures),
        "random_windows_target_met": graph_requests <= TARGET_RANDOM_WINDOW_GRAPH_REQUESTS and not failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="requests per client")
    parser.add_argument("--latency-ms", type=int, default=50, help="emulator latency per Graph request")
    parser.add_argument("--weeks", type=int, default=4, help="how many different weeks the clients rotate over")
    parser.add_argument(
        "--random-reads",
        type=int,
        default=1000,
        help="slot reads with random windows and zones for graph_requests_random_windows",
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.clients, args.requests, args.latency_ms, args.weeks))
    result |= asyncio.run(graph_requests_per_view(args.random_reads))
    result |= asyncio.run(graph_requests_random_windows(args.random_reads))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
