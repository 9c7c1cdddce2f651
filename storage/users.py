"""SqlUserStore: Slotwise users (``scheduling.stores.UserStore``) and their public handles.

A user is identified by (tenant_id, aad_object_id). The handle is the ``{handle}`` of
``/book/{handle}/{slug}``: unique across all tenants, lowercase ``a-z0-9`` words joined by ``-``,
derived from the email's local part ("adele.vance@contoso.com" -> "adele-vance"), else the display
name, else "user", and made unique with a numeric suffix ("adele-vance-2").

``upsert`` writes the profile (name, email, time zone, calendars, handle when asked) and, when given,
the conversation reference; the connection status belongs to :meth:`SqlUserStore.set_connection` and
is only taken from the record when the user is first inserted.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling.domain import RESERVED_HANDLES, ConnectionStatus, User
from scheduling.errors import Conflict, NotFound, ValidationFailed
from storage._sql import Clock, new_id, utcnow, violation
from storage.db import Database
from storage.models import CalendarConnectionRow, UserRow

HANDLE_MAX = 40
_UPSERT_ATTEMPTS = 5


def slugify(text: str, max_length: int = HANDLE_MAX) -> str:
    """Lowercase ASCII words joined by single dashes: "Adèle.Vance" -> "adele-vance" ("" if none)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_length].rstrip("-")


def handle_base(email: str, display_name: str = "") -> str:
    """The handle a user would get if it were free: from the email's local part, else the name."""
    local = email.split("@", 1)[0] if email else ""
    return slugify(local) or slugify(display_name) or "user"


def to_user(row: UserRow) -> User:
    return User(
        id=row.id,
        tenant_id=row.tenant_id,
        aad_object_id=row.aad_object_id,
        display_name=row.display_name,
        email=row.email,
        time_zone=row.time_zone,
        handle=row.handle,
        conversation_reference=dict(row.conversation_reference) if row.conversation_reference is not None else None,
        connection_status=ConnectionStatus(row.connection_status),
        connection_error=row.connection_error,
        conflict_calendar_ids=tuple(row.conflict_calendar_ids),
        write_calendar_id=row.write_calendar_id,
    )


async def _free_handle(s: AsyncSession, base: str) -> str:
    """``base`` if no one has it, else ``base-N`` with the smallest free N >= 2."""
    base = base[: HANDLE_MAX - 4].rstrip("-") if len(base) > HANDLE_MAX - 4 else base
    taken = set(
        (
            await s.scalars(select(UserRow.handle).where(or_(UserRow.handle == base, UserRow.handle.like(base + "-%"))))
        ).all()
    )
    taken |= RESERVED_HANDLES
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


class SqlUserStore:
    """:class:`scheduling.stores.UserStore` on SQLite or PostgreSQL."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    async def get(self, user_id: str) -> User | None:
        async with self._db.read() as s:
            row = await s.get(UserRow, user_id)
            return to_user(row) if row else None

    async def get_by_aad(self, tenant_id: str, aad_object_id: str) -> User | None:
        async with self._db.read() as s:
            row = await s.scalar(
                select(UserRow).where(UserRow.tenant_id == tenant_id, UserRow.aad_object_id == aad_object_id)
            )
            return to_user(row) if row else None

    async def get_by_handle(self, handle: str) -> User | None:
        async with self._db.read() as s:
            row = await s.scalar(select(UserRow).where(UserRow.handle == handle.strip().lower()))
            return to_user(row) if row else None

    async def upsert(self, user: User) -> User:
        if not user.tenant_id or not user.aad_object_id:
            raise ValidationFailed({"user": "tenant id and Entra object id are required"})
        for _attempt in range(_UPSERT_ATTEMPTS):
            try:
                async with self._db.write() as s:
                    return await self._upsert(s, user)
            except IntegrityError as exc:
                found = violation(exc)
                if found.name == "pk_users":
                    owner = await self.get(user.id)
                    if owner is None or (owner.tenant_id, owner.aad_object_id) != (user.tenant_id, user.aad_object_id):
                        raise Conflict(f"User id {user.id!r} belongs to another account.") from None
                elif found.name not in ("uq_users_handle", "uq_users_tenant_id_aad_object_id"):
                    raise
                # A concurrent upsert took the handle or inserted the same person: look again.
        raise Conflict("Could not save the user because of concurrent changes. Please try again.")

    async def _upsert(self, s: AsyncSession, user: User) -> User:
        now = self._clock()
        row = await s.scalar(
            select(UserRow)
            .where(UserRow.tenant_id == user.tenant_id, UserRow.aad_object_id == user.aad_object_id)
            .with_for_update()
        )
        wanted = slugify(user.handle) if user.handle else ""
        if row is None:
            handle = (
                wanted
                if wanted and await self._handle_free(s, wanted)
                else await _free_handle(s, handle_base(user.email, user.display_name))
            )
            row = UserRow(
                id=user.id or new_id(),
                tenant_id=user.tenant_id,
                aad_object_id=user.aad_object_id,
                email=user.email,
                display_name=user.display_name,
                time_zone=user.time_zone,
                handle=handle,
                conversation_reference=_plain(user.conversation_reference),
                connection_status=user.connection_status.value,
                connection_error=user.connection_error,
                conflict_calendar_ids=list(user.conflict_calendar_ids),
                write_calendar_id=user.write_calendar_id,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
        else:
            if wanted and wanted != row.handle:
                if not await self._handle_free(s, wanted):
                    raise Conflict(f"The handle {wanted!r} is taken. Please choose another one.")
                row.handle = wanted
            row.email = user.email
            row.display_name = user.display_name
            row.time_zone = user.time_zone
            row.conflict_calendar_ids = list(user.conflict_calendar_ids)
            row.write_calendar_id = user.write_calendar_id
            if user.conversation_reference is not None:
                row.conversation_reference = _plain(user.conversation_reference)
            row.updated_at = now
        await s.flush()
        return to_user(row)

    async def _handle_free(self, s: AsyncSession, handle: str) -> bool:
        if handle in RESERVED_HANDLES:
            return False
        return await s.scalar(select(UserRow.id).where(UserRow.handle == handle)) is None

    async def set_connection(self, user_id: str, status: ConnectionStatus, error: str = "") -> None:
        async with self._db.write() as s:
            result = await s.execute(
                update(UserRow)
                .where(UserRow.id == user_id)
                .values(connection_status=status.value, connection_error=error, updated_at=self._clock())
                .execution_options(synchronize_session=False)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFound("No such user.")
            await s.execute(
                update(CalendarConnectionRow)
                .where(CalendarConnectionRow.user_id == user_id)
                .values(status=status.value, last_error=error, updated_at=self._clock())
                .execution_options(synchronize_session=False)
            )

    async def set_conversation_reference(self, user_id: str, reference: Mapping[str, object]) -> None:
        async with self._db.write() as s:
            result = await s.execute(
                update(UserRow)
                .where(UserRow.id == user_id)
                .values(conversation_reference=_plain(reference), updated_at=self._clock())
                .execution_options(synchronize_session=False)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFound("No such user.")


def _plain(value: Mapping[str, object] | None) -> dict[str, Any] | None:
    return dict(value) if value is not None else None
