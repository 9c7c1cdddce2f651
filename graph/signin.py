"""The core's SignInPort over MSAL: interactive sign-in (auth code + PKCE), Teams SSO (on-behalf-of)
and the tenant admin-consent link."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graph.identity import MsalIdentity
from scheduling.connect import SignInStart


class MsalSignIn:
    def __init__(self, identity: MsalIdentity, redirect_uri: str) -> None:
        self.identity = identity
        self.redirect_uri = redirect_uri

    async def begin(self, state: str, *, login_hint: str | None, claims: str | None) -> SignInStart:
        start = await self.identity.start_sign_in(state, redirect_uri=self.redirect_uri, login_hint=login_hint,
                                                  claims_challenge=claims)
        return SignInStart(auth_uri=start.auth_uri, flow=start.flow)

    async def complete(self, user_id: str, flow: Mapping[str, Any], response: Mapping[str, str]) -> None:
        await self.identity.complete_sign_in(user_id, flow, response)

    async def exchange_sso(self, user_id: str, token: str, claims: str | None = None) -> None:
        await self.identity.exchange_sso_token(user_id, token, claims_challenge=claims)

    def admin_consent_url(self, tenant_id: str | None) -> str:
        return self.identity.admin_consent_url(tenant_id)
