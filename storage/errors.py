"""The storage adapter's one addition to the error tree: the database itself is unavailable.

Everything a user can cause (a taken slot, a duplicate slug, a stale version, an unknown id) is mapped
to :mod:`scheduling.errors` by the repository that sees it. What remains is the database being down,
locked for too long, or dropping the connection: :class:`StorageUnavailable`, an IntegrationError, so
the core fails closed and the adapters show "try again" instead of a stack trace.
"""

from __future__ import annotations

from scheduling.errors import IntegrationError


class StorageUnavailable(IntegrationError):
    code = "storage_unavailable"

    def __init__(
        self, message: str = "Slotwise can't reach its database right now. Please try again in a minute."
    ) -> None:
        super().__init__(message)
