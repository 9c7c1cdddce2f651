"""Fresh, migrated test databases on SQLite and PostgreSQL, for any test package that needs one.

One-off, as an async context manager::

    from tests.storage.fixtures import database

    async with database("postgres") as db:      # or "sqlite"
        ...                                      # db is a storage.db.Database at the head revision

Or as pytest fixtures, re-exported from a conftest.py (this is what tests/storage does)::

    from tests.storage.fixtures import db, db_kind, db_url  # noqa: F401  (fixtures)

``db_kind`` is session-scoped and parametrised (``sqlite`` / ``postgres``, the latter marked
``postgres``), so every test using ``db`` runs on both; ``db_url`` creates and migrates one database
per kind for the session; ``db`` is a :class:`~storage.db.Database` on it with every table emptied
first, disposed after the test.

SQLite databases are files in a temporary folder; PostgreSQL databases are created next to
``$SLOTWISE_TEST_POSTGRES_URL`` (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``) as
``slotwise_t_<random>`` and dropped afterwards. :func:`require_postgres` skips a test when the server
is unreachable, or fails it when ``$CI`` is set (CI must never skip the PostgreSQL half silently).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy import text

from bench.support import (
    PG_URL_ENV,
    Kind,
    asyncpg_dsn,
    postgres_base_url,
)
from bench.support import create_scratch_database as create_test_database
from bench.support import drop_scratch_database as drop_test_database
from storage.db import Database, create_database
from storage.models import Base

__all__ = [
    "KINDS",
    "Kind",
    "clear",
    "create_test_database",
    "database",
    "db",
    "db_kind",
    "db_url",
    "drop_test_database",
    "postgres_base_url",
    "require_postgres",
    "run_sync",
]

KINDS: tuple[Kind, ...] = ("sqlite", "postgres")

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh event loop in a worker thread (safe from sync fixtures,
    whatever event loop pytest-asyncio has set up in the main thread)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _postgres_problem() -> str | None:
    url = postgres_base_url()
    try:
        conn = await asyncpg.connect(asyncpg_dsn(url), timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL at {url.render_as_string(hide_password=True)} is unreachable ({exc!r})"
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()
    return None


@cache
def postgres_problem() -> str | None:
    """Why the PostgreSQL tests cannot run here (None when they can); checked once per session."""
    return run_sync(_postgres_problem())


def require_postgres() -> None:
    """Skip (locally) or fail (when $CI is set) if the test PostgreSQL server is unreachable."""
    problem = postgres_problem()
    if problem is None:
        return
    message = f"{problem}; set {PG_URL_ENV} to a reachable server"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set, so the PostgreSQL tests must run)", pytrace=False)
    pytest.skip(message)


@asynccontextmanager
async def database(kind: Kind, directory: Path | None = None) -> AsyncIterator[Database]:
    """A fresh migrated database of ``kind`` for the duration of the block, dropped afterwards."""
    if kind == "postgres":
        require_postgres()
    url = await create_test_database(kind, directory)
    db = create_database(url, pool_size=5, max_overflow=5)
    try:
        yield db
    finally:
        await db.dispose()
        await drop_test_database(url)


async def clear(db: Database) -> None:
    """Delete every row of every Slotwise table (between tests sharing one database)."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with db.write() as s:
        for table in tables:  # DELETE beats TRUNCATE on tables this small
            await s.execute(text(f"DELETE FROM {table}"))


# ---------------------------------------------------------------------------- pytest fixtures


@pytest.fixture(
    scope="session",
    params=[pytest.param(kind, marks=[pytest.mark.postgres] if kind == "postgres" else []) for kind in KINDS],
)
def db_kind(request: pytest.FixtureRequest) -> Kind:
    kind: Kind = request.param
    if kind == "postgres":
        require_postgres()
    return kind


@pytest.fixture(scope="session")
def db_url(db_kind: Kind, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("sqlite") if db_kind == "sqlite" else None
    url = run_sync(create_test_database(db_kind, directory))
    yield url
    run_sync(drop_test_database(url))


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = create_database(db_url, pool_size=5, max_overflow=5)
    await clear(database)
    try:
        yield database
    finally:
        await database.dispose()
