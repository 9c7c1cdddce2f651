"""Connecting a host's Outlook calendar: the use cases over an identity port.

* **Silent** (``ensure_connected``): in sandbox mode the connector provisions a mailbox in the Graph
  emulator and signs the user in with no browser step; in production it only succeeds when a usable
  token cache exists and the connection is not marked broken.
* **Teams SSO** (``connect_with_sso``): the Teams token is exchanged on-behalf-of for Graph.
* **Sign-in fallback** (``sign_in_path`` → ``begin_sign_in`` → ``finish_sign_in``): authorization code
  with PKCE; ``state`` is an HMAC-signed, expiring token naming the Teams user who asked, so a callback
  can only connect the account of the person who started it.
* **Whose calendar.** Tokens belong to the person whose ``oid``/``tid`` they carry. Both the sign-in
  fallback and SSO hand back a :class:`SignedIn` (tokens held in memory, nothing stored); the core keeps
  them only when that account is the Teams user's own (same Entra object id and tenant), else raises
  :class:`~scheduling.errors.WrongAccount` and stores nothing. Sign-in and on-behalf-of run against the
  user's own tenant (guests get a token of the tenant they use Teams in, not of their home tenant).
* **Admin consent** (``admin_consent_state`` → ``finish_admin_consent``): the admin-consent link carries
  a signed state naming the host who was blocked; when the admin grants consent for that host's tenant,
  the host is told in chat (outbox ``host.consent_granted``) to connect again.
* **Failures** surface as :class:`~scheduling.errors.SignInRequired` with a ``kind`` (reconnect, consent,
  mfa). A connection that breaks is marked broken and the host gets ONE reconnect notice per day,
  not one per booking attempt.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

from scheduling.domain import ConnectionStatus, OutboxItem, User
from scheduling.errors import IntegrationError, NotFound, SignInRequired, WrongAccount
from scheduling.ports import CalendarPort, Clock
from scheduling.stores import OutboxStore, UserStore

STATE_LIFETIME = timedelta(minutes=15)
CONSENT_STATE_LIFETIME = timedelta(days=7)  # an admin may act on a forwarded link days later
_SIGN_IN = "sign-in"
_CONSENT = "consent"
_ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")


class CalendarConnector(Protocol):
    async def connect_without_prompt(self, user: User) -> bool:
        """Connect ``user`` if that needs nothing from them; True when connected."""
        ...

    async def disconnect(self, user: User) -> None:
        """Forget the user's tokens (and stop any Graph subscriptions)."""
        ...


class CalendarSyncHooks(Protocol):
    """Calendar sync's part in connecting (``scheduling.sync.CalendarSyncService``): a connected host gets a
    Graph subscription (queued, made by the sync worker); a disconnecting one loses it while their tokens
    still exist."""

    async def host_connected(self, user: User) -> None: ...

    async def host_disconnected(self, user: User) -> None: ...

    async def host_left_rotation(self, user: User) -> bool:
        """The user left a team's rotation: their subscription goes when nothing else needs it."""
        ...

    async def host_became_bookable(self, user: User) -> bool:
        """The user made a link or joined a rotation: a subscription is queued if they have none."""
        ...


@dataclass(frozen=True, slots=True)
class SignInStart:
    auth_uri: str
    flow: Mapping[str, Any]  # kept by the caller (server side or encrypted) until the callback


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Tokens just obtained for the Microsoft account ``object_id`` in ``tenant_id`` (the ``oid``/``tid``
    Microsoft vouched for), held in memory only: ``await keep()`` stores them for the Slotwise user they
    were requested for. The core calls it only after checking the account is that user's own."""

    object_id: str
    tenant_id: str
    keep: Callable[[], Awaitable[None]] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class AdminConsent:
    """What an admin-consent redirect said. ``host`` is the host the link was made for when they were told
    in chat (the consent was granted for their tenant); ``error`` a Microsoft error code when refused."""

    granted: bool
    tenant_id: str = ""
    host: User | None = None
    error: str = ""


class SignInPort(Protocol):
    """Interactive Microsoft sign-in and SSO (the identity adapter). Nothing it obtains is stored until the
    core calls :meth:`SignedIn.keep`."""

    async def begin(
        self, state: str, *, tenant_id: str | None, login_hint: str | None, claims: str | None
    ) -> SignInStart: ...

    async def complete(
        self, user_id: str, flow: Mapping[str, Any], response: Mapping[str, str], *, tenant_id: str | None
    ) -> SignedIn: ...

    async def exchange_sso(self, user_id: str, token: str, claims: str | None = None) -> SignedIn: ...

    def admin_consent_url(self, tenant_id: str | None, state: str | None = None) -> str: ...


def _same_id(a: str, b: str) -> bool:
    """Entra ids (GUIDs) compare case-insensitively; an empty id never matches."""
    return bool(a.strip()) and a.strip().lower() == b.strip().lower()


def require_own_account(user: User, signed_in: SignedIn) -> None:
    """The rule: tokens are kept for ``user`` only when they were issued to ``user`` (same Entra object id
    and tenant as the Teams identity). Anyone else's account raises WrongAccount."""
    if not (_same_id(signed_in.object_id, user.aad_object_id) and _same_id(signed_in.tenant_id, user.tenant_id)):
        raise WrongAccount()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ConnectionService:
    def __init__(
        self,
        *,
        users: UserStore,
        connector: CalendarConnector,
        calendar: CalendarPort,
        sign_in: SignInPort | None = None,
        outbox: OutboxStore | None = None,
        clock: Clock | None = None,
        state_secret: bytes = b"",
        sync: CalendarSyncHooks | None = None,
    ) -> None:
        self._users = users
        self.connector = connector
        self.calendar = calendar
        self.sign_in = sign_in
        self._outbox = outbox
        self.clock = clock
        self._secret = state_secret
        self.sync = sync  # set once calendar sync is built (it needs the booking service, which needs us)

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
        try:
            signed_in = await self.sign_in.exchange_sso(user.id, token, claims)
        except SignInRequired as exc:
            self._add_consent_link(user, exc)
            raise
        require_own_account(user, signed_in)
        await signed_in.keep()
        return await self.mark_connected(user)

    async def mark_connected(self, user: User) -> User:
        """Record a new connection and take the time zone from the mailbox settings."""
        await self._users.set_connection(user.id, ConnectionStatus.CONNECTED)
        fresh = replace(user, connection_status=ConnectionStatus.CONNECTED, connection_error="")
        try:
            defaults = await self.calendar.mailbox_defaults(fresh.host_calendar())
        except IntegrationError:
            defaults = None
        if defaults is not None and defaults.time_zone and defaults.time_zone != user.time_zone:
            fresh = await self._users.upsert(replace(fresh, time_zone=defaults.time_zone))
        if self.sync is not None:
            # (on failure, the sync job's periodic check subscribes connected hosts that have no subscription)
            with contextlib.suppress(IntegrationError):
                await self.sync.host_connected(fresh)
        return fresh

    async def disconnect(self, user: User) -> None:
        if self.sync is not None:
            # (on failure, Graph lets the subscription expire; its notifications match nothing any more)
            with contextlib.suppress(IntegrationError):
                await self.sync.host_disconnected(user)
        await self.connector.disconnect(user)
        await self._users.set_connection(user.id, ConnectionStatus.NOT_CONNECTED)

    async def mark_broken(self, user_id: str, reason: str) -> None:
        """Mark the connection broken; the first time (per day) the host is sent a reconnect notice."""
        user = await self._users.get(user_id)
        if user is None:
            return
        await self._users.set_connection(user_id, ConnectionStatus.BROKEN, reason)
        if self._outbox is None or self.clock is None or user.connection_status is ConnectionStatus.BROKEN:
            return
        day = self.clock.now().date().isoformat()
        await self._outbox.enqueue(
            [
                OutboxItem(
                    "host.reconnect",
                    user.tenant_id,
                    {
                        "hostId": user.id,
                        "hostName": user.display_name,
                        "reason": reason,
                        "signInPath": self.sign_in_path(user),
                    },
                    f"host.reconnect:{user.id}:{day}",
                )
            ]
        )

    # ---------------------------------------------------------------- sign-in fallback

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())

    def _state(self, user: User, purpose: str, lifetime: timedelta) -> str:
        if self.clock is None or not self._secret:
            raise NotFound("Sign-in is not configured.")
        expires = int((self.clock.now() + lifetime).timestamp())
        body = _b64(json.dumps({"u": user.id, "e": expires, "p": purpose}, separators=(",", ":")).encode())
        return f"{body}.{self._sign(body)}"

    def _state_user_id(self, state: str, purpose: str) -> str | None:
        """The user id a state of ``purpose`` was issued for; None when forged, expired or another kind."""
        body, _, signature = state.partition(".")
        if not body or self.clock is None:
            return None
        if not hmac.compare_digest(signature.encode(), self._sign(body).encode()):  # bytes: any text is comparable
            return None
        try:
            data = json.loads(_unb64(body))
            user_id, expires, kind = str(data["u"]), int(data["e"]), str(data["p"])
        except (ValueError, KeyError, TypeError):
            return None
        if kind != purpose or self.clock.now() > datetime.fromtimestamp(expires, self.clock.now().tzinfo):
            return None
        return user_id

    def sign_in_state(self, user: User) -> str:
        return self._state(user, _SIGN_IN, STATE_LIFETIME)

    def admin_consent_state(self, user: User) -> str:
        """The ``state`` of an admin-consent link made for ``user`` (who was blocked by their tenant)."""
        return self._state(user, _CONSENT, CONSENT_STATE_LIFETIME)

    def _add_consent_link(self, user: User, exc: SignInRequired) -> None:
        """Give a consent failure an admin-consent link for ``user``'s tenant whose state names ``user``, so the
        consent landing can tell them once the admin has approved."""
        if exc.kind == "consent" and self.sign_in is not None and self.clock is not None and self._secret:
            exc.admin_consent_url = self.sign_in.admin_consent_url(
                user.tenant_id or None, self.admin_consent_state(user)
            )

    def sign_in_path(self, user: User, claims: str | None = None) -> str:
        """The relative URL (``/auth/start?...``) that starts a sign-in for ``user``."""
        params = {"state": self.sign_in_state(user)}
        if claims:
            params["claims"] = claims
        return "/auth/start?" + urlencode(params)

    async def user_for_state(self, state: str) -> User:
        """The Teams user a state was issued to; NotFound when forged, expired or unknown."""
        problem = NotFound("This sign-in link is not valid any more. Ask the bot to 'connect' again.")
        user_id = self._state_user_id(state, _SIGN_IN)
        user = await self._users.get(user_id) if user_id is not None else None
        if user is None:
            raise problem
        return user

    async def begin_sign_in(self, state: str, claims: str | None = None) -> SignInStart:
        user = await self.user_for_state(state)
        if self.sign_in is None:
            raise NotFound("Sign-in is not configured.")
        return await self.sign_in.begin(
            state, tenant_id=user.tenant_id or None, login_hint=user.email or None, claims=claims
        )

    async def finish_sign_in(self, state: str, flow: Mapping[str, Any], response: Mapping[str, str]) -> User:
        """Complete the callback for the user ``state`` names; tells them in chat that it worked."""
        user = await self.user_for_state(state)
        if self.sign_in is None:
            raise NotFound("Sign-in is not configured.")
        if response.get("state") != state or flow.get("state") != state:
            raise SignInRequired("This sign-in did not come from the link you were given. Please try again.")
        if "error" in response:
            raise SignInRequired(str(response.get("error_description") or response["error"])[:300])
        try:
            signed_in = await self.sign_in.complete(user.id, flow, response, tenant_id=user.tenant_id or None)
        except SignInRequired as exc:
            self._add_consent_link(user, exc)
            raise
        require_own_account(user, signed_in)  # someone else finished the sign-in: nothing is stored
        await signed_in.keep()
        connected = await self.mark_connected(user)
        if self._outbox is not None:
            await self._outbox.enqueue(
                [
                    OutboxItem(
                        "host.connected",
                        user.tenant_id,
                        {"hostId": user.id, "hostName": user.display_name, "timeZone": connected.time_zone},
                        f"host.connected:{user.id}:{state[-16:]}",
                    )
                ]
            )
        return connected

    # ---------------------------------------------------------------- admin consent

    async def finish_admin_consent(self, params: Mapping[str, str]) -> AdminConsent:
        """The admin-consent redirect (``admin_consent=True&tenant=...&state=...``, or ``error=...``).

        When consent was granted for the tenant of the host the link was made for, that host is told in
        chat (once per link) to connect again. A missing, forged or expired state still shows the admin
        that consent was granted; it only tells nobody."""
        tenant = params.get("tenant", "").strip()
        code = params.get("error", "").strip().lower()
        granted = params.get("admin_consent", "").strip().lower() == "true" and not code
        if not granted:
            return AdminConsent(False, tenant, error=code if _ERROR_CODE.match(code) else "")
        state = params.get("state", "")
        user_id = self._state_user_id(state, _CONSENT)
        host = await self._users.get(user_id) if user_id is not None else None
        if host is None or not _same_id(tenant, host.tenant_id):
            return AdminConsent(True, tenant)
        if self._outbox is not None:
            await self._outbox.enqueue(
                [
                    OutboxItem(
                        "host.consent_granted",
                        host.tenant_id,
                        {"hostId": host.id, "hostName": host.display_name},
                        f"host.consent_granted:{host.id}:{state[-16:]}",
                    )
                ]
            )
        return AdminConsent(True, tenant, host)
