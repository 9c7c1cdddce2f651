"""SqlTokenCacheStore: one MSAL token-cache blob per user (``scheduling.ports.TokenCacheStore``).

The blob arrives already encrypted (``graph.identity`` encrypts it); it is stored byte for byte in
``calendar_connections.token_cache``. The row also mirrors the user's connection status (kept in step by
:meth:`storage.users.SqlUserStore.set_connection`) and the scopes that were granted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from scheduling.domain import ConnectionStatus
from scheduling.errors import NotFound
from storage._sql import Clock, utcnow
from storage.db import Database
from storage.models import CalendarConnectionRow, UserRow


@dataclass(frozen=True, slots=True)
class CalendarConnection:
    """What is known about a user's calendar connection besides the token cache itself."""

    user_id: str
    status: ConnectionStatus
    granted_scopes: tuple[str, ...]
    last_error: str
    updated_at: datetime


class SqlTokenCacheStore:
    """:class:`scheduling.ports.TokenCacheStore` on SQLite or PostgreSQL."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    async def load_token_cache(self, user_id: str) -> bytes | None:
        async with self._db.read() as s:
            blob = await s.scalar(
                select(CalendarConnectionRow.token_cache).where(CalendarConnectionRow.user_id == user_id)
            )
            return bytes(blob) if blob is not None else None

    async def save_token_cache(self, user_id: str, blob: bytes, *, granted_scopes: Sequence[str] | None = None) -> None:
        """Store ``blob`` for ``user_id`` (replacing any previous one); ``granted_scopes`` when known.

        Raises NotFound when the user does not exist."""
        async with self._db.write() as s:
            status = await s.scalar(select(UserRow.connection_status).where(UserRow.id == user_id))
            if status is None:
                raise NotFound("No such user.")
            insert = pg_insert if self._db.is_postgres else sqlite_insert
            statement = insert(CalendarConnectionRow).values(
                user_id=user_id,
                token_cache=bytes(blob),
                status=status,
                granted_scopes=" ".join(granted_scopes or ()),
                last_error="",
                updated_at=self._clock(),
            )
            replace = {"token_cache": statement.excluded.token_cache, "updated_at": statement.excluded.updated_at}
            if granted_scopes is not None:
                replace["granted_scopes"] = statement.excluded.granted_scopes
            await s.execute(statement.on_conflict_do_update(index_elements=["user_id"], set_=replace))

    async def delete_token_cache(self, user_id: str) -> None:
        async with self._db.write() as s:
            await s.execute(
                delete(CalendarConnectionRow)
                .where(CalendarConnectionRow.user_id == user_id)
                .execution_options(synchronize_session=False)
            )

    async def connection(self, user_id: str) -> CalendarConnection | None:
        """The stored connection details of ``user_id`` (None when no token cache is stored)."""
        async with self._db.read() as s:
            row = await s.get(CalendarConnectionRow, user_id)
            if row is None:
                return None
            return CalendarConnection(
                user_id=row.user_id,
                status=ConnectionStatus(row.status),
                granted_scopes=tuple(row.granted_scopes.split()),
                last_error=row.last_error,
                updated_at=row.updated_at,
            )
