"""The people Slotwise knows: who a Teams identity is, where their personal chat is, their time zone.

A person is (tenant id, Entra object id), as the channel vouched for it (a Teams activity), never an email
or a display name: both can be set by the person. The first contact creates the Slotwise user; their mailbox
address comes from what the channel says about them (the Teams roster), read only while it is unknown.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

from scheduling.domain import User
from scheduling.errors import ValidationFailed
from scheduling.stores import OutboxStore, UserStore
from scheduling.timezones import is_valid_zone

DEFAULT_NAME = "Teams user"


@dataclass(frozen=True, slots=True)
class Profile:
    """What the channel's directory says about a person (the Teams roster): a name and a mailbox address."""

    name: str = ""
    email: str = ""


def _nothing() -> None:
    return None


class PeopleService:
    """``reachable`` is called after messages held for a person were released (they can be reached now): the
    app wakes the delivery runner with it, so those messages go out at once."""

    def __init__(
        self,
        *,
        users: UserStore,
        outbox: OutboxStore,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        reachable: Callable[[], None] = _nothing,
    ) -> None:
        self._users = users
        self._outbox = outbox
        self._new_id = new_id
        self._reachable = reachable

    async def teams_user(
        self,
        tenant_id: str,
        aad_object_id: str,
        name: str,
        profile: Callable[[], Awaitable[Profile | None]],
        *,
        time_zone: str | None = None,
        invent_email: Callable[[str], str] | None = None,
    ) -> User:
        """The Slotwise user behind a Teams identity, created on first contact.

        ``name`` is the display name the activity carries (kept up to date). ``profile`` is asked, only while
        the user has no mailbox address yet, for what the directory says (None when it can't be read);
        ``invent_email`` (sandbox mode) makes up an address from a name when nobody knows one. A new user's
        time zone is ``time_zone`` (the client's) or UTC."""
        if not tenant_id or not aad_object_id:
            raise ValidationFailed({"from": "A Teams user needs a tenant id and an Entra object id."})
        name = name.strip()
        user = await self._users.get_by_aad(tenant_id, aad_object_id)
        if user is not None and user.email:
            if name and name != user.display_name:
                return await self._users.upsert(replace(user, display_name=name))
            return user
        found = await profile()
        email = (found.email if found else "") or (user.email if user else "")
        if not email and invent_email is not None:
            email = invent_email(name or (found.name if found else ""))
        display = (found.name if found else "") or name or email or DEFAULT_NAME
        if user is None:
            user = User(
                id=self._new_id(),
                tenant_id=tenant_id,
                aad_object_id=aad_object_id,
                display_name=display,
                email=email,
                time_zone=time_zone if time_zone and is_valid_zone(time_zone) else "UTC",
            )
        else:
            user = replace(user, display_name=display, email=email)
        return await self._users.upsert(user)

    async def current(self, user: User) -> User:
        """The stored copy of ``user`` (their connection may have changed meanwhile), or ``user`` if gone."""
        return await self._users.get(user.id) or user

    async def member(self, tenant_id: str, user_id: str) -> User | None:
        """The user ``user_id`` when they belong to ``tenant_id``; None otherwise."""
        user = await self._users.get(user_id)
        return user if user is not None and user.tenant_id == tenant_id else None

    async def remember_conversation(self, user: User, reference: Mapping[str, object]) -> User:
        """Keep where ``user``'s personal chat with Slotwise is (written only when it changed), and release the
        messages held until they could be reached (``scheduling.delivery``)."""
        if user.conversation_reference == reference:
            return user
        await self._users.set_conversation_reference(user.id, reference)
        if reference and await self._outbox.release_held(user.id):
            self._reachable()
        return replace(user, conversation_reference=dict(reference))

    async def forget_conversation(self, tenant_id: str, aad_object_id: str) -> None:
        """The Teams identity removed Slotwise from their personal scope: no more messages to that chat."""
        user = await self._users.get_by_aad(tenant_id, aad_object_id) if tenant_id and aad_object_id else None
        if user is not None and user.conversation_reference:
            await self._users.set_conversation_reference(user.id, {})

    async def set_time_zone(self, user: User, time_zone: str) -> User:
        """Save ``user``'s own time zone (an IANA name)."""
        if not is_valid_zone(time_zone):
            raise ValidationFailed({"timeZone": f"'{time_zone}' is not a time zone we know; pick one from the list."})
        return await self._users.upsert(replace(user, time_zone=time_zone))
