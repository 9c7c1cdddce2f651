"""Sandbox-only connectors: any Teams user gets a mailbox in the Graph emulator and is signed in at once.

:class:`SandboxConnector` works on an emulator inside the app's own process (``EmulatorState``);
:class:`RemoteSandboxConnector` on an emulator running as its own process (``python -m graph.sandbox
--admin-token T``), through its admin API (``graph.sandbox.admin``) over HTTP, so several app replicas can
share one emulator. Both create the mailbox by the same rule (:func:`graph.sandbox.admin.mailbox_for_person`).

The sign-in still runs the production MSAL code path (an on-behalf-of exchange against the emulator's
login app); only the Teams SSO token is minted here instead of by Teams. Never used in production:
app.py refuses to start with the emulator outside sandbox mode.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from graph.identity import MsalIdentity
from graph.sandbox.admin import MailboxTaken, mailbox_for_person
from graph.sandbox.model import EmUser
from graph.sandbox.state import EmulatorState
from scheduling.domain import User
from scheduling.errors import IntegrationError

ADMIN_RETRY_DELAYS = (0.2, 0.5, 1.0)  # the emulator process restarting or busy: a few tries, then a clear error


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


@dataclass(frozen=True, slots=True)
class SandboxMailbox:
    """A mailbox of an emulator in another process, as its admin API describes it (the fields of ``EmUser``
    the connectors and the sandbox bootstrap read)."""

    id: str
    upn: str
    display_name: str
    tenant_id: str
    time_zone: str

    @classmethod
    def from_json(cls, data: Any) -> SandboxMailbox:
        try:
            return cls(
                id=str(data["id"]),
                upn=str(data["upn"]),
                display_name=str(data.get("displayName") or data["upn"]),
                tenant_id=str(data.get("tenantId") or ""),
                time_zone=str(data.get("timeZone") or "UTC"),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise IntegrationError("The sandbox Graph emulator answered with an unexpected mailbox.") from exc


async def _sign_in(identity: MsalIdentity, client_id: str, user: User, mailbox: EmUser | SandboxMailbox) -> bool:
    token = sandbox_sso_token(
        oid=mailbox.id,
        tenant_id=mailbox.tenant_id,
        upn=mailbox.upn,
        name=mailbox.display_name,
        audience=f"api://botid-{client_id}",
    )
    await identity.exchange_sso_token(user.id, token)
    return True


class SandboxConnector:
    def __init__(
        self, state: EmulatorState, identity: MsalIdentity, client_id: str, now: Callable[[], datetime]
    ) -> None:
        self.state = state
        self.identity = identity
        self.client_id = client_id
        self.now = now

    def mailbox_of(self, user: User) -> EmUser:
        """The emulator mailbox of a Teams user (:func:`graph.sandbox.admin.mailbox_for_person`)."""
        try:
            return mailbox_for_person(
                self.state,
                tenant_id=user.tenant_id,
                object_id=user.aad_object_id,
                upn=user.email,
                display_name=user.display_name or user.email,
                time_zone=user.time_zone or "UTC",
                now=self.now(),
            )
        except MailboxTaken as exc:
            raise IntegrationError(str(exc)) from exc

    async def find_mailbox(self, upn: str) -> EmUser | None:
        return self.state.get_user(upn)

    async def connect_without_prompt(self, user: User) -> bool:
        return await _sign_in(self.identity, self.client_id, user, self.mailbox_of(user))

    async def disconnect(self, user: User) -> None:
        await self.identity.disconnect(user.id)


class RemoteSandboxConnector:
    """The sandbox connector for an emulator process at ``base_url`` (``http://127.0.0.1:8765``), whose admin
    API takes ``admin_token``. Call :meth:`aclose` when done."""

    def __init__(
        self,
        base_url: str,
        admin_token: str,
        identity: MsalIdentity,
        client_id: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.identity = identity
        self.client_id = client_id
        self._http = httpx.AsyncClient(
            base_url=f"{self.base_url}/_admin",
            headers={"Authorization": f"Bearer {admin_token}"},
            transport=transport,
            timeout=timeout,
        )

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """One admin call, tried again after a transport error or a 5xx (the emulator restarting)."""
        for delay in (*ADMIN_RETRY_DELAYS, None):
            try:
                response = await self._http.request(method, path, json=body)
            except httpx.TransportError as exc:
                if delay is None:
                    raise IntegrationError(
                        f"The sandbox Graph emulator at {self.base_url} can't be reached ({type(exc).__name__})."
                    ) from exc
            else:
                if response.status_code < 500 or delay is None:
                    break
            await asyncio.sleep(delay)
        if response.status_code == 401:
            raise IntegrationError(
                f"The sandbox Graph emulator at {self.base_url} refused the admin token: set "
                "SLOTWISE_SANDBOX_EMULATOR_TOKEN to the emulator's --admin-token."
            )
        return response

    @staticmethod
    def _message(response: httpx.Response) -> str:
        try:
            return str(response.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            return f"The sandbox Graph emulator answered {response.status_code}."

    async def mailbox_of(self, user: User) -> SandboxMailbox:
        """The emulator mailbox of a Teams user, created on first use (``POST /_admin/mailboxes``)."""
        response = await self._call(
            "POST",
            "/mailboxes",
            {
                "tenantId": user.tenant_id,
                "oid": user.aad_object_id,
                "upn": user.email,
                "displayName": user.display_name or user.email,
                "timeZone": user.time_zone or "UTC",
            },
        )
        if response.status_code != 200:
            raise IntegrationError(self._message(response))
        return SandboxMailbox.from_json(response.json())

    async def find_mailbox(self, upn: str) -> SandboxMailbox | None:
        """The mailbox with this address, if the emulator has one."""
        response = await self._call("GET", f"/mailboxes/{quote(upn, safe='@')}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise IntegrationError(self._message(response))
        return SandboxMailbox.from_json(response.json())

    async def connect_without_prompt(self, user: User) -> bool:
        return await _sign_in(self.identity, self.client_id, user, await self.mailbox_of(user))

    async def disconnect(self, user: User) -> None:
        await self.identity.disconnect(user.id)

    async def aclose(self) -> None:
        await self._http.aclose()
