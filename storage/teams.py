"""SqlTeamStore: teams and their round-robin / collective members (``scheduling.stores.TeamStore``).

``save`` stores the team and replaces its member list in one transaction, keeping the members' order
(``position``) and the fairness bookkeeping (``last_booked_at``, maintained by
:meth:`storage.bookings.SqlBookingStore.reserve`) of members who stay. The team slug is unique.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling.domain import Team, TeamMember
from scheduling.errors import Conflict, NotFound, ValidationFailed
from storage._sql import Clock, utcnow, violation
from storage.db import Database
from storage.models import TeamMemberRow, TeamRow


def to_team(row: TeamRow, members: list[TeamMemberRow]) -> Team:
    return Team(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        slug=row.slug,
        members=tuple(
            TeamMember(user_id=m.user_id, priority=m.priority, weight=m.weight, active=m.active)
            for m in sorted(members, key=lambda m: m.position)
        ),
        conversation_reference=dict(row.conversation_reference) if row.conversation_reference is not None else None,
    )


class SqlTeamStore:
    """:class:`scheduling.stores.TeamStore` on SQLite or PostgreSQL."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    async def get(self, team_id: str) -> Team | None:
        async with self._db.read() as s:
            row = await s.get(TeamRow, team_id)
            return await self._load(s, row) if row else None

    async def get_by_slug(self, slug: str) -> Team | None:
        async with self._db.read() as s:
            row = await s.scalar(select(TeamRow).where(TeamRow.slug == slug))
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
                        m = TeamMemberRow(team_id=team.id, user_id=member.user_id, last_booked_at=None)
                        s.add(m)
                    m.position, m.priority, m.weight, m.active = (
                        position,
                        member.priority,
                        member.weight,
                        member.active,
                    )
                    kept.append(m)
                await s.flush()
                return to_team(row, kept)
        except IntegrityError as exc:
            found = violation(exc)
            if found.name == "uq_teams_slug":
                raise Conflict(f"There is already a team link named {team.slug!r}. Please pick another name.") from None
            if found.name in ("pk_teams", "pk_team_members"):
                raise Conflict("This team was changed at the same time. Please try again.") from None
            if found.kind == "foreign_key":
                raise NotFound("A team member is not a Slotwise user yet.") from None
            raise

    async def _load(self, s: AsyncSession, row: TeamRow) -> Team:
        members = (await s.scalars(select(TeamMemberRow).where(TeamMemberRow.team_id == row.id))).all()
        return to_team(row, list(members))
