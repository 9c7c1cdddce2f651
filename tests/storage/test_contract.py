"""The repositories implement the core's ports exactly (same methods, parameter names, kinds, defaults),
and ``storage/`` keeps to the dependency rule (never imports graph, bot, cards or web)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from scheduling import ports, stores
from storage.bookings import SqlBookingStore
from storage.event_types import SqlEventTypeStore
from storage.leases import SqlJobLease
from storage.outbox import SqlOutboxStore
from storage.sync import SqlCalendarSyncStore
from storage.teams import SqlTeamStore
from storage.tokens import SqlTokenCacheStore
from storage.users import SqlUserStore
from tests.ports import assert_implements

PAIRS = [
    (stores.BookingStore, SqlBookingStore),
    (stores.UserStore, SqlUserStore),
    (stores.EventTypeStore, SqlEventTypeStore),
    (stores.TeamStore, SqlTeamStore),
    (stores.OutboxStore, SqlOutboxStore),
    (ports.TokenCacheStore, SqlTokenCacheStore),
    (stores.JobLease, SqlJobLease),
    (stores.SubscriptionStore, SqlCalendarSyncStore),
    (stores.BusyCacheStore, SqlCalendarSyncStore),
    (stores.SyncWorkQueue, SqlCalendarSyncStore),
    (stores.OutlookBookingIndex, SqlCalendarSyncStore),
]


@pytest.mark.parametrize(("port", "impl"), PAIRS, ids=[p.__name__ for p, _ in PAIRS])
def test_every_port_method_is_implemented_with_the_same_signature(port: type, impl: type) -> None:
    assert_implements(port, impl)


def test_storage_never_imports_the_other_adapters() -> None:
    root = Path(__file__).resolve().parents[2] / "storage"
    forbidden = ("graph", "bot", "cards", "web")
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.relative_to(root.parent)} imports {name}"
