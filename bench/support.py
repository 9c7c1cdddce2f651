"""What the benchmarks (and the tests) need to run Slotwise's real counterparts on this machine: aiohttp
applications served from a background thread (the Graph emulator and its login app, which MSAL calls
synchronously), and scratch databases (a SQLite file, or a fresh PostgreSQL database next to
``$SLOTWISE_TEST_POSTGRES_URL``) migrated to the head revision and dropped afterwards.

The tests import these too (``tests/`` may import ``bench/``; never the other way round).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Literal

import asyncpg
from aiohttp import web
from sqlalchemy.engine import URL, make_url

from storage.db import normalize_url
from storage.migrate import upgrade

Kind = Literal["sqlite", "postgres"]
PG_URL_ENV = "SLOTWISE_TEST_POSTGRES_URL"
DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
_PREFIX = "slotwise_t_"
_OWN_DIRS: set[Path] = set()


class ServerThread:
    """aiohttp applications on 127.0.0.1 (ephemeral ports) in a thread with its own event loop."""

    def __init__(self, *apps: web.Application) -> None:
        self._apps = apps
        self._loop = asyncio.new_event_loop()
        self._runners: list[web.AppRunner] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emulator", daemon=True)
        self.urls: list[str] = []
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        for app in self._apps:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self._runners.append(runner)
            host, port = runner.addresses[0][:2]
            self.urls.append(f"http://{host}:{port}")

    async def _stop(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()

    def start(self) -> list[str]:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self.urls

    def stop(self) -> None:
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def postgres_base_url() -> URL:
    return normalize_url(os.environ.get(PG_URL_ENV) or DEFAULT_PG_URL)


def asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def create_scratch_database(kind: Kind, directory: Path | None = None, *, migrate: bool = True) -> str:
    """Create an empty database of ``kind``, migrate it to head (unless ``migrate`` is false), and
    return its URL."""
    if kind == "sqlite":
        if directory is None:
            directory = Path(tempfile.mkdtemp(prefix="slotwise-test-"))
            _OWN_DIRS.add(directory)
        url = f"sqlite+aiosqlite:///{directory / f'slotwise-{secrets.token_hex(4)}.db'}"
    else:
        base = postgres_base_url()
        name = _PREFIX + secrets.token_hex(6)
        conn = await asyncpg.connect(asyncpg_dsn(base), timeout=10)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
            # Test data need not survive a server crash: skip the commit fsync (no effect on locking).
            await conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        finally:
            await conn.close()
        url = base.set(database=name).render_as_string(hide_password=False)
    if migrate:
        await upgrade(url)
    return url


def _remove_sqlite_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    if path.parent in _OWN_DIRS:
        _OWN_DIRS.discard(path.parent)
        shutil.rmtree(path.parent, ignore_errors=True)


async def drop_scratch_database(url: str) -> None:
    """Remove a database made by :func:`create_scratch_database` (its SQLite file, or the PG database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        await asyncio.to_thread(_remove_sqlite_files, Path(parsed.database or ""))
        return
    name = parsed.database or ""
    if not name.startswith(_PREFIX):
        raise ValueError(f"Refusing to drop {name!r}: not a test database")
    conn = await asyncpg.connect(asyncpg_dsn(postgres_base_url()), timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
