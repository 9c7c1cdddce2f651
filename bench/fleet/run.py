"""One fleet run, start to finish: bring everything up, set the hosts up, load under chaos, settle, audit, shut
down, and return the figures (see ``bench.fleet``)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from bench.fleet.audit import audit, settle
from bench.fleet.load import FleetClient, Load, Stats, setup
from bench.fleet.postgres import Postgres
from bench.fleet.processes import ROOT, Balancer, Emulator, Replica, free_port, replica_env, wait_ready
from bench.fleet.stand_ins import Connector, Receiver

TARGET_BOOKING_P95_MS = 600.0
TARGET_SLOTS_P95_MS = 150.0


@dataclass
class Options:
    seconds: float = 300.0
    replicas: int = 4
    hosts: int = 6
    workers: int = 16
    kill_every: float = 6.0  # seconds between SIGKILLs (jittered); 0: none
    pg_restart: bool = True  # restart PostgreSQL once, half-way through the load
    rate: float | None = None  # open loop: sessions arriving per second (None: ``workers`` back to back)
    fault_rate: float = 0.3
    latency_ms: int = 50
    seed: int = 1
    settle_seconds: float = 180.0
    keep: bool = False  # keep the work folder (logs) afterwards
    debug: bool = False  # the emulator logs every request (into the work folder)


def say(message: str) -> None:
    print(f"[fleet {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


@dataclass
class Chaos:
    kills: int = 0
    unexpected_exits: list[tuple[int, int]] = field(default_factory=list)  # (replica, exit status)
    pg_restarts: int = 0
    reconnect_seconds: list[float] = field(default_factory=list)
    not_reconnected: list[int] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)  # (epoch seconds, what happened)

    def note(self, what: str) -> None:
        self.events.append((time.time(), what))

    def near(self, at: float, before: float = 1.0, after: float = 15.0) -> list[str]:
        """What the chaos did from ``before`` seconds before ``at`` to ``after`` seconds after it."""
        return [f"{when - at:+.1f}s {what}" for when, what in self.events if at - before <= when <= at + after]


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


class Fleet:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.rng = random.Random(opts.seed)
        self.work = Path(tempfile.mkdtemp(prefix="slotwise-fleet-"))
        self.pg = Postgres(free_port())
        self.emulator = Emulator(self.work, latency_ms=opts.latency_ms, seed=opts.seed, access_log=opts.debug)
        self.connector = Connector()
        self.receiver = Receiver()
        self.replicas: list[Replica] = []
        self.balancer: Balancer | None = None
        self.chaos = Chaos()
        self.runners: list[web.AppRunner] = []
        self.restarting: set[int] = set()
        self.stopping = False

    # ------------------------------------------------------------------ up

    async def up(self, http: httpx.AsyncClient) -> None:
        say(f"work folder {self.work}")
        await asyncio.to_thread(self.pg.init)
        await self.pg.start()
        await asyncio.to_thread(self.pg.create_database)
        migrate = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "storage.migrate", "--url", self.pg.url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"migration failed: {migrate.stderr or migrate.stdout}")
        say(f"PostgreSQL {self.pg.port} up and migrated")
        await self.emulator.start()
        say(f"Graph emulator on {self.emulator.url}")
        for app, target in ((self.connector.app(), self.connector), (self.receiver.app(), self.receiver)):
            runner, url = await _serve(app)
            self.runners.append(runner)
            target.url = url + ("/" if target is self.connector else "")
        balancer_port = free_port()
        public = f"http://127.0.0.1:{balancer_port}"
        secret_key = secrets.token_urlsafe(48)
        for i in range(self.opts.replicas):
            port = free_port()
            var_dir = self.work / f"replica-{i}"
            env = replica_env(
                port=port,
                var_dir=var_dir,
                database_url=self.pg.url,
                public_url=public,
                secret_key=secret_key,
                emulator=self.emulator,
            )
            self.replicas.append(Replica(i, port, var_dir, self.work / f"replica-{i}.log", env))
        for replica in self.replicas:
            replica.start()
        self.balancer = Balancer(self.work, self.replicas, balancer_port)
        self.balancer.start()
        for replica in self.replicas:
            if not await wait_ready(http, replica.url, 120, replica):
                raise RuntimeError(f"replica {replica.index} never became ready:\n{self.log_tail(replica)}")
        if not await wait_ready(http, public, 30):
            raise RuntimeError("the balancer never answered /readyz")
        say(f"{len(self.replicas)} replicas ready behind HAProxy on {public}")

    def log_tail(self, replica: Replica, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(replica.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    # ------------------------------------------------------------------ chaos

    async def supervise(self) -> None:
        """Sample memory; restart a replica that exited on its own (noted: only our kills are expected)."""
        while not self.stopping:
            for replica in self.replicas:
                replica.sample_rss()
                if replica.index in self.restarting:
                    continue
                code = replica.reap()
                if code is not None:
                    self.chaos.unexpected_exits.append((replica.index, code))
                    self.chaos.note(f"replica {replica.index} exited on its own ({code})")
                    say(f"replica {replica.index} exited on its own ({code}); restarting it")
                    await asyncio.sleep(1.0)
                    replica.start()
            await asyncio.sleep(0.5)

    async def killer(self, until: float) -> None:
        if self.opts.kill_every <= 0:
            return
        while True:
            pause = self.opts.kill_every * self.rng.uniform(0.6, 1.4)
            if time.monotonic() + pause >= until:  # no kill left in the load: done when it ends, not a pause later
                await asyncio.sleep(max(0.0, until - time.monotonic()))
                return
            await asyncio.sleep(pause)
            alive = [r for r in self.replicas if r.alive and r.index not in self.restarting]
            if not alive:
                continue
            victim = self.rng.choice(alive)
            self.restarting.add(victim.index)
            try:
                victim.kill()
                self.chaos.kills += 1
                self.chaos.note(f"SIGKILL replica {victim.index}")
                victim.start()
            finally:
                self.restarting.discard(victim.index)

    async def restart_postgres(self, at: float, http: httpx.AsyncClient) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        before = {r.index: r.incarnations for r in self.replicas}
        say("restarting PostgreSQL (stop -m fast, start)")
        self.chaos.note("PostgreSQL stop -m fast")
        await self.pg.restart(1.0)
        self.chaos.note("PostgreSQL started")
        self.chaos.pg_restarts += 1
        started = time.monotonic()
        # every replica that lived through the restart must become ready again on its own
        survivors = [r for r in self.replicas if r.incarnations == before[r.index] and r.alive]

        async def back(replica: Replica) -> None:
            while time.monotonic() - started < 60:
                if replica.incarnations != before[replica.index]:
                    return  # killed meanwhile: not a survivor any more
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{replica.url}/readyz", timeout=3.0)).status_code == 200:
                        self.chaos.reconnect_seconds.append(round(time.monotonic() - started, 2))
                        return
                await asyncio.sleep(0.25)
            self.chaos.not_reconnected.append(replica.index)

        await asyncio.gather(*(back(r) for r in survivors))
        say(f"PostgreSQL back; replicas ready again after {self.chaos.reconnect_seconds} s")

    # ------------------------------------------------------------------ down

    async def down(self) -> list[tuple[int, int | None]]:
        self.stopping = True
        codes = []
        for replica in self.replicas:
            codes.append((replica.index, await asyncio.to_thread(replica.stop)))
        if self.balancer is not None:
            self.balancer.stop()
        await self.emulator.stop()
        for runner in self.runners:
            await runner.cleanup()
        self.pg.destroy()
        return codes

    def log_findings(self) -> dict[str, Any]:
        """What the replicas' JSON logs say: requests answered 500, tracebacks, error lines (first few)."""
        answered_500 = 0
        tracebacks = 0
        errors: Counter[str] = Counter()
        first_exceptions: list[str] = []
        for replica in self.replicas:
            with contextlib.suppress(OSError):
                for line in replica.log_path.read_text(errors="replace").splitlines():
                    if not line.startswith("{"):
                        if line.startswith("Traceback"):
                            tracebacks += 1
                        continue
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    if entry.get("status") == 500:
                        answered_500 += 1
                    if "exc_info" in entry or "traceback" in entry or "exception" in entry:
                        tracebacks += 1
                    if "unhandled" in str(entry.get("message", "")) and len(first_exceptions) < 3:
                        first_exceptions.append(f"{entry.get('message')}\n{entry.get('exception', '')[-2500:]}")
                    if entry.get("level") in ("ERROR", "CRITICAL", "error", "critical"):
                        message = re.sub(r"[0-9a-f]{8,}|\d+", "#", str(entry.get("message", "")))[:160]
                        errors[message] += 1
        return {
            "answered_500": answered_500,
            "tracebacks": tracebacks,
            "errors": errors.most_common(8),
            "unhandled": first_exceptions,
        }


# A chat message can't be taken back and the Bot Connector has no idempotency key: a replica SIGKILLed between
# posting a notice and recording it leaves the item to be sent again when its 60 s lease runs out. Such a repeat is
# reported apart (``repeated_after_kill``), not as an integrity failure, only when it has exactly that signature: one
# copy too many, a SIGKILL within KILL_WINDOW seconds after the first copy (or KILL_SLACK before it: the stand-in
# stamps a post when its handler runs, which can be just after the harness noted the kill), and the next copy no
# sooner than LEASE_REPEAT seconds later. Any other repeat counts in ``*_not_exactly_once``.
KILL_WINDOW = 1.5
KILL_SLACK = 0.5
LEASE_REPEAT = 45.0


def repeated_after_kill_of_its_sender(dup: dict[str, Any], events: list[tuple[float, str]]) -> bool:
    times = sorted(dup["posted_at"])
    if len(times) != dup["expected"] + 1:
        return False
    kills = [at for at, what in events if what.startswith("SIGKILL")]
    return any(
        later - first >= LEASE_REPEAT and any(first - KILL_SLACK <= at <= first + KILL_WINDOW for at in kills)
        for first, later in itertools.pairwise(times)
    )


def summarise(stats: Stats) -> dict[str, Any]:
    """p50/p95 per request kind, and the p95 of each half of the load (calendars fill as a run goes on)."""
    kinds = {}
    middle = (stats.first + stats.last) / 2
    for kind, values in sorted(stats.latencies.items()):
        if kind == "setup":
            continue
        ended = stats.timed_at[kind]
        halves = [[v for v, t in zip(values, ended, strict=True) if (t < middle) is early] for early in (True, False)]
        kinds[kind] = {
            "n": len(values),
            "p50": round(percentile(values, 0.5), 1),
            "p95": round(percentile(values, 0.95), 1),
            "p95_by_half": [round(percentile(half, 0.95), 1) if half else None for half in halves],
        }
    return kinds


async def run(opts: Options) -> dict[str, Any]:
    fleet = Fleet(opts)
    t_start = time.monotonic()
    stats = Stats()
    figures: dict[str, Any] = {}
    async with httpx.AsyncClient() as http:
        try:
            await fleet.up(http)
            assert fleet.balancer is not None
            client = FleetClient(fleet.balancer.url, fleet.connector, stats, connections=opts.workers * 2 + 8)
            supervisor = asyncio.create_task(fleet.supervise())
            try:
                world = await setup(client, fleet.receiver, opts.hosts)
                say(f"{opts.hosts} hosts have links; API key and webhook ready")
                await fleet.emulator.set_faults(http, opts.fault_rate, opts.latency_ms)
                load = Load(client, world, seed=opts.seed)
                until = time.monotonic() + opts.seconds
                chaos = [asyncio.create_task(fleet.killer(until - 2))]
                if opts.pg_restart:
                    chaos.append(asyncio.create_task(fleet.restart_postgres(time.monotonic() + opts.seconds / 2, http)))
                shape = f"{opts.rate:g} sessions/s arriving" if opts.rate else f"{opts.workers} clients back to back"
                kills = f"a kill every ~{opts.kill_every:g} s" if opts.kill_every > 0 else "no kills"
                say(f"load: {shape} for {opts.seconds:g} s, faults {opts.fault_rate:.0%}, {kills}")
                await load.run(opts.workers, opts.seconds, opts.rate)
                await asyncio.gather(*chaos)
                say(
                    f"load done: {stats.requests} requests, {stats.bookings} bookings, {fleet.chaos.kills} kills; "
                    "faults off, settling"
                )
                await fleet.emulator.set_faults(http, 0.0, opts.latency_ms)
                for replica in fleet.replicas:
                    if not await wait_ready(http, replica.url, 90):
                        say(f"replica {replica.index} not ready after the load:\n{fleet.log_tail(replica)}")
                settled = await settle(
                    fleet.pg.dsn, fleet.connector, fleet.receiver, deadline=opts.settle_seconds, quiet=8.0
                )
                say(f"settled={settled.settled} after {settled.seconds:.0f} s ({settled.last})")
                found = await audit(fleet.pg.dsn, fleet.emulator, http, fleet.connector, fleet.receiver, world)
                emulator_stats = (await fleet.emulator.admin(http, "GET", "stats")).json()
                say(f"emulator stats: {json.dumps(emulator_stats)[:1500]}")
            finally:
                fleet.stopping = True
                supervisor.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await supervisor
                await client.aclose()
            exit_codes = await fleet.down()
        except BaseException:
            with contextlib.suppress(Exception):
                await fleet.down()
            say(f"work folder kept: {fleet.work}")
            raise
    logs = fleet.log_findings()
    integrity_counts = dict(found.counts)
    repeated_after_kill = {}
    for section in ("notices", "announcements"):
        dups = found.details.get(section, {}).get("duplicates", [])
        explained = [d for d in dups if repeated_after_kill_of_its_sender(d, fleet.chaos.events)]
        repeated_after_kill[section] = len(explained)
        integrity_counts[f"{section}_not_exactly_once"] -= len(explained)
        found.details[section]["duplicates"] = dups[:10]
    for section in ("notices", "announcements"):  # what the chaos did around each copy but the last
        for dup in found.details.get(section, {}).get("duplicates", []):
            times = sorted(dup["posted_at"])
            dup["posted_at"] = [f"{t - times[0]:+.1f}s" for t in times]
            dup["chaos_just_after"] = {
                f"{t - times[0]:+.1f}s": fleet.chaos.near(t, before=0.5, after=2.0) for t in times[:-1]
            }
    wall = (stats.last - stats.first) or 1.0
    kinds = summarise(stats)
    status_totals: Counter[int] = Counter()
    for counter in stats.statuses.values():
        status_totals.update(counter)
    transport: Counter[str] = Counter()
    for errors in stats.errors.values():
        transport.update(errors)
    integrity = integrity_counts
    integrity["http_500"] = status_totals.get(500, 0)
    integrity["bookings_still_pending"] = int(settled.last.get("pending", 0))
    integrity["replicas_not_reconnected"] = len(fleet.chaos.not_reconnected)
    booking_p95 = kinds.get("book", {}).get("p95", float("nan"))
    slots_p95 = kinds.get("slots", {}).get("p95", float("nan"))
    figures = {
        "seconds": opts.seconds,
        "replicas": opts.replicas,
        "hosts": opts.hosts,
        "clients": opts.workers if not opts.rate else None,
        "arrival_rate_per_s": opts.rate,  # open loop (None: closed loop, ``clients`` back to back)
        "sessions_shed": stats.shed,
        "requests": stats.requests,
        "requests_per_s": round(stats.requests / wall, 1),
        "bookings": stats.bookings,
        "bookings_per_s": round(stats.bookings / wall, 2),
        "reschedules": stats.reschedules,
        "cancels": stats.cancels,
        "latency_ms": kinds,
        "statuses": {k: dict(sorted(v.items())) for k, v in sorted(stats.statuses.items()) if k != "setup"},
        "balancer_answers": {str(k): v for k, v in sorted(stats.balancer.items())},  # 502/503/504 of HAProxy itself
        "transport_errors": dict(transport),  # no HTTP answer at all, by httpx exception
        "integrity": integrity,
        "integrity_ok": not any(integrity.values()),
        "kills": fleet.chaos.kills,
        "repeated_after_kill": repeated_after_kill,
        "replica_exits_unexpected": len(fleet.chaos.unexpected_exits),
        "pg_restarts": fleet.chaos.pg_restarts,
        "pg_reconnect_s": fleet.chaos.reconnect_seconds,
        "graph_fault_rate": opts.fault_rate,
        "graph_latency_ms": opts.latency_ms,
        "faults_injected": _faults(emulator_stats),
        "peak_rss_mb": [round(r.peak_rss, 1) for r in fleet.replicas],
        "settled": settled.settled,
        "settle_s": round(settled.seconds, 1),
        "shutdown_exit_codes": [code for _, code in exit_codes],
        "replica_log": {"answered_500": logs["answered_500"], "tracebacks": logs["tracebacks"]},
        "audit": found.details,
        "target_booking_p95_ms": TARGET_BOOKING_P95_MS,
        "target_slots_p95_ms": TARGET_SLOTS_P95_MS,
        "targets_met": booking_p95 < TARGET_BOOKING_P95_MS and slots_p95 < TARGET_SLOTS_P95_MS,
        "wall_s": round(time.monotonic() - t_start, 1),
    }
    if stats.server_errors:
        say(f"answered 500 ({len(stats.server_errors)}), first: {stats.server_errors[:3]}")
    for key, body in sorted(stats.examples.items()):
        say(f"first {key}: {body}")
    if logs["errors"]:
        say(f"replica log errors (most common): {logs['errors']}")
    for text in logs["unhandled"]:
        say(f"unhandled in a replica: {text}")
    if fleet.connector.unknown:
        say(f"connector calls the stand-in does not know: {dict(fleet.connector.unknown)}")
    if opts.keep:
        fleet.connector.dump(fleet.work / "connector.jsonl")
        with (fleet.work / "chaos.log").open("w") as out:
            out.writelines(
                f"{time.strftime('%H:%M:%S', time.localtime(t))}.{int(t % 1 * 1000):03d} {what}\n"
                for t, what in fleet.chaos.events
            )
        say(f"work folder kept: {fleet.work}")
    else:
        shutil.rmtree(fleet.work, ignore_errors=True)
    return figures


def _faults(stats: Any) -> Any:
    """The emulator's count of injected faults, whatever its stats call it (the whole stats otherwise)."""
    if isinstance(stats, dict):
        for key in ("faultsInjected", "faults_injected", "faults"):
            if key in stats:
                return stats[key]
    return stats
