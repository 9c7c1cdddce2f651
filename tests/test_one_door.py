"""The use cases are the only door to storage (issue 11, §1): the bot and the web pages are handed core
services, never a store, and a service keeps its stores to itself, so an adapter can't reach one through it
(``ctx.service.users`` was how the manage page found a host)."""

from __future__ import annotations

import ast
import inspect
import typing
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app import SERVICES, Settings, build_app
from bot import BOT_RUNTIME
from bot.deps import BotDeps
from scheduling import stores
from scheduling.booking import BookingService
from scheduling.connect import ConnectionService
from scheduling.links import LinkService
from scheduling.notices import NoticeService
from scheduling.people import PeopleService
from scheduling.sync import CalendarSyncService
from web import WEB
from web.context import WebContext

ROOT = Path(__file__).resolve().parent.parent
STORE_TYPES = {
    stores.BookingStore,
    stores.UserStore,
    stores.EventTypeStore,
    stores.OutboxStore,
    stores.TeamStore,
    stores.SubscriptionStore,
    stores.BusyCacheStore,
    stores.SyncWorkQueue,
    stores.OutlookBookingIndex,
}


class _Store:
    """Stands in for a store: only its identity matters here."""


def _stand_in() -> Any:
    """A :class:`_Store`, typed to be passed for any port (the services never call it here)."""
    return _Store()


@pytest.mark.parametrize("handed", [BotDeps, WebContext])
def test_adapters_are_handed_no_store(handed: type) -> None:
    fields = typing.get_type_hints(handed)
    assert not STORE_TYPES & set(fields.values()), fields


def test_services_keep_their_stores_private() -> None:
    bookings, users, event_types, outbox, calendar = _stand_in(), _stand_in(), _stand_in(), _stand_in(), _stand_in()
    clock: Any = object()
    services = [
        BookingService(
            calendar=calendar,
            bookings=bookings,
            users=users,
            event_types=event_types,
            clock=clock,
            token_secret=b"k" * 32,
        ),
        PeopleService(users=users, outbox=outbox),
        NoticeService(outbox=outbox),
        LinkService(event_types=event_types, calendar=calendar),
        ConnectionService(users=users, connector=_stand_in(), calendar=_stand_in(), outbox=outbox),  # ports, not stores
        CalendarSyncService(
            sync=calendar,
            calendar=calendar,
            subscriptions=bookings,
            cache=bookings,
            queue=outbox,
            index=bookings,
            users=users,
            bookings=event_types,
            clock=clock,
        ),
    ]
    held = {id(s) for s in (bookings, users, event_types, outbox, calendar)}
    for service in services:
        public = {name: value for name, value in vars(service).items() if not name.startswith("_")}
        leaks = [name for name, value in public.items() if id(value) in held]
        assert not leaks, f"{type(service).__name__} hands out {leaks}"
        assert any(id(value) in held for value in vars(service).values()), "the check would see nothing"


@pytest.mark.parametrize("package", ["bot", "web"])
def test_adapters_import_no_store(package: str) -> None:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            found += [
                f"{path.relative_to(ROOT)}: {n}"
                for n in names
                if n == "scheduling.stores" or n == "storage" or n.startswith("storage.")
            ]
    assert not found


_PROJECT = ("scheduling", "graph", "bot", "web", "cards", "background", "app")


def _public(obj: object) -> dict[str, object]:
    """An object's public attributes (instance dict and slots), the ones an adapter can reach."""
    names = set(getattr(obj, "__dict__", {}))
    for klass in type(obj).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        names |= {slots} if isinstance(slots, str) else set(slots)
    return {n: getattr(obj, n) for n in sorted(names) if not n.startswith("_") and hasattr(obj, n)}


def _stores_reachable(root: object, path: str) -> tuple[list[str], set[str]]:
    """Every public path from ``root`` to a store (an object of ``storage``), walking through the services and
    other objects of Slotwise's own packages, their containers and bound methods; and the classes walked."""
    leaks: list[str] = []
    walked: set[str] = set()
    seen: set[int] = set()
    todo: list[tuple[object, str]] = [(root, path)]
    while todo:
        obj, where = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        module = type(obj).__module__
        if module == "storage" or module.startswith("storage."):
            leaks.append(f"{where}: {type(obj).__name__}")
        elif isinstance(obj, (list, tuple, set, frozenset)):
            todo += [(item, f"{where}[{n}]") for n, item in enumerate(obj)]
        elif isinstance(obj, dict):
            todo += [(item, f"{where}[{key!r}]") for key, item in obj.items()]
        elif inspect.ismethod(obj):
            todo.append((obj.__self__, f"{where}.__self__"))
        elif module.split(".")[0] in _PROJECT and not isinstance(obj, type):
            walked.add(type(obj).__name__)
            todo += [(value, f"{where}.{name}") for name, value in _public(obj).items()]
    return leaks, walked


async def test_no_store_is_reachable_from_what_the_adapters_are_handed(tmp_path: Path) -> None:
    """The real wiring (app.py, sandbox mode): from ``BotDeps`` and ``WebContext``, through every service and
    its public attributes, no store can be reached (``deps.connections.users`` would undo the one door)."""
    settings = Settings(
        _env_file=None,
        SLOTWISE_VAR_DIR=str(tmp_path),
        SLOTWISE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'slotwise.db'}",
        SLOTWISE_SANDBOX_SEED="false",
        SLOTWISE_PORT=0,
    )
    async with TestClient(TestServer(build_app(settings), host="127.0.0.1", port=0)) as client:
        application = client.app
        handed = {"BotDeps": application[BOT_RUNTIME].bot.deps, "WebContext": application[WEB]}
        for name, root in handed.items():
            leaks, walked = _stores_reachable(root, name)
            assert not leaks, f"stores reachable from {name}: {leaks}"
            assert {"BookingService", "ConnectionService", "TeamLinkService"} <= walked, walked
            if name == "BotDeps":
                assert {"LinkService", "PeopleService", "NoticeService", "ApiKeyService"} <= walked, walked
        assert application[SERVICES].calendar_sync is not None  # calendar sync is on: its service is walked too
        assert "CalendarSyncService" in _stores_reachable(handed["BotDeps"], "BotDeps")[1]
