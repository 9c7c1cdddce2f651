"""Bring a database's schema up to date: ``await upgrade(url)`` from the app, or from a shell::

    python -m storage.migrate [--url URL]      # URL defaults to $SLOTWISE_DATABASE_URL, then the SQLite file

Alembic is configured in code (``script_location`` points into this package), so no alembic.ini is
needed. The whole upgrade runs in one transaction that first takes a migration lock (``BEGIN IMMEDIATE``
on SQLite, a transaction-scoped advisory lock on PostgreSQL), so replicas starting together migrate
once and the others find the schema current. Running it again is a no-op.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError

from storage.db import DEFAULT_URL, create_engine_for, unavailable

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# pg_advisory_xact_lock key shared by every Slotwise replica ("slotwise" in ASCII, fits in a bigint).
log = logging.getLogger("slotwise.storage")
_PG_MIGRATION_LOCK = 0x736C6F7477697365


def database_url(url: str | None = None) -> str:
    """``url``, else $SLOTWISE_DATABASE_URL, else the default SQLite file."""
    return url or os.environ.get("SLOTWISE_DATABASE_URL") or DEFAULT_URL


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("No migrations found in " + str(MIGRATIONS))
    return head


def _upgrade(connection: Connection, config: Config, revision: str) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(url: str | URL | None = None, revision: str = "head") -> str | None:
    """Apply every pending migration up to ``revision``; returns the revision the database is at."""
    engine = create_engine_for(database_url(url) if not isinstance(url, URL) else url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            await connection.run_sync(_upgrade, alembic_config(), revision)
        async with engine.connect() as connection:
            return await connection.run_sync(_current)
    finally:
        await engine.dispose()


async def upgrade_when_reachable(
    url: str | URL | None = None,
    *,
    wait_seconds: float = 60.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> str | None:
    """:func:`upgrade`, waiting up to ``wait_seconds`` for a database that is down or still starting (a replica
    started during a PostgreSQL restart comes up when it is back, instead of exiting). A database that answers
    and refuses (wrong credentials, a failing migration) is not waited for."""
    pause, waited = 0.25, 0.0
    while True:
        try:
            return await upgrade(url)
        except Exception as exc:
            if not unavailable(exc) or waited + pause > wait_seconds:
                raise
            log.warning("the database is not reachable yet (%s); trying again in %.2g s", type(exc).__name__, pause)
        await sleep(pause)
        waited, pause = waited + pause, min(pause * 2, 5.0)


async def current_revision(url: str | URL | None = None) -> str | None:
    """The revision the database is at (None for an empty database)."""
    engine = create_engine_for(database_url(url) if not isinstance(url, URL) else url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current)
    finally:
        await engine.dispose()


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m storage.migrate", description="Bring the Slotwise database schema up to date."
    )
    parser.add_argument("--url", help=f"database URL (default: $SLOTWISE_DATABASE_URL, else {DEFAULT_URL})")
    args = parser.parse_args(argv)
    url = database_url(args.url)
    try:
        revision = asyncio.run(upgrade(url))
    except Exception as exc:
        print(f"Migration of {_shown(url)} failed: {exc}", file=sys.stderr)
        return 1
    print(f"Database is at revision {revision} (head {head_revision()}).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
