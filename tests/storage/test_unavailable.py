"""A database that goes away under a statement is StorageUnavailable (503, retried), never an unhandled error (a
500): on a real PostgreSQL, the server ends the session's connection as a restart does (pg_terminate_backend sends
the same 57P01 admin_shutdown as a fast shutdown), and the next transaction reconnects on its own."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

from bench.support import asyncpg_dsn
from storage.db import unavailable
from storage.errors import StorageUnavailable
from storage.migrate import upgrade_when_reachable
from tests.storage.fixtures import create_test_database, database, drop_test_database

pytestmark = pytest.mark.postgres


async def test_a_connection_ended_by_the_server_is_unavailable_and_the_next_transaction_reconnects() -> None:
    async with database("postgres") as db:
        for kind in ("read", "write"):
            with pytest.raises(StorageUnavailable):
                async with db.read() if kind == "read" else db.write() as s:
                    pid = await s.scalar(text("select pg_backend_pid()"))
                    killer = await asyncpg.connect(asyncpg_dsn(db.url))
                    try:
                        assert await killer.fetchval("select pg_terminate_backend($1)", pid)
                    finally:
                        await killer.close()
                    await s.execute(text("select 1"))
            async with db.write() as s:  # the pool hands out a live connection again
                assert await s.scalar(text("select 1")) == 1


def test_a_refused_statement_is_not_mistaken_for_an_outage() -> None:
    class Refused(Exception):
        sqlstate = "23505"

    assert not unavailable(IntegrityError("insert", {}, Refused()))
    assert not unavailable(DBAPIError("select", {}, Refused()))
    assert not unavailable(ValueError("a bug"))

    class ShuttingDown(Exception):
        sqlstate = "57P03"

    assert unavailable(DBAPIError("select", {}, ShuttingDown()))


def test_what_asyncpg_raises_while_postgresql_restarts_is_unavailable() -> None:
    """Seen by the fleet harness (bench.fleet) restarting its PostgreSQL under load, each once a 500: the server
    starting up or shutting down (57P03), a connection closed in the middle of an operation, and the protocol
    state that leaves behind. tests/fleet restarts a real server; these are the shapes it produced."""

    class Adapted(Exception):  # SQLAlchemy's asyncpg adapter: the driver's error is the cause
        sqlstate = None

    for cause in (
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.InternalClientError("cannot switch to state 11; another operation (2) is in progress"),
    ):
        adapted = Adapted(str(cause))
        adapted.__cause__ = cause
        assert unavailable(DBAPIError("select", {}, adapted)), cause


async def test_a_replica_started_while_postgresql_is_down_migrates_once_it_is_back() -> None:
    """The database's port refuses connections for a while (PostgreSQL restarting), then a real server answers
    there: the migration at start waits for it instead of the replica exiting (bench.fleet saw the exit)."""
    url = make_url(await create_test_database("postgres", migrate=False))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    behind = (url.host or "127.0.0.1", url.port or 5432)

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*behind)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    waits: list[float] = []
    server: asyncio.Server | None = None

    async def sleep(seconds: float) -> None:
        nonlocal server
        waits.append(seconds)
        if len(waits) == 3 and server is None:  # the server comes back after a few refused attempts
            server = await asyncio.start_server(forward, "127.0.0.1", port)
        await asyncio.sleep(0)

    try:
        revision = await upgrade_when_reachable(url.set(host="127.0.0.1", port=port), wait_seconds=30, sleep=sleep)
        assert revision is not None and len(waits) >= 3
    finally:
        if server is not None:
            server.close()
        await drop_test_database(url.render_as_string(hide_password=False))


async def test_a_database_that_answers_and_refuses_is_not_waited_for() -> None:
    url = make_url(await create_test_database("postgres", migrate=False))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    try:
        with pytest.raises(DBAPIError):
            await upgrade_when_reachable(url.set(database=f"{url.database}_missing"), sleep=sleep)
        assert waits == []
    finally:
        await drop_test_database(url.render_as_string(hide_password=False))


async def test_one_statement_on_a_connection_the_server_ended_is_unavailable_and_the_next_reconnects() -> None:
    async with database("postgres") as db:
        pid = await db.one_statement(text("select pg_backend_pid()"))
        killer = await asyncpg.connect(asyncpg_dsn(db.url))
        try:
            assert await killer.fetchval("select pg_terminate_backend($1)", pid)
        finally:
            await killer.close()
        outcomes = []
        for _ in range(3):  # the pool may hand out the dead connection first (pre-ping catches most)
            try:
                outcomes.append(await db.one_statement(text("select 1")))
            except StorageUnavailable:
                outcomes.append("unavailable")
        assert outcomes[-1] == 1 and set(outcomes) <= {1, "unavailable"}
