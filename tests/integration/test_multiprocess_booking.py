"""Simultaneous bookers in separate OS processes (each its own engine, Graph client and loop), against
one database and one Graph emulator: exactly one booking wins per interval, nothing is half-written."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bench.booking import NOW, audit, run_contention, setup_world
from bench.support import ServerThread
from graph.sandbox import EmulatorState, create_graph_app
from tests.storage.fixtures import create_test_database, drop_test_database, require_postgres


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_processes_racing_for_overlapping_slots_of_different_lengths(kind: str) -> None:
    if kind == "postgres":
        require_postgres()
    state = EmulatorState()
    server = ServerThread(create_graph_app(state))
    [graph_url] = server.start()
    db_url = asyncio.run(create_test_database(kind))  # type: ignore[arg-type]
    try:
        asyncio.run(setup_world(db_url, state, (30, 60)))
        ten = NOW.replace(hour=10) + timedelta(days=1)
        # 10:00-11:00, 10:30-11:00, 10:00-10:30 and 10:30-11:30 all overlap pairwise in some way;
        # 13:00-13:30 stands alone.
        plan = [
            (ten, 60),
            (ten + timedelta(minutes=30), 30),
            (ten, 30),
            (ten + timedelta(minutes=30), 60),
            (ten + timedelta(hours=3), 30),
        ]
        figures = run_contention(db_url, f"{graph_url}/v1.0", state, processes=4, attempts=20, plan_slots=plan)
        assert figures["errors"] == []
        assert figures["double_bookings"] == 0 and figures["orphans"] == 0
        assert figures["successes"] == figures["confirmed_in_db"]
        assert figures["successes"] + figures["unavailable"] == 20
        # 10:00-11:30 can hold at most 3 non-overlapping bookings of these shapes, at least 1; 13:00 exactly 1.
        assert 2 <= figures["successes"] <= 4
        confirmed, overlaps, orphans = asyncio.run(audit(db_url, state))
        assert (overlaps, orphans) == (0, 0) and confirmed == figures["successes"]
    finally:
        server.stop()
        asyncio.run(drop_test_database(db_url))
