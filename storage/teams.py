"""SqlTeamStore: teams, their rotation and their team links (``scheduling.stores.TeamStore`` and
``scheduling.teams.TeamLinkStore``).

* A team is a Teams team (or group chat), found by ``(tenant_id, external_id)`` (unique); its slug is unique.
* ``save`` stores the team and replaces its member list in one transaction, keeping the members' order
  (``position``) and the fairness bookkeeping (``last_booked_at``, maintained by
  :meth:`storage.bookings.SqlBookingStore.reserve`; ``joined_at``, ``left_at``, ``away``) of members who stay.
* ``join`` / ``leave`` change one member: a member who leaves keeps their row (inactive, ``left_at``), so
  joining again records the span they were away (the most recent :data:`MAX_AWAY_SPANS`), for the
  calibration of fair assignment, and keeps their settings.
* ``create_link`` writes a team link, its settings (``team_links``) and its ``link.created`` event (the outbox) in
  one transaction; ``links_created_by`` finds the team links a person made (their settings name the creator).
* ``assignments`` is the history fair assignment reads: the team's round-robin bookings still holding time
  that were made in a period, with their host and creation time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling.assignment import AssignmentMode, PastAssignment, PeriodUnit
from scheduling.domain import EventType, LinkKind, OutboxItem, Priority, Team, TeamMember, User
from scheduling.errors import Conflict, NotFound, ValidationFailed
from scheduling.intervals import Interval
from scheduling.teams import Member, TeamLinkSettings
from storage._sql import Clock, enqueue, utc, utcnow, violation
from storage.db import Database
from storage.event_types import _columns, _mapped, _validate, to_event_type
from storage.models import (
    HOLDING_STATUSES,
    BookingRow,
    EventTypeRow,
    TeamLinkRow,
    TeamMemberRow,
    TeamRow,
    UserRow,
)
from storage.users import to_user

MAX_AWAY_SPANS = 20  # time away older than this many spans no longer matters to a period


def to_member(m: TeamMemberRow) -> TeamMember:
    return TeamMember(
        user_id=m.user_id,
        priority=m.priority,
        weight=m.weight,
        active=m.active,
        daily_cap=m.daily_cap,
        weekly_cap=m.weekly_cap,
        joined_at=m.joined_at,
    )


def to_team(row: TeamRow, members: list[TeamMemberRow]) -> Team:
    return Team(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        slug=row.slug,
        members=tuple(to_member(m) for m in sorted(members, key=lambda m: m.position)),
        conversation_reference=dict(row.conversation_reference) if row.conversation_reference is not None else None,
        external_id=row.external_id or "",
    )


def _spans(value: Any) -> tuple[Interval, ...]:
    """The ``away`` column as intervals (entries that are not two ISO instants in order are skipped)."""
    out = []
    for entry in value if isinstance(value, list) else []:
        try:
            start, end = (datetime.fromisoformat(str(x)) for x in entry)
            out.append(Interval(utc(start), utc(end)))
        except (TypeError, ValueError):
            continue
    return tuple(out)


def to_settings(row: TeamLinkRow) -> TeamLinkSettings:
    return TeamLinkSettings(
        event_type_id=row.event_type_id,
        created_by=row.created_by,
        mode=AssignmentMode(row.assignment_mode),
        period=PeriodUnit(row.period),
        announce=row.announce,
        thread=dict(row.thread) if row.thread is not None else None,
        card_activity_id=row.card_activity_id or "",
    )


def _settings_columns(settings: TeamLinkSettings) -> dict[str, Any]:
    return {
        "created_by": settings.created_by,
        "assignment_mode": settings.mode.value,
        "period": settings.period.value,
        "announce": settings.announce,
        "thread": dict(settings.thread) if settings.thread is not None else None,
        "card_activity_id": settings.card_activity_id or None,
    }


class SqlTeamStore:
    """:class:`scheduling.stores.TeamStore` and :class:`scheduling.teams.TeamLinkStore` on SQLite or PostgreSQL."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    # ------------------------------------------------------------------ teams

    async def get(self, team_id: str) -> Team | None:
        async with self._db.read() as s:
            row = await s.get(TeamRow, team_id)
            return await self._load(s, row) if row else None

    async def get_by_slug(self, slug: str) -> Team | None:
        async with self._db.read() as s:
            row = await s.scalar(select(TeamRow).where(TeamRow.slug == slug))
            return await self._load(s, row) if row else None

    async def get_by_external(self, tenant_id: str, external_id: str) -> Team | None:
        if not tenant_id or not external_id:
            return None
        async with self._db.read() as s:
            row = await s.scalar(
                select(TeamRow).where(TeamRow.tenant_id == tenant_id, TeamRow.external_id == external_id)
            )
            return await self._load(s, row) if row else None

    async def last_booked(self, team_id: str) -> dict[str, datetime | None]:
        """When each member was last assigned a booking of one of the team's links (round-robin fairness)."""
        async with self._db.read() as s:
            rows = (
                await s.execute(
                    select(TeamMemberRow.user_id, TeamMemberRow.last_booked_at).where(TeamMemberRow.team_id == team_id)
                )
            ).all()
            return {user_id: at for user_id, at in rows}

    async def create_team(self, team: Team) -> Team:
        """Insert a new team (no members); Conflict when its slug, or its Teams team in that tenant, is taken."""
        if not team.slug:
            raise ValidationFailed({"slug": "a team needs a name for its address"})
        now = self._clock()
        try:
            async with self._db.write() as s:
                row = TeamRow(
                    id=team.id,
                    tenant_id=team.tenant_id,
                    name=team.name,
                    slug=team.slug,
                    conversation_reference=dict(team.conversation_reference)
                    if team.conversation_reference is not None
                    else None,
                    external_id=team.external_id or None,
                    created_at=now,
                    updated_at=now,
                )
                s.add(row)
                await s.flush()
                return to_team(row, [])
        except IntegrityError as exc:
            found = violation(exc)
            if found.kind == "unique":
                raise Conflict(f"A team named {team.slug!r} (or this Teams team) already exists.") from None
            raise

    async def save(self, team: Team) -> Team:
        ids = [m.user_id for m in team.members]
        problems: dict[str, str] = {}
        if len(set(ids)) != len(ids):
            problems["members"] = "each person can be in a team only once"
        if not team.slug:
            problems["slug"] = "a team needs a name for its address"
        if problems:
            raise ValidationFailed(problems)
        now = self._clock()
        try:
            async with self._db.write() as s:
                row = await s.get(TeamRow, team.id, with_for_update=True)
                if row is not None and row.tenant_id != team.tenant_id:
                    raise NotFound("No such team.")
                reference = dict(team.conversation_reference) if team.conversation_reference is not None else None
                if row is None:
                    row = TeamRow(
                        id=team.id,
                        tenant_id=team.tenant_id,
                        name=team.name,
                        slug=team.slug,
                        conversation_reference=reference,
                        external_id=team.external_id or None,
                        created_at=now,
                        updated_at=now,
                    )
                    s.add(row)
                else:
                    row.name, row.slug, row.conversation_reference, row.updated_at = (
                        team.name,
                        team.slug,
                        reference,
                        now,
                    )
                    row.external_id = team.external_id or None
                await s.flush()
                existing = {
                    m.user_id: m
                    for m in (await s.scalars(select(TeamMemberRow).where(TeamMemberRow.team_id == team.id))).all()
                }
                gone = set(existing) - set(ids)
                if gone:
                    await s.execute(
                        delete(TeamMemberRow)
                        .where(TeamMemberRow.team_id == team.id, TeamMemberRow.user_id.in_(gone))
                        .execution_options(synchronize_session=False)
                    )
                kept: list[TeamMemberRow] = []
                for position, member in enumerate(team.members):
                    m = existing.get(member.user_id)
                    if m is None:
                        m = TeamMemberRow(team_id=team.id, user_id=member.user_id, last_booked_at=None, away=[])
                        s.add(m)
                    m.position, m.priority, m.weight, m.active = (
                        position,
                        member.priority,
                        member.weight,
                        member.active,
                    )
                    m.daily_cap, m.weekly_cap, m.joined_at = member.daily_cap, member.weekly_cap, member.joined_at
                    kept.append(m)
                await s.flush()
                return to_team(row, kept)
        except IntegrityError as exc:
            found = violation(exc)
            if found.name == "uq_teams_slug":
                raise Conflict(f"There is already a team link named {team.slug!r}. Please pick another name.") from None
            if found.name == "uq_teams_tenant_id_external_id":
                raise Conflict("This Teams team already has a Slotwise team.") from None
            if found.name in ("pk_teams", "pk_team_members"):
                raise Conflict("This team was changed at the same time. Please try again.") from None
            if found.kind == "foreign_key":
                raise NotFound("A team member is not a Slotwise user yet.") from None
            raise

    async def _load(self, s: AsyncSession, row: TeamRow) -> Team:
        members = (await s.scalars(select(TeamMemberRow).where(TeamMemberRow.team_id == row.id))).all()
        return to_team(row, list(members))

    # ------------------------------------------------------------------ the rotation

    async def roster(self, team_id: str) -> list[Member]:
        """The active members, in rotation order, with who they are and the spans they were away (one query)."""
        async with self._db.read() as s:
            return await self._roster(s, team_id)

    async def _roster(self, s: AsyncSession, team_id: str) -> list[Member]:
        rows = (
            await s.execute(
                select(TeamMemberRow, UserRow)
                .join(UserRow, UserRow.id == TeamMemberRow.user_id)
                .where(TeamMemberRow.team_id == team_id, TeamMemberRow.active.is_(True))
                .order_by(TeamMemberRow.position, TeamMemberRow.user_id)
            )
        ).all()
        return [Member(to_member(m), to_user(u), _spans(m.away)) for m, u in rows]

    async def link_view(
        self, event_type_id: str
    ) -> tuple[EventType | None, Team | None, TeamLinkSettings | None, list[Member]]:
        """A team link, its team, its settings and the team's rotation, read in one transaction (one snapshot, one
        round of BEGIN and COMMIT: every team slot view and booking starts here). (None, None, None, []) when the
        link is gone or no team link; the team None when it is gone."""
        async with self._db.read() as s:
            row = await s.get(EventTypeRow, event_type_id)
            if row is None or row.team_id is None:
                return None, None, None, []
            link = to_event_type(row)
            team_row = await s.get(TeamRow, row.team_id)
            if team_row is None:
                return link, None, None, []
            team = await self._load(s, team_row)
            settings = await s.get(TeamLinkRow, event_type_id)
            return link, team, to_settings(settings) if settings is not None else None, await self._roster(s, team.id)

    async def join(self, team_id: str, user_id: str, at: datetime) -> bool:
        """Add ``user_id`` to the rotation (or bring them back, recording the span they were away); False when they
        are in it already. NotFound for an unknown team or user."""
        at = utc(at, "at")
        try:
            async with self._db.write() as s:
                if await s.get(TeamRow, team_id) is None:
                    raise NotFound("This team no longer exists.")
                row = await s.scalar(
                    select(TeamMemberRow)
                    .where(TeamMemberRow.team_id == team_id, TeamMemberRow.user_id == user_id)
                    .with_for_update()
                )
                if row is not None and row.active:
                    return False
                if row is None:
                    last = await s.scalar(
                        select(func.max(TeamMemberRow.position)).where(TeamMemberRow.team_id == team_id)
                    )
                    s.add(
                        TeamMemberRow(
                            team_id=team_id,
                            user_id=user_id,
                            position=(last + 1) if last is not None else 0,
                            priority=int(Priority.MEDIUM),
                            weight=100,
                            active=True,
                            last_booked_at=None,
                            joined_at=at,
                            left_at=None,
                            away=[],
                        )
                    )
                else:
                    if row.left_at is not None and row.left_at < at:
                        spans = [*(row.away or []), [row.left_at.isoformat(), at.isoformat()]]
                        row.away = spans[-MAX_AWAY_SPANS:]
                    row.active, row.left_at = True, None
                    if row.joined_at is None:
                        row.joined_at = at
                await s.flush()
                return True
        except IntegrityError as exc:
            found = violation(exc)
            if found.kind == "foreign_key":
                raise NotFound("This person is not a Slotwise user yet.") from None
            if found.name == "pk_team_members":
                return False  # joined at the same moment by another request
            raise

    async def leave(self, team_id: str, user_id: str, at: datetime) -> bool:
        """Take ``user_id`` out of the rotation (their row is kept for when they come back); False when they
        were not in it."""
        at = utc(at, "at")
        async with self._db.write() as s:
            row = await s.scalar(
                select(TeamMemberRow)
                .where(TeamMemberRow.team_id == team_id, TeamMemberRow.user_id == user_id)
                .with_for_update()
            )
            if row is None or not row.active:
                return False
            row.active, row.left_at = False, at
            await s.flush()
            return True

    async def update_members(self, team_id: str, members: Sequence[TeamMember]) -> None:
        """Save the rotation settings (priority, weight, caps) of these members; members no longer active, or
        not in the team, are left alone (someone left while the settings were being edited)."""
        wanted = {m.user_id: m for m in members}
        if not wanted:
            return
        async with self._db.write() as s:
            rows = (
                await s.scalars(
                    select(TeamMemberRow)
                    .where(
                        TeamMemberRow.team_id == team_id,
                        TeamMemberRow.user_id.in_(list(wanted)),
                        TeamMemberRow.active.is_(True),
                    )
                    .with_for_update()
                )
            ).all()
            for row in rows:
                m = wanted[row.user_id]
                row.priority, row.weight, row.daily_cap, row.weekly_cap = (
                    m.priority,
                    m.weight,
                    m.daily_cap,
                    m.weekly_cap,
                )
            await s.flush()

    # ------------------------------------------------------------------ team links

    async def create_link(
        self, link: EventType, settings: TeamLinkSettings, outbox: Sequence[OutboxItem] = ()
    ) -> EventType:
        """Insert a team link, its settings and ``outbox`` (its ``link.created`` event) in one transaction.
        Conflict when the team already has a link with that slug (then nothing is written)."""
        _validate(link)
        if link.team_id is None or link.kind is LinkKind.SINGLE_HOST:
            raise ValidationFailed({"kind": "a team link is round-robin or collective, and belongs to a team"})
        now = self._clock()
        try:
            async with self._db.write() as s:
                row = EventTypeRow(
                    id=link.id,
                    tenant_id=link.tenant_id,
                    version=link.version,
                    created_at=now,
                    updated_at=now,
                    **_columns(link),
                )
                s.add(row)
                await s.flush()
                s.add(
                    TeamLinkRow(
                        event_type_id=link.id,
                        created_at=now,
                        updated_at=now,
                        **_settings_columns(settings),
                    )
                )
                await s.flush()
                await enqueue(s, outbox, now)
                return to_event_type(row)
        except IntegrityError as exc:
            raise _mapped(exc, link) from None

    async def link_settings(self, event_type_id: str) -> TeamLinkSettings | None:
        async with self._db.read() as s:
            row = await s.get(TeamLinkRow, event_type_id)
            return to_settings(row) if row is not None else None

    async def save_link_settings(self, settings: TeamLinkSettings) -> TeamLinkSettings:
        """Write a team link's settings (inserted when it had none: a link made before team links had them).
        NotFound when the link does not exist."""
        now = self._clock()
        try:
            async with self._db.write() as s:
                row = await s.get(TeamLinkRow, settings.event_type_id, with_for_update=True)
                if row is None:
                    row = TeamLinkRow(event_type_id=settings.event_type_id, created_at=now, updated_at=now)
                    s.add(row)
                for name, value in _settings_columns(settings).items():
                    setattr(row, name, value)
                row.updated_at = now
                await s.flush()
                return to_settings(row)
        except IntegrityError as exc:
            if violation(exc).kind == "foreign_key":
                raise NotFound("This team link no longer exists.") from None
            raise

    async def links_created_by(self, tenant_id: str, user_id: str) -> list[EventType]:
        """The team links ``user_id`` made in ``tenant_id`` (their settings name them as creator), oldest first."""
        et, tl = EventTypeRow, TeamLinkRow
        async with self._db.read() as s:
            rows = (
                await s.scalars(
                    select(et)
                    .join(tl, tl.event_type_id == et.id)
                    .where(et.tenant_id == tenant_id, et.team_id.is_not(None), tl.created_by == user_id)
                    .order_by(et.created_at, et.id)
                )
            ).all()
            return [to_event_type(row) for row in rows]

    async def team_links(self, team_id: str) -> list[EventType]:
        async with self._db.read() as s:
            rows = (
                await s.scalars(
                    select(EventTypeRow)
                    .where(EventTypeRow.team_id == team_id)
                    .order_by(EventTypeRow.created_at, EventTypeRow.slug)
                )
            ).all()
            return [to_event_type(row) for row in rows]

    async def assignments(
        self, team_id: str, period: Interval, exclude_booking_id: str | None = None
    ) -> list[PastAssignment]:
        """The team's round-robin bookings still holding time that were made in ``period``: who hosts each and
        when it was assigned, oldest first (``exclude_booking_id``: the booking being moved)."""
        b, et = BookingRow, EventTypeRow
        query = (
            select(b.organizer_id, b.created_at)
            .join(et, et.id == b.event_type_id)
            .where(
                et.team_id == team_id,
                et.kind == LinkKind.ROUND_ROBIN.value,
                b.status.in_(HOLDING_STATUSES),
                b.created_at >= utc(period.start, "period.start"),
                b.created_at < utc(period.end, "period.end"),
            )
            .order_by(b.created_at, b.id)
        )
        if exclude_booking_id is not None:
            query = query.where(b.id != exclude_booking_id)
        async with self._db.read() as s:
            return [PastAssignment(host, at) for host, at in (await s.execute(query)).all()]

    async def people(self, user_ids: Sequence[str]) -> Mapping[str, User]:
        """Users by id (for the names of a booking's hosts)."""
        if not user_ids:
            return {}
        async with self._db.read() as s:
            rows = (await s.scalars(select(UserRow).where(UserRow.id.in_(list(user_ids))))).all()
            return {row.id: to_user(row) for row in rows}
