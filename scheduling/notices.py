"""What a person is to be told, queued in the outbox: the use cases that enqueue messages which are not part
of a booking change (those are written by the booking use cases in the same transaction as the change).
``scheduling.delivery`` delivers them.

Every notice names its recipient (``hostId``) and carries a dedupe key made of its kind, the recipient and
an occasion the caller names (an SSO exchange id, a Teams activity), so the same occasion never queues two
messages, whichever replica saw it.
"""

from __future__ import annotations

from collections.abc import Mapping

from scheduling.domain import OutboxItem, User
from scheduling.stores import OutboxStore

HOST_CONNECTED = "host.connected"


class NoticeService:
    def __init__(self, *, outbox: OutboxStore) -> None:
        self._outbox = outbox

    async def tell(self, user: User, kind: str, occasion: str, payload: Mapping[str, object] | None = None) -> bool:
        """Queue a ``kind`` message for ``user`` (in their tenant); False when this occasion already queued one."""
        if not occasion:
            raise ValueError("a notice needs an occasion: it is what makes a repeat the same notice")
        body = {**(payload or {}), "hostId": user.id}
        return await self._outbox.enqueue([OutboxItem(kind, user.tenant_id, body, f"{kind}:{user.id}:{occasion}")]) > 0

    async def host_connected(self, user: User, occasion: str) -> bool:
        """Tell a host their calendar is now connected (with the zone Slotwise took from their mailbox)."""
        return await self.tell(
            user, HOST_CONNECTED, occasion, {"hostName": user.display_name, "timeZone": user.time_zone}
        )
