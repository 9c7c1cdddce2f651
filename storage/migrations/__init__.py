"""Alembic migrations of the Slotwise schema (run through :mod:`storage.migrate`, no alembic.ini needed)."""
