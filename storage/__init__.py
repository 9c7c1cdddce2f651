"""Persistence adapter: SQLAlchemy 2 async models, repositories implementing the core's store ports
(scheduling.stores, scheduling.ports.TokenCacheStore), and Alembic migrations. SQLite for one process,
PostgreSQL for several replicas; invariants are enforced by the database. Must not import: graph, bot,
cards, web.
"""

from storage.api import SqlWebhookStore
from storage.db import Database, create_database
from storage.migrate import upgrade, upgrade_when_reachable
from storage.operations import SqlOperationsStore
from storage.repositories import Repositories, repositories

__all__ = [
    "Database",
    "Repositories",
    "SqlOperationsStore",
    "SqlWebhookStore",
    "create_database",
    "repositories",
    "upgrade",
    "upgrade_when_reachable",
]
