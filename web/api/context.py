"""What the API handlers share: the core's API use cases, and how to start webhook delivery at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from scheduling.api import ApiService


def _nothing() -> None:
    return None


@dataclass
class ApiContext:
    api: ApiService
    wake: Callable[[], None] = field(default=_nothing)  # a change was written: deliver its webhooks now


API = web.AppKey("slotwise.api", ApiContext)
