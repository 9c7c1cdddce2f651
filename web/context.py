"""What the web handlers share: the booking service, URLs, security helpers and templates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2
from aiohttp import web

from scheduling.booking import BookingService
from scheduling.connect import ConnectionService
from scheduling.ports import Clock
from web.security import Csrf, RateLimiter

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def make_templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "xml"], default=True),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env


@dataclass
class WebContext:
    service: BookingService
    clock: Clock
    base_url: str
    csrf: Csrf
    booking_limiter: RateLimiter
    templates: jinja2.Environment
    connections: ConnectionService | None = None
    secret: bytes = b""

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def booking_url(self, handle: str, slug: str) -> str:
        return self.url(f"/book/{handle}/{slug}")

    def manage_url(self, token: str) -> str:
        return self.url(f"/manage/{token}")


WEB = web.AppKey("slotwise.web", WebContext)
