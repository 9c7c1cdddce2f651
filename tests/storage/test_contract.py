"""The repositories implement the core's ports exactly (same methods, parameter names, kinds, defaults),
and ``storage/`` keeps to the dependency rule (never imports graph, bot, cards or web)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from scheduling import ports, stores
from storage.bookings import SqlBookingStore
from storage.event_types import SqlEventTypeStore
from storage.outbox import SqlOutboxStore
from storage.teams import SqlTeamStore
from storage.tokens import SqlTokenCacheStore
from storage.users import SqlUserStore

PAIRS = [
    (stores.BookingStore, SqlBookingStore),
    (stores.UserStore, SqlUserStore),
    (stores.EventTypeStore, SqlEventTypeStore),
    (stores.TeamStore, SqlTeamStore),
    (stores.OutboxStore, SqlOutboxStore),
    (ports.TokenCacheStore, SqlTokenCacheStore),
]


def _port_methods(port: type) -> list[str]:
    return [name for name, value in vars(port).items() if inspect.iscoroutinefunction(value)]


@pytest.mark.parametrize(("port", "impl"), PAIRS, ids=[p.__name__ for p, _ in PAIRS])
def test_every_port_method_is_implemented_with_the_same_signature(port: type, impl: type) -> None:
    methods = _port_methods(port)
    assert methods
    for name in methods:
        implementation = getattr(impl, name, None)
        assert implementation is not None and inspect.iscoroutinefunction(implementation), f"{impl.__name__}.{name}"
        wanted = list(inspect.signature(getattr(port, name)).parameters.values())
        got = list(inspect.signature(implementation).parameters.values())
        shape = [(p.name, p.kind, p.default) for p in wanted]
        # an implementation may add optional keyword-only parameters at the end, nothing else
        extra = got[len(wanted) :]
        assert [(p.name, p.kind, p.default) for p in got[: len(wanted)]] == shape, f"{impl.__name__}.{name}"
        assert all(
            p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty for p in extra
        ), f"{impl.__name__}.{name}"


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
