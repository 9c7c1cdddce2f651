"""The fleet harness's short variant (``python -m bench.fleet --short``, see ``bench.fleet``): four replicas behind
HAProxy on a PostgreSQL of the harness's own, with the Graph emulator as its own process, under SIGKILLs, 30 % Graph
faults and one PostgreSQL restart. Every integrity count must be 0 and no request may be answered 500.

Latencies are not asserted here (other tests share the machine); ``python -m bench.fleet`` reports them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.fleet import postgres
from bench.fleet.processes import ROOT, haproxy_binary
from bench.fleet.run import repeated_after_kill_of_its_sender as set_apart

pytestmark = pytest.mark.slow


def test_the_fleet_keeps_every_invariant_under_kills_faults_and_a_database_restart() -> None:
    if haproxy_binary() is None:
        pytest.skip("haproxy not found (make haproxy installs it)")
    why = postgres.available()
    if why is not None:
        pytest.skip(f"the harness can't run its own PostgreSQL here: {why}")

    done = subprocess.run(
        [sys.executable, "-m", "bench.fleet", "--short"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    log = done.stderr[-6000:]
    assert done.returncode == 0, log
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout[-2000:]  # one JSON line, nothing else
    figures = json.loads(lines[0])

    # the run did what it claims: load that booked, moved and cancelled, kills, faults, a database restart
    assert figures["bookings"] > 0 and figures["reschedules"] > 0 and figures["cancels"] > 0, log
    assert figures["kills"] >= 1 and figures["pg_restarts"] == 1, log
    assert sum(figures["faults_injected"].values()) > 0, figures["faults_injected"]
    assert figures["audit"]["notices"]["expected"] > 0 and figures["audit"]["webhooks"]["expected"] > 0
    assert figures["settled"], (figures["audit"], log)

    problems = {name: n for name, n in figures["integrity"].items() if n}
    audit = figures["audit"]
    said = {k: audit[k] for k in ("notices", "announcements", "webhooks", "bookings_without_one_event") if k in audit}
    assert not problems, f"{problems}\n{json.dumps(said, indent=1)}\n{log[-3000:]}"
    assert figures["statuses"] and all(500 not in map(int, s) for s in figures["statuses"].values())
    assert figures["shutdown_exit_codes"] == [0] * figures["replicas"], figures["shutdown_exit_codes"]


def test_only_a_repeat_with_the_signature_of_a_killed_sender_is_set_apart() -> None:
    """One copy too many, a SIGKILL just after the first copy, the repeat when the lease ran out: set apart. Any
    other repeat stays an integrity failure."""
    kill = [(100.5, "SIGKILL replica 2")]
    assert set_apart({"expected": 1, "posted_at": [100.0, 160.0]}, kill)
    assert set_apart({"expected": 1, "posted_at": [100.0, 160.0]}, [(99.9, "SIGKILL replica 2")])  # noted first
    assert not set_apart({"expected": 1, "posted_at": [100.0, 160.0]}, [(99.0, "SIGKILL replica 2")])
    assert not set_apart({"expected": 1, "posted_at": [100.0, 160.0]}, [(103.0, "SIGKILL replica 2")])
    assert not set_apart({"expected": 1, "posted_at": [100.0, 102.0]}, kill)  # too soon for a lost lease
    assert not set_apart({"expected": 1, "posted_at": [100.0, 160.0, 220.0]}, kill)  # two too many
    assert not set_apart({"expected": 1, "posted_at": [100.0, 160.0]}, [(100.5, "PostgreSQL stop -m fast")])
