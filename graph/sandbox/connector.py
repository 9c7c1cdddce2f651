"""Sandbox-only connector: any Teams user gets a mailbox in the Graph emulator and is signed in at once.

The sign-in still runs the production MSAL code path (an on-behalf-of exchange against the emulator's
login app); only the Teams SSO token is minted here instead of by Teams. Never used in production:
app.py refuses to start with the emulator outside sandbox mode.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import datetime

from graph.identity import MsalIdentity
from graph.sandbox.model import EmUser
from graph.sandbox.state import EmulatorState
from scheduling.domain import User
from scheduling.errors import IntegrationError


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def sandbox_sso_token(*, oid: str, tenant_id: str, upn: str, name: str, audience: str) -> str:
    """An unsigned JWT shaped like a Teams SSO token (the emulator's login app accepts it)."""
    now = int(time.time())
    claims = {
        "aud": audience,
        "iss": f"https://login.microsoftonline.com/{tenant_id}/v2.0",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "oid": oid,
        "tid": tenant_id,
        "preferred_username": upn,
        "name": name,
        "scp": "access_as_user",
    }
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


class SandboxConnector:
    def __init__(
        self, state: EmulatorState, identity: MsalIdentity, client_id: str, now: Callable[[], datetime]
    ) -> None:
        self.state = state
        self.identity = identity
        self.client_id = client_id
        self.now = now

    def mailbox_of(self, user: User) -> EmUser:
        """The emulator mailbox of a Teams user, keyed by (tenant, Entra object id) as in Entra ID: created
        on first use in the user's own tenant, with their object id unless another tenant's person already
        has it (two tenants' people with one object id never share a mailbox)."""
        found = self.state.directory_user(user.tenant_id, user.aad_object_id)
        if found is not None:
            return found
        taken = self.state.get_user(user.aad_object_id) is not None
        mailbox = self.state.ensure_user(
            user.email,
            user.display_name or user.email,
            user.time_zone or "UTC",
            tenant_id=user.tenant_id or self.state.default_tenant_id,
            now=self.now(),
            user_id=None if taken else user.aad_object_id,
        )
        person = (user.tenant_id, user.aad_object_id)
        if (mailbox.tenant_id, mailbox.id) != person and self.state.directory_owner(mailbox) not in (None, person):
            raise IntegrationError(f"The sandbox mailbox {user.email} already belongs to another Teams user.")
        self.state.link_directory(user.tenant_id, user.aad_object_id, mailbox)
        return mailbox

    async def connect_without_prompt(self, user: User) -> bool:
        mailbox = self.mailbox_of(user)
        token = sandbox_sso_token(
            oid=mailbox.id,
            tenant_id=mailbox.tenant_id,
            upn=mailbox.upn,
            name=mailbox.display_name,
            audience=f"api://botid-{self.client_id}",
        )
        await self.identity.exchange_sso_token(user.id, token)
        return True

    async def disconnect(self, user: User) -> None:
        await self.identity.disconnect(user.id)
