"""MSAL identity against the emulator's login app over real HTTP (MSAL's own code paths, its sync HTTP
client forwarded from https://login.microsoftonline.com to the local app): on-behalf-of, auth code +
PKCE, silent refresh, typed sign-in failures, and the encrypted per-user token cache."""

from __future__ import annotations

import base64
import html
import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiohttp import web

from bench.support import ServerThread
from graph.client import GraphClient
from graph.errors import CalendarAuthError, ClaimsChallenge, ConsentRequired, InteractionRequired
from graph.identity import (
    GRAPH_SCOPES,
    IdentityConfig,
    MsalIdentity,
    TokenCacheCipher,
    sandbox_http_client,
    sandbox_identity,
)
from graph.sandbox import EmulatorState, create_login_app
from tests.graph.graph_harness import Emulator, running_emulator

ADELE = "adele@contoso.example"
CLIENT_ID = "5a4b3c2d-1e0f-4a1b-9c8d-7e6f5a4b3c2d"
SSO_RESOURCE = f"api://slotwise.example/botid-{CLIENT_ID}"
SECRET_KEY = "test-secret-key-for-token-caches"
REDIRECT = "https://slotwise.example/auth/callback"


class MemoryStore:
    """A TokenCacheStore in memory (the real one is storage/'s)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.saves = 0

    async def load_token_cache(self, user_id: str) -> bytes | None:
        return self.blobs.get(user_id)

    async def save_token_cache(self, user_id: str, blob: bytes) -> None:
        self.saves += 1
        self.blobs[user_id] = blob

    async def delete_token_cache(self, user_id: str) -> None:
        self.blobs.pop(user_id, None)


class World:
    def __init__(self, emu: Emulator, http: httpx.Client) -> None:
        self.emu, self.http = emu, http
        self.store = MemoryStore()
        self.user = emu.state.add_user(upn=ADELE, display_name="Adele Vance", time_zone="Pacific Standard Time")
        emu.state.register_app(CLIENT_ID, SSO_RESOURCE)

    def identity(self, **kwargs: Any) -> MsalIdentity:
        """A fresh MsalIdentity (fresh MSAL http_cache, so flipped sign-in errors are not replayed)."""
        config = IdentityConfig(
            client_id=CLIENT_ID,
            client_secret="app-secret",
            redirect_uri=REDIRECT,
            admin_consent_redirect_uri="https://slotwise.example/auth/admin",
            instance_discovery=False,
        )
        return MsalIdentity(
            config, self.store, SECRET_KEY, http_client=self.http, browser_login_base=self.emu.login_base, **kwargs
        )

    def sso_token(self) -> str:
        """A Teams SSO token as the emulator's on-behalf-of grant accepts it (an unsigned JWT)."""
        claims = {
            "aud": SSO_RESOURCE,
            "oid": self.user.id,
            "tid": self.user.tenant_id,
            "preferred_username": ADELE,
            "exp": int(time.time()) + 3600,
            "scp": "access_as_user",
        }

        def part(obj: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

        return f"{part({'typ': 'JWT', 'alg': 'RS256'})}.{part(claims)}.c2ln"

    def graph(self, identity: MsalIdentity) -> GraphClient:
        return GraphClient(self.emu.graph_base, token_provider=identity.token_provider(), sleep=self.emu.sleep)


@pytest.fixture
def world() -> Iterator[World]:
    with running_emulator() as emu, sandbox_http_client(emu.login_base) as http:
        yield World(emu, http)


async def sign_in_in_browser(auth_uri: str, as_user: str | None = None) -> dict[str, str]:
    """What the browser POSTs to our callback after the sandbox sign-in (response_mode=form_post): the
    person confirms the preselected account on the picker, or picks ``as_user``."""
    async with httpx.AsyncClient() as browser:
        picker = await browser.get(auth_uri)
        assert picker.status_code == 200
        form = re.search(r'<form method="POST" action="([^"]*)" id="account-picker">(.*?)</form>', picker.text, re.S)
        assert form is not None, picker.text
        fields = {
            html.unescape(k): html.unescape(v)
            for k, v in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', form.group(2))
        }
        chosen = as_user or fields.get("login_hint", "")
        page = await browser.post(
            str(picker.url.join(html.unescape(form.group(1)))), data={**fields, "sandbox_user": chosen}
        )
    assert page.status_code == 200
    action = re.search(r'<form method="POST" action="([^"]+)"', page.text)
    assert action is not None and html.unescape(action.group(1)) == REDIRECT
    return {
        html.unescape(k): html.unescape(v)
        for k, v in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page.text)
    }


def token_posts(world: World) -> int:
    return sum(1 for r in world.emu.state.refresh_tokens.values() if r.user_id == world.user.id)


async def test_sso_exchange_stores_an_encrypted_cache_and_graph_calls_use_it(world: World) -> None:
    identity = world.identity()
    who = await identity.exchange_sso_token(ADELE, world.sso_token())
    assert (who.object_id, who.tenant_id, who.username) == (world.user.id, world.user.tenant_id, ADELE)
    assert who.home_account_id == f"{world.user.id}.{world.user.tenant_id}"

    blob = world.store.blobs[ADELE]
    with pytest.raises(ValueError):
        json.loads(blob)
    refresh_tokens = list(world.emu.state.refresh_tokens)
    assert refresh_tokens and not any(rt.encode() in blob for rt in refresh_tokens)
    assert b"RefreshToken" not in blob and b"secret" not in blob
    clear = json.loads(TokenCacheCipher(SECRET_KEY).decrypt(blob, ADELE))  # round-trips
    assert clear["RefreshToken"] and clear["AccessToken"]

    async with world.graph(identity) as graph:
        me = await graph.me(ADELE)
        settings = await graph.mailbox_settings(ADELE)
    assert me.mail == ADELE and settings.time_zone == "America/Los_Angeles"
    assert token_posts(world) == 1  # silent calls were served from the cache


async def test_an_expired_access_token_is_refreshed_transparently(world: World) -> None:
    identity = world.identity()
    await identity.exchange_sso_token(ADELE, world.sso_token())
    blob_before = world.store.blobs[ADELE]
    world.emu.state.expire_tokens(ADELE)  # Graph rejects it; MSAL still thinks it is valid
    async with world.graph(identity) as graph:
        assert (await graph.me(ADELE)).mail == ADELE
    assert [r.status for r in world.emu.state.request_log] == [401, 200]
    assert token_posts(world) == 2  # one refresh_token grant
    assert world.store.blobs[ADELE] != blob_before  # the refreshed cache was saved


async def test_short_lived_tokens_are_refreshed_before_graph_sees_them(world: World) -> None:
    world.emu.state.access_token_lifetime = 120  # inside MSAL's 5-minute expiry margin
    identity = world.identity()
    await identity.exchange_sso_token(ADELE, world.sso_token())
    async with world.graph(identity) as graph:
        await graph.me(ADELE)
    assert [r.status for r in world.emu.state.request_log] == [200]
    assert token_posts(world) == 2


async def test_a_revoked_refresh_token_means_reconnect(world: World) -> None:
    identity = world.identity()
    await identity.exchange_sso_token(ADELE, world.sso_token())
    world.emu.state.revoke_refresh_tokens(ADELE)
    world.emu.state.expire_tokens(ADELE)
    async with world.graph(identity) as graph:
        with pytest.raises(CalendarAuthError) as info:
            await graph.me(ADELE)
    assert type(info.value) is CalendarAuthError and info.value.reconnect_required
    assert "reconnect" in str(info.value)


async def test_an_inactive_refresh_token_means_reconnect(world: World) -> None:
    identity = world.identity()
    await identity.exchange_sso_token(ADELE, world.sso_token())
    world.emu.state.set_token_error(ADELE, "invalid_grant")
    with pytest.raises(CalendarAuthError) as info:
        await identity.access_token(ADELE, force_refresh=True)
    assert info.value.reconnect_required and "700082" in info.value.detail


async def test_consent_required_gives_the_admin_consent_url_which_unblocks_the_tenant(world: World) -> None:
    world.emu.state.set_token_error(ADELE, "consent_required")
    with pytest.raises(ConsentRequired) as info:
        await world.identity().exchange_sso_token(ADELE, world.sso_token())
    url = info.value.admin_consent_url
    assert url is not None and not info.value.reconnect_required
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == world.emu.login_base
    assert parts.path == f"/{world.user.tenant_id}/v2.0/adminconsent"
    query = parse_qs(parts.query)
    assert query["client_id"] == [CLIENT_ID] and query["scope"] == [" ".join(GRAPH_SCOPES)]
    assert query["redirect_uri"] == ["https://slotwise.example/auth/admin"]
    assert ADELE not in world.store.blobs

    async with httpx.AsyncClient() as browser:
        answer = await browser.get(url)
    assert answer.status_code == 302 and "admin_consent=True" in answer.headers["location"]
    who = await world.identity().exchange_sso_token(ADELE, world.sso_token())
    assert who.object_id == world.user.id


async def test_mfa_is_a_claims_challenge_with_the_claims(world: World) -> None:
    world.emu.state.set_token_error(ADELE, "mfa_required")
    with pytest.raises(ClaimsChallenge) as info:
        await world.identity().exchange_sso_token(ADELE, world.sso_token())
    claims = json.loads(info.value.claims)
    assert claims["access_token"]["capolids"]["essential"] is True

    world.emu.state.set_token_error(ADELE, None)
    identity = world.identity()
    await identity.exchange_sso_token(ADELE, world.sso_token())
    world.emu.state.set_token_error(ADELE, "mfa_required")
    with pytest.raises(ClaimsChallenge) as silent:  # the refresh grant answers interaction_required
        await identity.access_token(ADELE, force_refresh=True)
    assert "capolids" in silent.value.claims


async def test_interaction_required(world: World) -> None:
    identity = world.identity()
    await identity.exchange_sso_token(ADELE, world.sso_token())
    world.emu.state.set_token_error(ADELE, "interaction_required")
    with pytest.raises(InteractionRequired) as info:
        await identity.access_token(ADELE, force_refresh=True)
    assert not isinstance(info.value, ClaimsChallenge) and info.value.reconnect_required


async def test_auth_code_flow_with_pkce_and_the_callers_state(world: World) -> None:
    identity = world.identity()
    start = await identity.start_sign_in("st-123", login_hint=ADELE)
    auth = urlsplit(start.auth_uri)
    assert f"{auth.scheme}://{auth.netloc}" == world.emu.login_base
    params = parse_qs(auth.query)
    assert params["state"] == ["st-123"] and params["code_challenge_method"] == ["S256"]
    assert params["redirect_uri"] == [REDIRECT]
    assert "offline_access" in params["scope"][0]  # added by MSAL, never by us
    assert start.flow["code_verifier"]

    assert params["response_mode"] == ["form_post"]
    callback = await sign_in_in_browser(start.auth_uri)
    assert callback["state"] == "st-123"

    who = await identity.complete_sign_in("user-1", start.flow, callback)
    assert who.object_id == world.user.id and who.user_id == "user-1"
    assert await identity.is_connected("user-1")
    token = await identity.access_token("user-1")
    assert world.emu.state.authenticate(token) is not None

    again = await identity.start_sign_in("st-456", login_hint=ADELE)
    forged = {**await sign_in_in_browser(again.auth_uri), "state": "st-evil"}
    with pytest.raises(InteractionRequired):
        await identity.complete_sign_in("user-1", again.flow, forged)


async def test_unconnected_unreadable_and_disconnected_caches(world: World) -> None:
    identity = world.identity()
    with pytest.raises(CalendarAuthError, match="hasn't connected"):
        await identity.access_token(ADELE)
    await identity.exchange_sso_token(ADELE, world.sso_token())
    assert await identity.is_connected(ADELE)

    other_key = MsalIdentity(identity.config, world.store, "another-key", http_client=world.http)
    with pytest.raises(CalendarAuthError) as info:
        await other_key.access_token(ADELE)
    assert info.value.graph_code == "token_cache_unreadable"

    rotated = MsalIdentity(
        identity.config, world.store, "new-key", previous_secret_keys=[SECRET_KEY], http_client=world.http
    )
    assert await rotated.access_token(ADELE)

    await identity.disconnect(ADELE)
    assert not await identity.is_connected(ADELE)
    with pytest.raises(CalendarAuthError):
        await identity.access_token(ADELE)


def test_reserved_scopes_are_refused_and_the_cipher_needs_a_key() -> None:
    with pytest.raises(ValueError, match="offline_access"):
        IdentityConfig(client_id="c", client_secret="s", scopes=("offline_access", *GRAPH_SCOPES))
    with pytest.raises(ValueError, match="secret key"):
        TokenCacheCipher("")


async def test_sandbox_identity_works_with_the_login_app_under_a_mount_prefix() -> None:
    state = EmulatorState()
    user = state.add_user(upn=ADELE, display_name="Adele Vance")
    root = web.Application()
    root.add_subapp("/sandbox/login", create_login_app(state))
    server = ServerThread(root)
    (base,) = server.start()
    config = IdentityConfig(client_id=CLIENT_ID, client_secret="app-secret", redirect_uri=REDIRECT)
    identity = sandbox_identity(config, MemoryStore(), SECRET_KEY, f"{base}/sandbox/login")
    try:
        start = await identity.start_sign_in("s-1", login_hint=ADELE)
        assert start.auth_uri.startswith(f"{base}/sandbox/login/organizations/oauth2/v2.0/authorize?")
        who = await identity.complete_sign_in("u-1", start.flow, await sign_in_in_browser(start.auth_uri))
        assert who.object_id == user.id
        assert state.authenticate(await identity.access_token("u-1", force_refresh=True)) is not None
        assert identity.admin_consent_url(user.tenant_id).startswith(f"{base}/sandbox/login/{user.tenant_id}/")
    finally:
        identity.close()
        server.stop()
