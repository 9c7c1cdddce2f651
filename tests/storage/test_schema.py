"""Migrations and the schema: from empty to head (command line and API, twice), models agree with the
migrated schema, SQLite connection settings, aware-UTC round trips, and the PostgreSQL exclusion
constraint rejecting overlapping claims written around the repositories."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, text
from sqlalchemy.exc import IntegrityError, StatementError

from scheduling.booking import hash_token
from scheduling.domain import Caller
from storage import migrate
from storage.db import DEFAULT_URL, Database, create_database, normalize_url
from storage.models import Base, BookingRow, UserRow
from storage.repositories import Repositories, repositories
from tests.storage.fixtures import Kind, create_test_database, drop_test_database
from tests.storage.helpers import at, booking, make_link, make_user, table_of

ROOT = Path(__file__).resolve().parents[2]
# The newest migration by its file name ("NNNN_what.py"): the chain must end there, with no branch.
HEAD = max(p.name.split("_", 1)[0] for p in (ROOT / "storage" / "migrations" / "versions").glob("[0-9]*_*.py"))
TABLES = {*Base.metadata.tables, "alembic_version"}  # every model's table (models == migrations is checked below)


@pytest.fixture
async def empty_url(db_kind: Kind, tmp_path: Path) -> AsyncIterator[str]:
    url = await create_test_database(db_kind, tmp_path, migrate=False)
    try:
        yield url
    finally:
        await drop_test_database(url)


async def _tables(url: str) -> set[str]:
    db = create_database(url)
    try:
        async with db.engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await db.dispose()


async def test_migrate_command_from_empty_then_again_from_the_environment(
    empty_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await migrate.current_revision(empty_url) is None
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SLOTWISE_DATABASE_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "storage.migrate",
        "--url",
        empty_url,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert f"revision {migrate.head_revision()}" in out.decode()
    assert await _tables(empty_url) == TABLES

    # again, in process, with the URL from the environment: a no-op
    monkeypatch.setenv("SLOTWISE_DATABASE_URL", empty_url)
    assert await asyncio.to_thread(migrate.main, []) == 0
    assert f"revision {HEAD} (head {HEAD})" in capsys.readouterr().out
    assert await migrate.upgrade(empty_url) == migrate.head_revision() == HEAD
    assert await _tables(empty_url) == TABLES


async def test_replicas_starting_together_migrate_once(empty_url: str) -> None:
    results = await asyncio.gather(*(migrate.upgrade(empty_url) for _ in range(3)))
    assert results == [HEAD] * 3
    assert await _tables(empty_url) == TABLES


async def test_the_models_match_the_migrated_schema(db: Database) -> None:
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata)
        )
    assert diff == []


def test_default_url_is_a_sqlite_file_under_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SLOTWISE_DATABASE_URL", raising=False)
    assert migrate.database_url() == DEFAULT_URL
    assert migrate.main([]) == 0
    assert (tmp_path / "var" / "slotwise.db").is_file()


def test_bad_urls_are_reported(capsys: pytest.CaptureFixture[str]) -> None:
    assert migrate.main(["--url", "mysql://root:hunter2@db/slotwise"]) == 1
    err = capsys.readouterr().err
    assert "Unsupported database URL" in err and "hunter2" not in err
    assert normalize_url("postgres://u@h/d").drivername == "postgresql+asyncpg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(db: Database) -> None:
    async with db.read() as s:
        assert (await s.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await s.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await s.execute(text("PRAGMA busy_timeout"))).scalar() == 30_000


async def test_instants_are_stored_in_utc_and_naive_ones_refused(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    stored, _ = await repos.bookings.reserve(booking(link, [host], at(10)))
    async with repos.db.read() as s:
        raw = (await s.execute(text("SELECT start_at FROM bookings"))).scalar()
    if repos.db.is_sqlite:
        assert str(raw).startswith("2030-01-07 10:00:00")  # naive UTC text, sorts correctly
    else:
        assert raw == at(10)
    with pytest.raises(StatementError, match="Naive datetime"):
        async with repos.db.write() as s:
            s.add(
                UserRow(
                    id="x",
                    tenant_id="t",
                    aad_object_id="a",
                    email="",
                    display_name="",
                    time_zone="UTC",
                    handle="x",
                    conversation_reference=None,
                    connection_status="not_connected",
                    connection_error="",
                    conflict_calendar_ids=[],
                    write_calendar_id=None,
                    created_at=datetime(2030, 1, 1),
                    updated_at=at(0),
                )
            )
    assert stored.start == at(10)


RAW_CLAIM = text(
    "INSERT INTO reservations (host_id, booking_id, hold_id, event_type_id, blocked_from, blocked_until, starts_at, "
    "ends_at, buffer_before, buffer_after, expires_at, active) VALUES (:host, NULL, :hold, NULL, :start, :end, "
    ":start, :end, 0, 0, :expires, :active)"
)


@pytest.mark.postgres
@pytest.mark.parametrize("db_kind", ["postgres"], indirect=True)
async def test_postgres_exclusion_constraint_rejects_overlaps_written_around_the_store(repos: Repositories) -> None:
    host = await make_user(repos)
    other = await make_user(repos, "other@contoso.com")
    claim = {"host": host.id, "hold": "raw-1", "start": at(10), "end": at(11), "expires": at(12), "active": True}
    async with repos.db.write() as s:
        await s.execute(RAW_CLAIM, claim)
    for overlapping in ({"start": at(10, 30), "end": at(10, 45)}, {"start": at(9), "end": at(10, 1)}):
        with pytest.raises(IntegrityError) as caught:
            async with repos.db.write() as s:
                await s.execute(RAW_CLAIM, {**claim, "hold": "raw-2", **overlapping})
        assert "reservations_no_overlap" in str(caught.value)
    async with repos.db.write() as s:  # touching, another host, or inactive: all allowed
        await s.execute(RAW_CLAIM, {**claim, "hold": "raw-3", "start": at(11), "end": at(12)})
        await s.execute(RAW_CLAIM, {**claim, "hold": "raw-4", "host": other.id})
        await s.execute(RAW_CLAIM, {**claim, "hold": "raw-5", "active": False})


# ---------------------------------------------------------------------------- 0001 -> 0002: bookings survive


async def test_bookings_made_before_0002_survive_the_upgrade_and_keep_their_manage_links(empty_url: str) -> None:
    """A booking row written at revision 0001 reads back after the upgrade: its manage link still opens
    it, its idempotency key moved into the ``legacy`` namespace (no new request reaches it), and it
    records no Teams invitee (so nobody is recognised as its invitee by email or otherwise)."""
    assert await migrate.upgrade(empty_url, "0001") == "0001"
    token = "old-manage-token-" + "x" * 30
    old_columns = {c.name for c in BookingRow.__table__.columns} - {
        "manage_token_nonce",
        "request_fingerprint",
        "invitee_tenant_id",
        "invitee_aad_object_id",
        "event_calendar_id",  # 0007
        "reminded_start",  # 0007
    }
    row = {
        "id": "bk-old",
        "tenant_id": "tenant-a",
        "event_type_id": "et-old",
        "organizer_id": "user-old",
        "host_ids": ["user-old"],
        "start_at": at(10),
        "end_at": at(10, 30),
        "buffer_before": 0,
        "buffer_after": 0,
        "invitee_name": "Olga Old",
        "invitee_email": "olga@example.com",
        "invitee_time_zone": "Europe/Paris",
        "invitee_notes": "",
        "invitee_answers": {},
        "status": "confirmed",
        "single_use": False,
        "idempotency_key": "teams:0123456789abcdef",
        "manage_token_hash": hash_token(token),
        "graph_event_id": "evt-old",
        "ical_uid": None,
        "transaction_id": "bk-old",
        "join_url": None,
        "join_url_missing": False,
        "calendar_sync": "in_sync",
        "cancel_reason": "",
        "created_at": at(9),
        "updated_at": at(9),
        "pending_deadline": None,
        "version": 1,
    }
    assert set(row) == old_columns
    db = create_database(empty_url)
    try:
        async with db.write() as s:
            await s.execute(insert(table_of(BookingRow)).values(**row))
    finally:
        await db.dispose()

    assert await migrate.upgrade(empty_url) == HEAD
    db = create_database(empty_url)
    try:
        store = repositories(db).bookings
        found = await store.get_by_manage_token_hash(hash_token(token))
        assert found is not None and found.id == "bk-old" and found.start == at(10)
        assert found.invitee.email == "olga@example.com" and found.status.value == "confirmed"
        assert found.idempotency_key == "legacy:teams:0123456789abcdef"
        assert (found.manage_token_nonce, found.request_fingerprint) == (None, None)
        assert (found.invitee_tenant_id, found.invitee_aad_object_id) == (None, None)
        for caller in (Caller.public(), Caller.teams("tenant-a", "oid-1"), Caller.api("key-1")):
            assert await store.get_by_idempotency_key("et-old", caller.scoped_key("teams:0123456789abcdef")) is None
        assert await store.get("bk-old") == found
    finally:
        await db.dispose()
