"""One turn as the bot sees it: who is acting (tenant + Entra object id -> a Slotwise user), in which
time zone they look at times, where their personal chat is (the conversation reference), and what an
error card needs to know (``ErrorScope``).

* Tenant: ``channelData.tenant.id`` (teams-facts §0.2: ``conversation.tenant_id`` is None under
  CloudAdapter), with ``conversation.tenantId`` as a fallback.
* User: ``PeopleService.teams_user`` keyed by (tenant, ``from.aadObjectId``). The mailbox address comes
  from the Teams roster (``TeamsInfo.get_member``: email / UPN) while it is unknown; in sandbox mode a
  user the roster does not describe gets a made-up sandbox address so the Graph emulator can give them
  a mailbox.
* Viewer zone: the clientInfo entity's ``timezone``, else ``localTimezone``, else the user's stored
  zone, else the host's (the caller's fallback), else UTC.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import Activity, ConversationReference

from bot.deps import BotDeps
from scheduling.domain import EventType, User
from scheduling.errors import SlotwiseError
from scheduling.people import Profile
from scheduling.timezones import is_valid_zone

log = logging.getLogger("slotwise.bot")

Json = dict[str, Any]
MEMBER_LOOKUP_SECONDS = 5.0
SANDBOX_MAIL_DOMAIN = "sandbox.slotwise.example"


class UnknownSender(SlotwiseError):
    """The activity does not say which tenant and Entra account it comes from."""

    code = "unknown_sender"

    def __init__(self) -> None:
        super().__init__(
            "I can't tell who you are: this message came without a Microsoft 365 organisation "
            "and account. Please talk to Slotwise from Microsoft Teams."
        )


@dataclass
class ErrorScope:
    """What the error mapping (bot.errors) may use to make an error card helpful. Filled in as a turn
    learns things: the acting user, the link being viewed, the zone times are shown in..."""

    viewer_id: str | None = None
    sign_in: Callable[[str | None], str] | None = None  # the viewer's sign-in URL (optionally with MFA claims)
    link: EventType | None = None
    viewer_tz: str = "UTC"
    duration: int | None = None
    booking_id: str | None = None  # the booking being rescheduled, if any
    form: Callable[[Mapping[str, str]], Json] | None = None  # re-renders the submitted form with errors


def tenant_of(activity: Activity) -> str:
    data = activity.channel_data
    if isinstance(data, Mapping):
        tenant = data.get("tenant")
        if isinstance(tenant, Mapping) and isinstance(tenant.get("id"), str) and tenant["id"]:
            return str(tenant["id"])
    conversation = activity.conversation
    if conversation is not None:
        extra = getattr(conversation, "additional_properties", None) or {}
        value = conversation.tenant_id or extra.get("tenantId")
        if isinstance(value, str):
            return value
    return ""


def client_zone(activity: Activity) -> str | None:
    """The zone the viewer's Teams client reports: clientInfo entity, else ``localTimezone``."""
    for entity in activity.entities or []:
        if getattr(entity, "type", None) == "clientInfo":
            extra = getattr(entity, "additional_properties", None) or {}
            zone_name = extra.get("timezone")
            if isinstance(zone_name, str) and is_valid_zone(zone_name):
                return zone_name
    local = activity.local_timezone
    return local if isinstance(local, str) and is_valid_zone(local) else None


def is_personal(activity: Activity) -> bool:
    conversation = activity.conversation
    if conversation is None:
        return False
    if conversation.conversation_type:
        return bool(conversation.conversation_type == "personal")
    return not conversation.is_group


def conversation_reference(activity: Activity, tenant_id: str) -> dict[str, Any]:
    """What is stored to message this conversation later: the reference (without the message id, so
    it only changes when the conversation does) and the tenant, which the reference itself drops."""
    reference = TurnContext.get_conversation_reference(activity)
    reference.activity_id = None
    return conversation_reference_of(reference, tenant_id)


def conversation_reference_of(reference: ConversationReference, tenant_id: str) -> dict[str, Any]:
    """What is stored for ``reference`` (see :func:`conversation_reference`)."""
    return {"tenantId": tenant_id, "reference": reference.serialize()}


def stored_reference(stored: Mapping[str, object] | None) -> tuple[ConversationReference, str] | None:
    """(reference, tenant id) from what :func:`conversation_reference` stored; None if unusable."""
    if stored is None or not isinstance(data := stored.get("reference"), Mapping):
        return None
    reference = ConversationReference().deserialize(dict(data))
    if not reference.service_url or reference.conversation is None or not reference.conversation.id:
        return None
    tenant = stored.get("tenantId")
    return reference, tenant if isinstance(tenant, str) else ""


def sandbox_email(name: str, aad_object_id: str, tenant_id: str) -> str:
    """A made-up mailbox address for a sandbox user: unique per (tenant, object id), so two tenants'
    people with the same object id never share an emulator mailbox."""
    words = re.sub(r"[^a-z0-9]+", ".", name.lower()).strip(".")[:40] or "user"
    person = re.sub(r"[^a-z0-9]", "", aad_object_id.lower())[-8:] or "0"
    tenant = re.sub(r"[^a-z0-9]", "", tenant_id.lower())[-6:] or "0"
    return f"{words}.{person}.{tenant}@{SANDBOX_MAIL_DOMAIN}"


class Turn:
    """The current turn: the Teams activity, the bot's dependencies, and the (lazily resolved) actor."""

    def __init__(self, context: TurnContext, deps: BotDeps) -> None:
        self.context = context
        self.deps = deps
        self.scope = ErrorScope()
        self._actor: User | None = None

    @property
    def activity(self) -> Activity:
        return self.context.activity

    @property
    def tenant_id(self) -> str:
        return tenant_of(self.activity)

    @property
    def trigger(self) -> Literal["automatic", "manual"]:
        """How an ``adaptiveCard/action`` was started: a card refresh, or a click (teams-facts §0.3)."""
        value = self.activity.value
        if isinstance(value, Mapping) and value.get("trigger") == "automatic":
            return "automatic"
        return "manual"

    def now(self) -> datetime:
        return self.deps.clock.now()

    @property
    def known_actor(self) -> User | None:
        return self._actor

    async def actor(self) -> User:
        """The Slotwise user behind ``from.aadObjectId`` in this tenant, created on first contact."""
        if self._actor is not None:
            return self._actor
        tenant, sender = self.tenant_id, self.activity.from_property
        aad = sender.aad_object_id if sender is not None else None
        if not tenant or not aad or sender is None:
            raise UnknownSender()
        member_id = sender.id or ""

        def invent(name: str) -> str:
            return sandbox_email(name, aad, tenant)

        user = await self.deps.people.teams_user(
            tenant,
            aad,
            sender.name or "",
            lambda: self._member_profile(member_id),
            time_zone=client_zone(self.activity),
            invent_email=invent if self.deps.sandbox else None,
        )
        self._set_actor(user)
        return user

    def _set_actor(self, user: User) -> None:
        self._actor = user
        self.scope.viewer_id = user.id
        self.scope.sign_in = lambda claims: self.sign_in_url(user, claims)

    def refresh_actor(self, user: User) -> User:
        """Remember a newer copy of the actor (after connecting, saving the profile...)."""
        self._set_actor(user)
        return user

    async def _member_profile(self, member_id: str) -> Profile | None:
        """Name and mailbox address from the Teams roster; None when the roster can't be read."""
        if not member_id:
            return None
        try:
            member = await asyncio.wait_for(TeamsInfo.get_member(self.context, member_id), MEMBER_LOOKUP_SECONDS)
        except Exception as exc:  # the roster is a nicety: any failure means "unknown"
            log.info("could not read the Teams roster entry of %s: %s", member_id, exc)
            return None
        email = (getattr(member, "email", None) or getattr(member, "user_principal_name", None) or "").strip()
        return Profile(name=(getattr(member, "name", None) or "").strip(), email=email)

    def sign_in_url(self, user: User, claims: str | None = None) -> str:
        """Where ``user`` signs in to Microsoft (the signed, expiring ``/auth/start`` link)."""
        return self.deps.url(self.deps.connections.sign_in_path(user, claims))

    async def viewer_zone(self, host: User | None = None) -> str:
        """Where the viewer's times are shown: client zone, else their stored zone, else the host's."""
        detected = client_zone(self.activity)
        if detected:
            return detected
        try:
            user = await self.actor()
        except UnknownSender:
            user = None
        for candidate in (user.time_zone if user else "", host.time_zone if host else ""):
            if candidate and is_valid_zone(candidate):
                return candidate
        return "UTC"
