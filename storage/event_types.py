"""SqlEventTypeStore: booking links and their rules (``scheduling.stores.EventTypeStore``).

Rules are stored as the JSON of :func:`scheduling.serialize.rules_to_dict` (the same format the REST
API speaks) except the reminder, which is the column ``reminder_minutes`` (the reminder job selects due
bookings by it); locations and questions as small JSON objects. ``version`` is an optimistic lock: an update
only lands if the stored version is the one the editor started from. A slug is unique per owner (the
user of a personal link, the team of a team link), enforced by unique constraints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from scheduling.domain import EventType, LinkKind, OutboxItem, Question, User
from scheduling.errors import Conflict, NotFound, ValidationFailed
from scheduling.ports import Location, LocationKind
from scheduling.rules import EventRules
from scheduling.serialize import rules_from_dict, rules_to_dict
from storage._sql import Clock, enqueue, utcnow, violation
from storage.db import Database
from storage.models import EventTypeRow, UserRow
from storage.users import to_user


def location_to_dict(location: Location) -> dict[str, Any]:
    return {"kind": location.kind.value, "text": location.text}


def location_from_dict(data: Mapping[str, Any]) -> Location:
    return Location(kind=LocationKind(data.get("kind", LocationKind.TEAMS.value)), text=str(data.get("text", "")))


def question_to_dict(q: Question) -> dict[str, Any]:
    return {"id": q.id, "label": q.label, "required": q.required, "multiline": q.multiline, "max_length": q.max_length}


def question_from_dict(data: Mapping[str, Any]) -> Question:
    return Question(
        id=str(data["id"]),
        label=str(data["label"]),
        required=bool(data.get("required", False)),
        multiline=bool(data.get("multiline", False)),
        max_length=int(data.get("max_length", 500)),
    )


def to_event_type(row: EventTypeRow) -> EventType:
    return EventType(
        id=row.id,
        tenant_id=row.tenant_id,
        slug=row.slug,
        title=row.title,
        rules=replace(rules_from_dict(row.rules), reminder=row.reminder_minutes),
        owner_user_id=row.owner_user_id,
        team_id=row.team_id,
        kind=LinkKind(row.kind),
        location=location_from_dict(row.location),
        fallback_location=location_from_dict(row.fallback_location) if row.fallback_location else None,
        questions=tuple(question_from_dict(q) for q in row.questions),
        description=row.description,
        single_use=row.single_use,
        active=row.active,
        version=row.version,
    )


def _columns(et: EventType) -> dict[str, Any]:
    """Every column an editor may change (not id, tenant, version or timestamps)."""
    return {
        "owner_user_id": et.owner_user_id,
        "team_id": et.team_id,
        "slug": et.slug,
        "title": et.title,
        "description": et.description,
        "kind": et.kind.value,
        "rules": _rules_document(et.rules),
        "reminder_minutes": et.rules.reminder,
        "location": location_to_dict(et.location),
        "fallback_location": location_to_dict(et.fallback_location) if et.fallback_location else None,
        "questions": [question_to_dict(q) for q in et.questions],
        "single_use": et.single_use,
        "active": et.active,
    }


def _rules_document(rules: EventRules) -> dict[str, Any]:
    """The ``rules`` column: :func:`rules_to_dict` without the reminder, which has a column of its own
    (``reminder_minutes``, what the reminder job selects on): one stored value, never two that could differ."""
    document = rules_to_dict(rules)
    document.pop("reminder", None)
    return document


def _validate(et: EventType) -> None:
    problems: dict[str, str] = {}
    if not et.slug:
        problems["slug"] = "a link needs a name for its address"
    if et.owner_user_id is None and et.team_id is None:
        problems["owner"] = "a link belongs to a user or to a team"
    if problems:
        raise ValidationFailed(problems)


def _mapped(exc: IntegrityError, et: EventType) -> Exception:
    found = violation(exc)
    if found.name in ("uq_event_types_owner_user_id_slug", "uq_event_types_team_id_slug"):
        return Conflict(f"There is already a link at /{et.slug}. Please pick another name.")
    if found.name == "pk_event_types":
        return Conflict(f"A link with id {et.id!r} already exists.")
    if found.kind == "foreign_key":
        return NotFound("The link's owner (user or team) does not exist.")
    return exc


class SqlEventTypeStore:
    """:class:`scheduling.stores.EventTypeStore` on SQLite or PostgreSQL."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    async def create(self, event_type: EventType, outbox: Sequence[OutboxItem] = ()) -> EventType:
        _validate(event_type)
        now = self._clock()
        try:
            async with self._db.write() as s:
                row = EventTypeRow(
                    id=event_type.id,
                    tenant_id=event_type.tenant_id,
                    version=event_type.version,
                    created_at=now,
                    updated_at=now,
                    **_columns(event_type),
                )
                s.add(row)
                await s.flush()
                await enqueue(s, outbox, now)
                return to_event_type(row)
        except IntegrityError as exc:
            raise _mapped(exc, event_type) from None

    async def update(self, event_type: EventType) -> EventType:
        _validate(event_type)
        et = EventTypeRow
        try:
            async with self._db.write() as s:
                result = await s.execute(
                    update(et)
                    .where(
                        et.id == event_type.id, et.tenant_id == event_type.tenant_id, et.version == event_type.version
                    )
                    .values(version=event_type.version + 1, updated_at=self._clock(), **_columns(event_type))
                    .execution_options(synchronize_session=False)
                )
                if not result.rowcount:  # type: ignore[attr-defined]
                    exists = await s.scalar(
                        select(et.id).where(et.id == event_type.id, et.tenant_id == event_type.tenant_id)
                    )
                    if exists is None:
                        raise NotFound("This link does not exist (or is not yours).")
                    raise Conflict("This link was changed in the meantime. Reload it and try again.")
                row = await s.scalar(select(et).where(et.id == event_type.id))
                assert row is not None
                return to_event_type(row)
        except IntegrityError as exc:
            raise _mapped(exc, event_type) from None

    async def get(self, event_type_id: str) -> EventType | None:
        async with self._db.read() as s:
            row = await s.get(EventTypeRow, event_type_id)
            return to_event_type(row) if row else None

    async def get_by_owner_slug(self, owner_user_id: str, slug: str) -> EventType | None:
        async with self._db.read() as s:
            row = await s.scalar(
                select(EventTypeRow).where(EventTypeRow.owner_user_id == owner_user_id, EventTypeRow.slug == slug)
            )
            return to_event_type(row) if row else None

    async def get_by_handle_slug(self, handle: str, slug: str) -> tuple[EventType, User] | None:
        """The personal link at ``/book/{handle}/{slug}`` and its owner, in one statement (every page view, slot
        read and booking starts here)."""
        async with self._db.read() as s:
            found = (
                await s.execute(
                    select(EventTypeRow, UserRow)
                    .join(UserRow, UserRow.id == EventTypeRow.owner_user_id)
                    .where(UserRow.handle == handle.strip().lower(), EventTypeRow.slug == slug)
                )
            ).first()
            return (to_event_type(found[0]), to_user(found[1])) if found else None

    async def get_by_team_slug(self, team_id: str, slug: str) -> EventType | None:
        async with self._db.read() as s:
            row = await s.scalar(select(EventTypeRow).where(EventTypeRow.team_id == team_id, EventTypeRow.slug == slug))
            return to_event_type(row) if row else None

    async def list_for_owner(self, tenant_id: str, owner_user_id: str) -> list[EventType]:
        async with self._db.read() as s:
            rows = (
                await s.scalars(
                    select(EventTypeRow)
                    .where(EventTypeRow.tenant_id == tenant_id, EventTypeRow.owner_user_id == owner_user_id)
                    .order_by(EventTypeRow.created_at, EventTypeRow.slug)
                )
            ).all()
            return [to_event_type(row) for row in rows]

    async def delete(self, tenant_id: str, event_type_id: str) -> None:
        """Delete the link. Its bookings stay (they are meetings in people's calendars); raises NotFound
        when the link does not exist in ``tenant_id``."""
        async with self._db.write() as s:
            result = await s.execute(
                delete(EventTypeRow)
                .where(EventTypeRow.id == event_type_id, EventTypeRow.tenant_id == tenant_id)
                .execution_options(synchronize_session=False)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFound("This link does not exist (or is not yours).")
