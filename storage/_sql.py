"""Small helpers shared by the repositories: the clock, constraint-violation classification, outbox writes.

Constraint violations are recognised by constraint name on PostgreSQL (asyncpg reports it) and by the
column list in SQLite's message ("UNIQUE constraint failed: bookings.event_type_id, ..."), which is
mapped back to the constraint name from the models' metadata, so callers only deal with names.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Index, PrimaryKeyConstraint, UniqueConstraint
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling.domain import OutboxItem
from scheduling.errors import ValidationFailed
from storage.models import Base, OutboxRow

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The real clock (repositories take a ``clock`` argument so tests can pin time)."""
    return datetime.now(UTC)


def utc(value: datetime, field: str = "time") -> datetime:
    """``value`` as an aware UTC datetime; a naive one is a programming error reported by field."""
    if value.utcoffset() is None:
        raise ValidationFailed({field: "must be a timezone-aware instant"})
    return value.astimezone(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


ViolationKind = Literal["unique", "exclusion", "foreign_key", "check", "not_null", "other"]

_PG_STATES: dict[str, ViolationKind] = {
    "23505": "unique",
    "23P01": "exclusion",
    "23503": "foreign_key",
    "23514": "check",
    "23502": "not_null",
}
_SQLITE_NAMES: dict[str, ViolationKind] = {
    "SQLITE_CONSTRAINT_UNIQUE": "unique",
    "SQLITE_CONSTRAINT_PRIMARYKEY": "unique",
    "SQLITE_CONSTRAINT_FOREIGNKEY": "foreign_key",
    "SQLITE_CONSTRAINT_CHECK": "check",
    "SQLITE_CONSTRAINT_NOTNULL": "not_null",
}


def _sqlite_unique_names() -> dict[str, str]:
    """ "table.col, table.col2" (as SQLite reports a unique violation) -> constraint or index name."""
    out: dict[str, str] = {}
    for table in Base.metadata.sorted_tables:
        keyed: list[tuple[Iterable[Any], str | None]] = []
        for constraint in table.constraints:
            if isinstance(constraint, UniqueConstraint | PrimaryKeyConstraint):
                keyed.append((constraint.columns, str(constraint.name) if constraint.name else None))
        for index in table.indexes:
            if isinstance(index, Index) and index.unique:
                keyed.append((index.columns, str(index.name) if index.name else None))
        for columns, name in keyed:
            if name:
                out[", ".join(f"{table.name}.{c.name}" for c in columns)] = name
    return out


_SQLITE_UNIQUE = _sqlite_unique_names()


@dataclass(frozen=True, slots=True)
class Violation:
    """What an IntegrityError broke: its kind and, when known, the constraint (or unique index) name."""

    kind: ViolationKind
    name: str | None
    detail: str


def violation(exc: IntegrityError) -> Violation:
    orig: Any = exc.orig
    chain = [orig, getattr(orig, "__cause__", None)]
    states = [s for s in (getattr(err, "sqlstate", None) for err in chain) if isinstance(s, str)]
    if states:  # PostgreSQL (asyncpg): SQLSTATE and constraint name, on the driver's own exception
        names = [n for n in (getattr(err, "constraint_name", None) for err in chain) if isinstance(n, str)]
        return Violation(_PG_STATES.get(states[0], "other"), names[0] if names else None, str(orig))
    message = str(orig)
    kind = _SQLITE_NAMES.get(getattr(orig, "sqlite_errorname", ""), "other")
    name: str | None = None
    if kind == "unique" and "constraint failed: " in message:
        name = _SQLITE_UNIQUE.get(message.split("constraint failed: ", 1)[1].strip())
    elif kind == "check" and "constraint failed: " in message:
        name = message.split("constraint failed: ", 1)[1].strip()
    return Violation(kind, name, message)


def outbox_rows(items: Sequence[OutboxItem], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "id": new_id(),
            "tenant_id": item.tenant_id,
            "kind": item.kind,
            "channel": item.channel,
            "payload": dict(item.payload),
            "dedupe_key": item.dedupe_key,
            "created_at": now,
            "attempts": 0,
            "next_attempt_at": now,
            "leased_until": None,
            "delivered_at": None,
            "last_error": "",
            "dead": False,
        }
        for item in items
    ]


async def enqueue(session: AsyncSession, items: Sequence[OutboxItem], now: datetime) -> int:
    """Insert ``items`` into the outbox in the session's transaction; an existing ``dedupe_key`` is
    silently skipped (INSERT ... ON CONFLICT DO NOTHING). Payloads must be JSON-ready (str, numbers,
    bools, None, lists, dicts). Returns how many rows were inserted."""
    if not items:
        return 0
    for item in items:
        if not item.dedupe_key:
            raise ValidationFailed({"dedupe_key": "every outbox item needs a dedupe key"})
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(OutboxRow).values(outbox_rows(items, now))
    result = await session.execute(statement.on_conflict_do_nothing(index_elements=["dedupe_key"]))
    return int(getattr(result, "rowcount", 0) or 0)
