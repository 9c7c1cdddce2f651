"""The :class:`Database` handle: one async engine and its sessions, configured per dialect.

SQLite (``sqlite+aiosqlite:///path``) runs in WAL mode with foreign keys on and a 30 s busy timeout.
SQLAlchemy, not the sqlite3 driver, emits BEGIN (the driver's legacy transaction control is switched
off): every write transaction starts with ``BEGIN IMMEDIATE``, which takes SQLite's single write lock
up front, so a check-then-insert (overlap check, then reservation) is one serialized transaction even
across processes; read-only sessions use a plain deferred ``BEGIN`` so readers never wait for writers.

PostgreSQL (``postgresql+asyncpg://...``) runs at READ COMMITTED with a sized, pre-pinged pool; the
repositories take row locks where a check must be serialized and the schema holds the constraints
(unique keys, the reservation exclusion constraint) that make the invariants hold even without them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import Executable

from storage.errors import StorageUnavailable

DEFAULT_URL = "sqlite+aiosqlite:///var/slotwise.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_WAL_ATTEMPTS = 50

# Execution option read by the SQLite "begin" hook: which BEGIN to emit.
_SQLITE_BEGIN = "slotwise_sqlite_begin"

Dialect = Literal["sqlite", "postgresql"]

# The database is down, locked past the busy timeout, or dropped the connection: not the caller's fault.
_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout, ConnectionError, OSError)
# SQLSTATEs of a server going away or not there yet: class 08 (connection exception), and 57P01-57P03
# (admin_shutdown, crash_shutdown, cannot_connect_now: "the database system is shutting down / starting up").
_GONE_STATES = frozenset({"57P01", "57P02", "57P03"})
# asyncpg's own names for a connection that broke under a statement (no SQLSTATE: they happen client-side):
# "connection was closed in the middle of operation", and the protocol state it leaves behind ("cannot switch to
# state ...; another operation is in progress"), both seen when PostgreSQL restarts under load.
_GONE_CLIENT_ERRORS = frozenset({"ConnectionDoesNotExistError", "InternalClientError"})


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database can't be used right now (a 503 and a retry later), as opposed to a
    statement the database refused (a bug, or a constraint the caller maps itself)."""
    if isinstance(exc, _UNAVAILABLE):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    original = exc.orig
    state = str(getattr(original, "sqlstate", None) or "")
    if state.startswith("08") or state in _GONE_STATES:
        return True
    causes = {type(original).__name__, type(getattr(original, "__cause__", None)).__name__}
    return bool(causes & _GONE_CLIENT_ERRORS)


def normalize_url(url: str | URL) -> URL:
    """Parse ``url`` and pick the async driver for the two supported databases.

    ``sqlite:///x.db`` becomes ``sqlite+aiosqlite:///x.db``, ``postgresql://`` and ``postgres://``
    become ``postgresql+asyncpg://``. Anything else raises ValueError naming the URL's scheme.
    """
    parsed = make_url(url) if isinstance(url, str) else url
    backend = parsed.get_backend_name()
    if backend == "postgres":
        parsed = parsed.set(drivername="postgresql")
        backend = "postgresql"
    if backend == "sqlite":
        if parsed.get_driver_name() != "aiosqlite":
            parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql":
        if parsed.get_driver_name() != "asyncpg":
            parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ValueError(
            f"Unsupported database URL scheme {parsed.drivername!r}: use sqlite+aiosqlite:///path "
            "or postgresql+asyncpg://user@host/db."
        )
    return parsed


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:")


def _ensure_sqlite_folder(url: URL) -> None:
    if _is_memory(url) or (url.database or "").startswith("file:"):
        return
    Path(url.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)


def _enable_wal(cursor: Any) -> None:
    """Switch the database file to WAL (persistent; a no-op once done).

    Converting a brand-new file needs an exclusive lock, and SQLite answers "database is locked" at once
    (without the busy handler) when several connections race to convert it, so retry briefly. This only
    ever happens while a new database file is first opened by several connections at the same time.
    """
    for attempt in range(_WAL_ATTEMPTS):
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            mode = str(cursor.fetchone()[0]).lower()
        except Exception as exc:
            if "locked" not in str(exc) or attempt == _WAL_ATTEMPTS - 1:
                raise
            mode = "locked"
        if mode in ("wal", "memory"):
            return
        time.sleep(0.02 * (attempt + 1))
    raise RuntimeError(f"Could not switch the SQLite database to WAL mode (it stays in {mode!r} mode)")


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    """WAL, foreign keys and busy timeout on every new connection; our own BEGIN on every transaction."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 driver: SQLAlchemy emits BEGIN (below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            _enable_wal(cursor)
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(_SQLITE_BEGIN, "IMMEDIATE")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


def create_engine_for(
    url: str | URL, *, pool_size: int = 10, max_overflow: int = 10, echo: bool = False
) -> AsyncEngine:
    """An AsyncEngine for ``url`` with the Slotwise settings of its dialect (see the module docstring)."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        _ensure_sqlite_folder(parsed)
        kwargs: dict[str, Any] = {"echo": echo}
        if _is_memory(parsed):
            kwargs["poolclass"] = StaticPool
        engine = create_async_engine(parsed, **kwargs)
        _install_sqlite_hooks(engine)
        return engine
    return create_async_engine(
        parsed,
        echo=echo,
        isolation_level="READ COMMITTED",  # what the locking in storage.bookings is written for
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_timeout=30,
    )


class Database:
    """An engine plus its session factories. Repositories take one and open short transactions.

    ``write()`` opens a read-write transaction (``BEGIN IMMEDIATE`` on SQLite), ``read()`` a read-only
    one; both commit on success and roll back on error.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.url = engine.url
        name = engine.dialect.name
        if name not in ("sqlite", "postgresql"):
            raise ValueError(f"Unsupported dialect {name!r}")
        self.dialect: Dialect = "sqlite" if name == "sqlite" else "postgresql"
        self._writer = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        # Reads see one snapshot: a deferred BEGIN in WAL mode on SQLite, a read-only REPEATABLE READ
        # transaction on PostgreSQL (read-only snapshots never fail to serialize).
        read_engine = (
            engine.execution_options(**{_SQLITE_BEGIN: "DEFERRED"})
            if self.is_sqlite
            else engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        )
        self._reader = async_sessionmaker(read_engine, expire_on_commit=False, autoflush=False)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session inside a write transaction, committed when the block ends without error."""
        try:
            async with self._writer() as session, session.begin():
                yield session
        except Exception as exc:
            if unavailable(exc):
                raise StorageUnavailable() from exc
            raise

    async def one_statement(self, statement: Executable) -> Any:
        """Run one statement that needs no transaction around it (a single upsert is atomic by itself) and return
        its first column of its first row (None for no row): on PostgreSQL in autocommit, one round trip instead of
        BEGIN, the statement and COMMIT; on SQLite inside :meth:`write` (its write lock is the transaction)."""
        if self.is_sqlite:
            async with self.write() as s:
                return (await s.execute(statement)).scalar()
        try:
            async with self.engine.connect() as connection:
                auto = await connection.execution_options(isolation_level="AUTOCOMMIT")
                return (await auto.execute(statement)).scalar()
        except Exception as exc:
            if unavailable(exc):
                raise StorageUnavailable() from exc
            raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session inside a read-only transaction (a consistent snapshot on both databases)."""
        try:
            async with self._reader() as session, session.begin():
                yield session
        except Exception as exc:
            if unavailable(exc):
                raise StorageUnavailable() from exc
            raise

    async def dispose(self) -> None:
        """Close every pooled connection. Call once when the app (or test) is done with the database."""
        await self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"


def create_database(
    url: str | URL = DEFAULT_URL, *, pool_size: int = 10, max_overflow: int = 10, echo: bool = False
) -> Database:
    """Build a :class:`Database` for ``url`` (no connection is opened until first use).

    The schema is not created here: run :func:`storage.migrate.upgrade` first (the app does on start).
    """
    return Database(create_engine_for(url, pool_size=pool_size, max_overflow=max_overflow, echo=echo))
