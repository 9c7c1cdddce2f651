"""SqlJobLease: who runs a background job, across replicas (``scheduling.stores.JobLease``).

One row per job name in ``job_leases``. Taking a lease is one statement,
``INSERT ... ON CONFLICT (name) DO UPDATE SET holder = ..., leased_until = ... WHERE job_leases.leased_until
<= :now OR job_leases.holder = :holder RETURNING name``: the row is written only when nobody holds the job,
its lease ran out, or the caller holds it already, and a row coming back means the caller holds it now. On
PostgreSQL the conflicting row is locked by the upsert, so two replicas can't both see it free; on SQLite the
statement runs inside ``BEGIN IMMEDIATE`` (one writer at a time). Renewing and releasing name the holder, so
a replica can never extend or drop a lease another one has taken since.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from scheduling.errors import ValidationFailed
from storage._sql import utc
from storage.db import Database
from storage.models import JobLeaseRow


def _checked(name: str, holder: str, ttl: timedelta) -> None:
    if not name or not holder:
        raise ValidationFailed({"name": "a job lease names its job and its holder"})
    if ttl <= timedelta(0):
        raise ValidationFailed({"ttl": "a lease must last a while"})


class SqlJobLease:
    """:class:`scheduling.stores.JobLease` on SQLite or PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def acquire(self, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
        _checked(name, holder, ttl)
        now = utc(now, "now")
        j = JobLeaseRow
        insert = pg_insert if self._db.is_postgres else sqlite_insert
        statement = insert(j).values(name=name, holder=holder, leased_until=now + ttl, acquired_at=now)
        upsert = statement.on_conflict_do_update(
            index_elements=[j.name],
            set_={
                "holder": statement.excluded.holder,
                "leased_until": statement.excluded.leased_until,
                # a holder extending its own lease keeps the time it first took it
                "acquired_at": case((j.holder == holder, j.acquired_at), else_=statement.excluded.acquired_at),
            },
            where=or_(j.leased_until <= now, j.holder == holder),
        ).returning(j.name)
        async with self._db.write() as s:
            return (await s.execute(upsert)).first() is not None

    async def renew(self, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
        _checked(name, holder, ttl)
        j = JobLeaseRow
        async with self._db.write() as s:
            result = await s.execute(
                update(j)
                .where(j.name == name, j.holder == holder)
                .values(leased_until=utc(now, "now") + ttl)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def release(self, name: str, holder: str) -> None:
        async with self._db.write() as s:
            await s.execute(delete(JobLeaseRow).where(JobLeaseRow.name == name, JobLeaseRow.holder == holder))
