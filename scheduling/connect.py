"""Connecting a host's Outlook calendar: the use cases over an identity port.

* **Silent** (``ensure_connected``): in sandbox mode the connector provisions a mailbox in the Graph
  emulator and signs the user in with no browser step; in production it only succeeds when a usable
  token cache exists and the connection is not marked broken.
* **Teams SSO** (``connect_with_sso``): the Teams token is exchanged on-behalf-of for Graph.
* **Sign-in fallback** (``sign_in_path`` → ``begin_sign_in`` → ``finish_sign_in``): authorization code
  with PKCE; ``state`` is an HMAC-signed, expiring token naming the Teams user who asked, so a callback
  can only connect the account of the person who started it.
* **Failures** surface as :class:`~scheduling.errors.SignInRequired` with a ``kind`` (reconnect, consent,
  mfa). A connection that breaks is marked broken and the host gets ONE reconnect notice per day,
  not one per booking attempt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

from scheduling.domain import ConnectionStatus, OutboxItem, User
from scheduling.errors import IntegrationError, NotFound, SignInRequired
from scheduling.ports import CalendarPort, Clock
from scheduling.stores import OutboxStore, UserStore

STATE_LIFETIME = timedelta(minutes=15)


class CalendarConnector(Protocol):
    async def connect_without_prompt(self, user: User) -> bool:
        """Connect ``user`` if that needs nothing from them; True when connected."""
        ...

    async def disconnect(self, user: User) -> None:
        """Forget the user's tokens (and stop any Graph subscriptions)."""
        ...


@dataclass(frozen=True, slots=True)
class SignInStart:
    auth_uri: str
    flow: Mapping[str, Any]  # kept by the caller (server side or encrypted) until the callback


class SignInPort(Protocol):
    """Interactive Microsoft sign-in (the identity adapter)."""

    async def begin(self, state: str, *, login_hint: str | None, claims: str | None) -> SignInStart: ...

    async def complete(self, user_id: str, flow: Mapping[str, Any], response: Mapping[str, str]) -> None: ...

    async def exchange_sso(self, user_id: str, token: str, claims: str | None = None) -> None: ...

    def admin_consent_url(self, tenant_id: str | None) -> str: ...


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ConnectionService:
    def __init__(self, *, users: UserStore, connector: CalendarConnector, calendar: CalendarPort,
                 sign_in: SignInPort | None = None, outbox: OutboxStore | None = None,
                 clock: Clock | None = None, state_secret: bytes = b"") -> None:
        self.users = users
        self.connector = connector
        self.calendar = calendar
        self.sign_in = sign_in
        self.outbox = outbox
        self.clock = clock
        self._secret = state_secret

    # ---------------------------------------------------------------- silent and SSO

    async def ensure_connected(self, user: User) -> User | None:
        """The user, connected (with their mailbox's time zone), or None when they must sign in."""
        if user.connection_status is ConnectionStatus.CONNECTED:
            return user
        try:
            connected = await self.connector.connect_without_prompt(user)
        except IntegrationError as exc:
            await self.mark_broken(user.id, exc.message)
            return None
        if not connected:
            return None
        return await self.mark_connected(user)

    async def connect_with_sso(self, user: User, token: str, claims: str | None = None) -> User:
        """Teams SSO: exchange the Teams token; raises SignInRequired (consent, mfa) when it can't."""
        if self.sign_in is None:
            raise NotFound("Single sign-on is not configured.")
        await self.sign_in.exchange_sso(user.id, token, claims)
        return await self.mark_connected(user)

    async def mark_connected(self, user: User) -> User:
        """Record a new connection and take the time zone from the mailbox settings."""
        await self.users.set_connection(user.id, ConnectionStatus.CONNECTED)
        fresh = replace(user, connection_status=ConnectionStatus.CONNECTED, connection_error="")
        try:
            defaults = await self.calendar.mailbox_defaults(fresh.host_calendar())
        except IntegrationError:
            return fresh
        if defaults.time_zone and defaults.time_zone != user.time_zone:
            fresh = await self.users.upsert(replace(fresh, time_zone=defaults.time_zone))
        return fresh

    async def disconnect(self, user: User) -> None:
        await self.connector.disconnect(user)
        await self.users.set_connection(user.id, ConnectionStatus.NOT_CONNECTED)

    async def mark_broken(self, user_id: str, reason: str) -> None:
        """Mark the connection broken; the first time (per day) the host is sent a reconnect notice."""
        user = await self.users.get(user_id)
        if user is None:
            return
        await self.users.set_connection(user_id, ConnectionStatus.BROKEN, reason)
        if self.outbox is None or self.clock is None or user.connection_status is ConnectionStatus.BROKEN:
            return
        day = self.clock.now().date().isoformat()
        await self.outbox.enqueue([OutboxItem(
            "host.reconnect", user.tenant_id,
            {"hostId": user.id, "hostName": user.display_name, "reason": reason,
             "signInPath": self.sign_in_path(user)},
            f"host.reconnect:{user.id}:{day}")])

    # ---------------------------------------------------------------- sign-in fallback

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())

    def sign_in_state(self, user: User) -> str:
        if self.clock is None or not self._secret:
            raise NotFound("Sign-in is not configured.")
        expires = int((self.clock.now() + STATE_LIFETIME).timestamp())
        body = _b64(json.dumps({"u": user.id, "e": expires}, separators=(",", ":")).encode())
        return f"{body}.{self._sign(body)}"

    def sign_in_path(self, user: User, claims: str | None = None) -> str:
        """The relative URL (``/auth/start?...``) that starts a sign-in for ``user``."""
        params = {"state": self.sign_in_state(user)}
        if claims:
            params["claims"] = claims
        return "/auth/start?" + urlencode(params)

    async def user_for_state(self, state: str) -> User:
        """The Teams user a state was issued to; NotFound when forged, expired or unknown."""
        problem = NotFound("This sign-in link is not valid any more. Ask the bot to 'connect' again.")
        body, _, signature = state.partition(".")
        if not body or not hmac.compare_digest(signature, self._sign(body)) or self.clock is None:
            raise problem
        try:
            data = json.loads(_unb64(body))
            user_id, expires = str(data["u"]), int(data["e"])
        except (ValueError, KeyError, TypeError) as exc:
            raise problem from exc
        if self.clock.now() > datetime.fromtimestamp(expires, self.clock.now().tzinfo):
            raise problem
        user = await self.users.get(user_id)
        if user is None:
            raise problem
        return user

    async def begin_sign_in(self, state: str, claims: str | None = None) -> SignInStart:
        user = await self.user_for_state(state)
        if self.sign_in is None:
            raise NotFound("Sign-in is not configured.")
        return await self.sign_in.begin(state, login_hint=user.email or None, claims=claims)

    async def finish_sign_in(self, state: str, flow: Mapping[str, Any], response: Mapping[str, str]) -> User:
        """Complete the callback for the user ``state`` names; tells them in chat that it worked."""
        user = await self.user_for_state(state)
        if self.sign_in is None:
            raise NotFound("Sign-in is not configured.")
        if response.get("state") != state or flow.get("state") != state:
            raise SignInRequired("This sign-in did not come from the link you were given. Please try again.")
        if "error" in response:
            raise SignInRequired(str(response.get("error_description") or response["error"])[:300])
        await self.sign_in.complete(user.id, flow, response)
        connected = await self.mark_connected(user)
        if self.outbox is not None:
            await self.outbox.enqueue([OutboxItem(
                "host.connected", user.tenant_id,
                {"hostId": user.id, "hostName": user.display_name, "timeZone": connected.time_zone},
                f"host.connected:{user.id}:{state[-16:]}")])
        return connected
