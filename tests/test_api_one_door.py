"""The REST API's services keep their stores to themselves, like the others (tests/test_one_door.py): the API
adapter is handed ``ApiService`` and can't reach a store through it."""

from __future__ import annotations

import typing

from scheduling import stores
from scheduling.api import ApiService
from scheduling.api_keys import ApiKeyService
from scheduling.ratelimit import RateLimit, RateLimitService
from scheduling.webhooks import WebhookService
from web.api.context import ApiContext


class _Store:
    """Stands in for a store: only its identity matters here."""


def test_api_services_keep_their_stores_private() -> None:
    keys_store, users, counters, hooks, event_types, expiries, queries = (_Store() for _ in range(7))
    clock = object()
    keys = ApiKeyService(keys=keys_store, users=users, clock=clock)  # type: ignore[arg-type]
    limits = RateLimitService(store=counters, clock=clock)  # type: ignore[arg-type]
    webhooks = WebhookService(
        store=hooks,  # type: ignore[arg-type]
        event_types=event_types,  # type: ignore[arg-type]
        users=users,  # type: ignore[arg-type]
        expiries=expiries,  # type: ignore[arg-type]
        sender=object(),  # type: ignore[arg-type]
        clock=clock,  # type: ignore[arg-type]
        base_url="https://x",
    )
    api = ApiService(
        keys=keys,
        limits=limits,
        rate=RateLimit("api", 10),
        links=object(),  # type: ignore[arg-type]
        booking=object(),  # type: ignore[arg-type]
        webhooks=webhooks,
        queries=queries,  # type: ignore[arg-type]
        expiries=expiries,  # type: ignore[arg-type]
        event_types=event_types,  # type: ignore[arg-type]
        clock=clock,  # type: ignore[arg-type]
        base_url="https://x",
    )
    held = {id(s) for s in (keys_store, users, counters, hooks, event_types, expiries, queries)}
    for service in (keys, limits, webhooks, api):
        public = {name: value for name, value in vars(service).items() if not name.startswith("_")}
        leaks = [name for name, value in public.items() if id(value) in held]
        assert not leaks, f"{type(service).__name__} hands out {leaks}"
        assert any(id(value) in held for value in vars(service).values()), "the check would see nothing"


def test_the_api_adapter_is_handed_no_store() -> None:
    store_types = {getattr(stores, name) for name in dir(stores) if name.endswith(("Store", "Queries", "Queue"))}
    assert stores.WebhookStore in store_types and stores.CounterStore in store_types
    assert not store_types & set(typing.get_type_hints(ApiContext).values())
