"""The core's SignInPort over MSAL: interactive sign-in (auth code + PKCE), Teams SSO (on-behalf-of)
and the tenant admin-consent link.

Sign-in and SSO hand the core a :class:`scheduling.connect.SignedIn`: the ``oid``/``tid`` Microsoft
returned and a ``keep`` that stores the tokens. Nothing is stored before the core has checked that the
account is the Teams user's own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graph.identity import MsalIdentity, PendingTokens
from scheduling.connect import SignedIn, SignInStart


def _signed_in(pending: PendingTokens) -> SignedIn:
    return SignedIn(object_id=pending.signed_in.object_id, tenant_id=pending.signed_in.tenant_id, keep=pending.keep)


class MsalSignIn:
    def __init__(self, identity: MsalIdentity, redirect_uri: str) -> None:
        self.identity = identity
        self.redirect_uri = redirect_uri

    async def begin(
        self, state: str, *, tenant_id: str | None, login_hint: str | None, claims: str | None
    ) -> SignInStart:
        start = await self.identity.start_sign_in(
            state, redirect_uri=self.redirect_uri, login_hint=login_hint, claims_challenge=claims, tenant=tenant_id
        )
        return SignInStart(auth_uri=start.auth_uri, flow=start.flow)

    async def complete(
        self, user_id: str, flow: Mapping[str, Any], response: Mapping[str, str], *, tenant_id: str | None
    ) -> SignedIn:
        return _signed_in(await self.identity.redeem_sign_in(user_id, flow, response, tenant=tenant_id))

    async def exchange_sso(self, user_id: str, token: str, claims: str | None = None) -> SignedIn:
        return _signed_in(await self.identity.obtain_sso_tokens(user_id, token, claims_challenge=claims))

    def admin_consent_url(self, tenant_id: str | None, state: str | None = None) -> str:
        return self.identity.admin_consent_url(tenant_id, state)
