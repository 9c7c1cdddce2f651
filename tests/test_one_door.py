"""The use cases are the only door to storage (issue 11, §1): the bot and the web pages are handed core
services, never a store, and a service keeps its stores to itself, so an adapter can't reach one through it
(``ctx.service.users`` was how the manage page found a host)."""

from __future__ import annotations

import ast
import typing
from pathlib import Path
from typing import Any

import pytest

from bot.deps import BotDeps
from scheduling import stores
from scheduling.booking import BookingService
from scheduling.notices import NoticeService
from scheduling.people import PeopleService
from scheduling.sync import CalendarSyncService
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
