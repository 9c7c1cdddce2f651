"""Booking-page slot reads under load: ``python -m bench.web``.

Starts the sandbox app in its own process (``python -m app``: a temporary var dir and SQLite database,
a free port, the Graph emulator with 50 ms added latency per request, the booking rate limit lifted),
waits until the demo link /book/adele/intro-call answers, then runs 50 concurrent clients that each
read one week of slots from the JSON endpoint ``/book/adele/intro-call/slots`` a fixed number of
times (a bounded loop; the weeks rotate over the next four so not every request asks the same thing).

Prints figures and ends with one JSON line: slots_p50_ms, slots_p95_ms, requests, errors
(target: p95 under 150 ms, 0 errors).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import aiohttp

DEMO_PATH = "/book/adele/intro-call"
TARGET_P95_MS = 150.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_app(var_dir: Path, port: int, latency_ms: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLOTWISE_", "Microsoft", "MICROSOFT_"))}
    env.update({
        "SLOTWISE_PORT": str(port), "SLOTWISE_HOST": "127.0.0.1", "SLOTWISE_VAR_DIR": str(var_dir),
        "SLOTWISE_DATABASE_URL": f"sqlite+aiosqlite:///{var_dir / 'slotwise.db'}",
        "SLOTWISE_SANDBOX_LATENCY_MS": str(latency_ms), "SLOTWISE_BOOKING_RATE_LIMIT": "1000000",
    })
    # cwd is the temp dir so that a developer's .env in the repository is not read
    return subprocess.Popen([sys.executable, "-m", "app"], cwd=var_dir, env=env,
                            stdout=subprocess.DEVNULL, stderr=log)


async def wait_for_demo(session: aiohttp.ClientSession, base: str, proc: subprocess.Popen[bytes],
                        seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited with {proc.returncode} before the demo link came up")
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(base + DEMO_PATH) as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.1)
    raise SystemExit("the demo link did not come up in time")


def weeks(count: int) -> list[tuple[str, str]]:
    today = datetime.now(UTC).date()
    return [((today + timedelta(days=7 * i)).isoformat(), (today + timedelta(days=7 * i + 6)).isoformat())
            for i in range(count)]


async def client(session: aiohttp.ClientSession, base: str, index: int, requests: int,
                 windows: list[tuple[str, str]], latencies: list[float], errors: list[str],
                 path: str | None = None) -> None:
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
                print(f"app up and demo ready in {time.perf_counter() - started:.1f} s (port {port}, "
                      f"emulator latency {latency_ms} ms)")
                windows = weeks(week_count)
                warm: list[float] = []
                await client(session, base, 0, len(windows), windows, warm, [])  # warm-up: first reads, caches
                # the floor of this machine and harness: the same load on the health check
                floor: list[float] = []
                await asyncio.gather(*(client(session, base, i, per_client, windows, floor, [], "/healthz")
                                       for i in range(clients)))
                latencies: list[float] = []
                errors: list[str] = []
                t0 = time.perf_counter()
                await asyncio.gather(*(client(session, base, i, per_client, windows, latencies, errors)
                                       for i in range(clients)))
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
    print(f"{clients} clients x {per_client} requests = {len(latencies)} slot reads of one week "
          f"({week_count} different weeks) in {wall:.2f} s: {len(latencies) / wall:.0f} req/s")
    print(f"latency ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {percentile(latencies, 0.99):.1f}  "
          f"max {max(latencies):.1f}  (target p95 < {TARGET_P95_MS:.0f})")
    print(f"floor (same load on /healthz, no calendar read): p50 {statistics.median(floor):.1f}  "
          f"p95 {percentile(floor, 0.95):.1f}")
    print(f"errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    if errors:
        print("app log tail:", *log_tail, sep="\n  ")
    return {"slots_p50_ms": round(p50, 1), "slots_p95_ms": round(p95, 1), "requests": len(latencies),
            "errors": len(errors), "clients": clients, "emulator_latency_ms": latency_ms,
            "requests_per_s": round(len(latencies) / wall, 1), "floor_p95_ms": round(percentile(floor, 0.95), 1),
            "target_p95_ms": TARGET_P95_MS,
            "target_met": p95 < TARGET_P95_MS and not errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="requests per client")
    parser.add_argument("--latency-ms", type=int, default=50, help="emulator latency per Graph request")
    parser.add_argument("--weeks", type=int, default=4, help="how many different weeks the clients rotate over")
    args = parser.parse_args()
    result = asyncio.run(run(args.clients, args.requests, args.latency_ms, args.weeks))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
