"""Persistence adapter: SQLAlchemy 2 async models, repositories implementing the core's store ports
(scheduling.stores, scheduling.ports.TokenCacheStore), and Alembic migrations. SQLite for one process,
PostgreSQL for several replicas; invariants are enforced by the database. Must not import: graph, bot,
cards, web.
"""
