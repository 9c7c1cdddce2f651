"""Slotwise composition root: read settings once, build storage, Graph, core services, bot and web,
and run aiohttp. The only module that knows every adapter.

Sandbox mode (the default when no Azure bot settings are present) runs everything on one laptop:
SQLite, bot authentication off, and the Microsoft Graph emulator mounted under /sandbox/graph.
"""

from __future__ import annotations

import logging
import sys

from aiohttp import web
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger("slotwise")


class Settings(BaseSettings):
    """Every option, read once from the environment (and an optional .env file).

    Bot credentials use the Bot Framework names; everything else is ``SLOTWISE_*``.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    microsoft_app_id: str = Field("", validation_alias=AliasChoices("MicrosoftAppId", "MICROSOFT_APP_ID"))
    microsoft_app_password: str = Field(
        "", validation_alias=AliasChoices("MicrosoftAppPassword", "MICROSOFT_APP_PASSWORD")
    )
    microsoft_app_tenant_id: str = Field(
        "", validation_alias=AliasChoices("MicrosoftAppTenantId", "MICROSOFT_APP_TENANT_ID")
    )
    microsoft_app_type: str = Field(
        "MultiTenant", validation_alias=AliasChoices("MicrosoftAppType", "MICROSOFT_APP_TYPE")
    )
    host: str = Field("127.0.0.1", validation_alias="SLOTWISE_HOST")
    port: int = Field(3978, validation_alias="SLOTWISE_PORT")
    database_url: str = Field("sqlite+aiosqlite:///var/slotwise.db", validation_alias="SLOTWISE_DATABASE_URL")
    public_base_url: str = Field("http://127.0.0.1:3978", validation_alias="SLOTWISE_PUBLIC_BASE_URL")
    graph_base_url: str = Field("", validation_alias="SLOTWISE_GRAPH_BASE_URL")
    secret_key: str = Field("", validation_alias="SLOTWISE_SECRET_KEY")

    @property
    def sandbox(self) -> bool:
        """No bot app id means sandbox mode: local emulator, no bot authentication."""
        return not self.microsoft_app_id


SETTINGS = web.AppKey("settings", Settings)


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def build_app(settings: Settings) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app.router.add_get("/healthz", healthz)
    return app


def guide(settings: Settings) -> str:
    mode = "sandbox mode (no Microsoft 365 tenant needed)" if settings.sandbox else "production mode"
    return "\n".join([
        f"Slotwise is running in {mode} on http://{settings.host}:{settings.port}",
        f"  health check:  http://{settings.host}:{settings.port}/healthz",
    ])


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    app = build_app(settings)
    print(guide(settings), file=sys.stderr, flush=True)
    web.run_app(app, host=settings.host, port=settings.port, print=None)


if __name__ == "__main__":
    main()
