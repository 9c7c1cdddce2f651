"""Storage test fixtures: every store test runs once on SQLite and once on PostgreSQL.

* ``db_kind`` / ``db_url`` / ``db`` come from :mod:`tests.storage.fixtures` (a migrated database per kind
  for the session; a :class:`storage.db.Database` on it with every table emptied, per test);
* ``clock``: a settable clock; ``repos``: every repository built on ``db`` with that clock.
"""

from __future__ import annotations

import pytest

from storage.db import Database
from storage.repositories import Repositories, repositories
from tests.storage.fixtures import db, db_kind, db_url  # noqa: F401 - fixtures, found by name
from tests.storage.helpers import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def repos(db: Database, clock: FakeClock) -> Repositories:  # noqa: F811 - the db fixture
    return repositories(db, clock=clock)
