"""``python -m bench.fleet [--seconds 300] [--short]``: see ``bench.fleet``."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import replace

from bench.fleet.run import Options, run

# the make-test variant: the same fleet (4 replicas, the balancer, kills, faults, a database restart), less time
SHORT = replace(Options(), seconds=25.0, kill_every=8.0, workers=12, hosts=4, settle_seconds=110.0)
# the latency targets' conditions (issue 15): Graph at 50 ms, replicas killed, a steady load users bring (open loop)
LATENCY = replace(Options(), seconds=120.0, fault_rate=0.0, pg_restart=False, rate=12.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    parser.add_argument("--seconds", type=float, help="load duration (default 300; 25 with --short)")
    parser.add_argument("--short", action="store_true", help="the make-test variant: 25 s of load, fewer kills")
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--hosts", type=int, help="hosts with a link (default 6; 4 with --short)")
    parser.add_argument("--clients", type=int, help="concurrent virtual clients (default 16; 12 with --short)")
    parser.add_argument("--kill-every", type=float, help="seconds between replica kills (default 6; 8 with --short)")
    parser.add_argument("--fault-rate", type=float, default=0.3, help="Graph faults injected during the load")
    parser.add_argument("--latency-ms", type=int, default=50, help="emulated Graph latency")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--calm",
        action="store_true",
        help="a baseline without chaos: no kills, no Graph faults, no database restart (the latency the fleet has "
        "when nothing fails; the integrity counts still apply)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="open loop: sessions arriving per second at random (default: --clients back to back, closed loop)",
    )
    parser.add_argument(
        "--latency",
        action="store_true",
        help="the latency targets' conditions: 50 ms Graph latency, replicas killed, no injected faults, no "
        f"database restart, {LATENCY.rate:g} sessions/s arriving (open loop), {LATENCY.seconds:g} s",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, configs)")
    parser.add_argument("--debug", action="store_true", help="keep the work folder and log every Graph request")
    args = parser.parse_args(argv)
    opts = replace(SHORT) if args.short else replace(LATENCY) if args.latency else Options()
    opts.replicas = args.replicas
    opts.fault_rate = 0.0 if args.latency else args.fault_rate
    opts.latency_ms = args.latency_ms
    opts.seed = args.seed
    if args.calm:
        opts.fault_rate, opts.kill_every, opts.pg_restart = 0.0, 0.0, False
    opts.keep = args.keep or args.debug
    opts.debug = args.debug
    for name, value in (
        ("seconds", args.seconds),
        ("hosts", args.hosts),
        ("workers", args.clients),
        ("kill_every", args.kill_every),
        ("rate", args.rate),
    ):
        if value is not None:
            setattr(opts, name, value)
    print(json.dumps(asyncio.run(run(opts)), separators=(",", ":"), default=str), flush=True)


if __name__ == "__main__":
    main()
