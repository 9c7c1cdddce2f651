"""The sign-in fallback end to end, in sandbox mode: /auth/start -> the emulator's Microsoft sign-in
(auth code + PKCE, form_post) -> /auth/callback, plus the failure flows the token endpoint can be told
to produce (admin consent required, MFA claims challenge), forged or expired states, someone else's
account finishing the sign-in (refused, nothing stored), and the admin-consent landing."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiohttp.test_utils import TestServer

import app as app_module
from app import SANDBOX_CLIENT_ID, Settings, build_app
from graph.sandbox.connector import sandbox_sso_token
from scheduling.connect import ConnectionService
from scheduling.domain import ConnectionStatus, User
from scheduling.errors import WrongAccount

UPN = "sam.signin@contoso.example"
EVE = "eve.elsewhere@contoso.example"
OTHER_TENANT = "3a9f8e7d-6c5b-4a39-8271-605f4e3d2c1b"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[str, app_module.Services]]:
    port = free_port()
    settings = Settings(
        _env_file=None,
        SLOTWISE_VAR_DIR=str(tmp_path),
        SLOTWISE_PORT=port,
        SLOTWISE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        SLOTWISE_SANDBOX_SEED="false",
        SLOTWISE_OUTBOX_SECONDS="0",
    )
    application = build_app(settings)
    server = TestServer(application, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{port}", application[app_module.SERVICES]
    finally:
        await server.close()


async def new_host(services: app_module.Services) -> User:
    mailbox = services.emulator.ensure_user(UPN, "Sam Signin", "Europe/Berlin")  # type: ignore[union-attr]
    return await services.repos.users.upsert(
        User(
            id="u-sam",
            tenant_id=mailbox.tenant_id,
            aad_object_id=mailbox.id,
            display_name="Sam Signin",
            email=UPN,
            time_zone="UTC",
        )
    )


def hidden_fields(page: str) -> dict[str, str]:
    return {unescape(k): unescape(v) for k, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page)}


async def walk_sign_in(client: httpx.AsyncClient, base: str, path: str, as_upn: str | None = None) -> httpx.Response:
    """Browser steps: our /auth/start, the Microsoft sign-in page (the account picker, where the person
    confirms the preselected account or picks ``as_upn``; skipped when the browser is already signed in as
    the hinted account), its auto-submitted form, our callback."""
    start = await client.get(base + path)
    assert start.status_code == 302, start.text
    login = await client.get(start.headers["location"])
    assert login.status_code == 200
    picker = re.search(r'<form method="POST" action="([^"]+)" id="account-picker">(.*?)</form>', login.text, re.S)
    if picker is not None:
        fields = hidden_fields(picker.group(2))
        login = await client.post(
            str(login.url.join(unescape(picker.group(1)))),
            data={**fields, "sandbox_user": as_upn or fields["login_hint"]},
        )
        assert login.status_code == 200, login.text
    action = unescape(re.search(r'action="([^"]+)"', login.text).group(1))  # type: ignore[union-attr]
    return await client.post(action, data=hidden_fields(login.text))


async def test_sign_in_connects_the_user_who_asked_and_tells_them_in_chat(
    running: tuple[str, app_module.Services],
) -> None:
    base, services = running
    host = await new_host(services)
    async with httpx.AsyncClient() as client:
        done = await walk_sign_in(client, base, services.connections.sign_in_path(host))
    assert done.status_code == 200 and "Outlook connected" in done.text
    stored = await services.repos.users.get(host.id)
    assert stored is not None and stored.connection_status is ConnectionStatus.CONNECTED
    assert stored.time_zone == "Europe/Berlin"  # read from the mailbox settings after connecting
    blob = await services.repos.tokens.load_token_cache(host.id)
    assert blob is not None and b"refresh_token" not in blob  # encrypted at rest
    leased = await services.repos.outbox.lease(datetime.now(UTC), 10, 60)
    assert [x.item.kind for x in leased] == ["host.connected"]


async def test_forged_or_expired_state_is_refused(running: tuple[str, app_module.Services]) -> None:
    base, services = running
    host = await new_host(services)
    good = services.connections.sign_in_path(host)
    state = parse_qs(urlsplit(good).query)["state"][0]

    class Past:
        def now(self) -> datetime:
            return datetime.now(UTC) - timedelta(hours=1)

    old = ConnectionService(
        users=services.repos.users,
        connector=services.connections.connector,
        calendar=services.calendar,
        clock=Past(),
        state_secret=services.connections._secret,
    ).sign_in_path(host)
    async with httpx.AsyncClient() as client:
        for path in ("/auth/start?state=" + state[:-2] + "xx", "/auth/start", old):
            response = await client.get(base + path)
            assert response.status_code == 404 and "not valid" in response.text
        # A callback without the flow cookie (another browser) changes nothing.
        response = await client.post(base + "/auth/callback", data={"state": state, "code": "abc"})
        assert response.status_code == 400
    assert (await services.repos.users.get(host.id)).connection_status is ConnectionStatus.NOT_CONNECTED  # type: ignore[union-attr]


async def test_consent_blocked_by_the_tenant_shows_the_admin_consent_link(
    running: tuple[str, app_module.Services],
) -> None:
    base, services = running
    host = await new_host(services)
    services.emulator.set_token_error(UPN, "consent_required")  # type: ignore[union-attr]
    async with httpx.AsyncClient() as client:
        done = await walk_sign_in(client, base, services.connections.sign_in_path(host))
    assert done.status_code == 403 and "administrator" in done.text
    assert "adminconsent?client_id=" in unescape(done.text)
    assert (await services.repos.users.get(host.id)).connection_status is ConnectionStatus.NOT_CONNECTED  # type: ignore[union-attr]


async def test_mfa_claims_challenge_restarts_the_sign_in_with_the_claims(
    running: tuple[str, app_module.Services],
) -> None:
    base, services = running
    host = await new_host(services)
    emulator = services.emulator
    assert emulator is not None
    emulator.set_token_error(UPN, "mfa_required")
    async with httpx.AsyncClient() as client:
        done = await walk_sign_in(client, base, services.connections.sign_in_path(host))
        assert done.status_code == 302
        again = urlsplit(done.headers["location"])
        assert again.path == "/auth/start" and parse_qs(again.query)["claims"][0]
        emulator.set_token_error(UPN, None)  # the user completes MFA this time
        final = await walk_sign_in(client, base, done.headers["location"])
    assert final.status_code == 200 and "Outlook connected" in final.text


async def nothing_stored_for(services: app_module.Services, host: User) -> None:
    stored = await services.repos.users.get(host.id)
    assert stored is not None and stored.connection_status is ConnectionStatus.NOT_CONNECTED
    assert await services.repos.tokens.load_token_cache(host.id) is None
    assert await services.repos.outbox.lease(datetime.now(UTC), 10, 60) == []


@pytest.mark.parametrize("eve_tenant", [None, OTHER_TENANT], ids=["same-tenant", "other-tenant"])
async def test_someone_else_finishing_the_sign_in_connects_nothing(
    running: tuple[str, app_module.Services], eve_tenant: str | None
) -> None:
    """Sam asks to connect in a group chat; Eve opens his link and signs in as herself. Sam's links must not
    read Eve's calendar: the callback refuses, stores no token and leaves Sam not connected."""
    base, services = running
    host = await new_host(services)
    services.emulator.ensure_user(EVE, "Eve Elsewhere", tenant_id=eve_tenant)  # type: ignore[union-attr]
    async with httpx.AsyncClient() as client:
        done = await walk_sign_in(client, base, services.connections.sign_in_path(host), as_upn=EVE)
    assert "Outlook connected" not in done.text
    if eve_tenant is None:
        assert done.status_code == 403 and "not your Microsoft account" in done.text
        assert "own work account" in done.text
    else:  # signing in at Sam's tenant: Microsoft itself refuses an account of another directory
        assert done.status_code == 400 and "Sign-in failed" in done.text
    await nothing_stored_for(services, host)


async def test_an_sso_token_of_someone_else_connects_nothing(running: tuple[str, app_module.Services]) -> None:
    _, services = running
    host = await new_host(services)
    eve = services.emulator.ensure_user(EVE, "Eve Elsewhere")  # type: ignore[union-attr]

    def token(oid: str, upn: str) -> str:
        return sandbox_sso_token(
            oid=oid, tenant_id=host.tenant_id, upn=upn, name="x", audience=f"api://botid-{SANDBOX_CLIENT_ID}"
        )

    with pytest.raises(WrongAccount):
        await services.connections.connect_with_sso(host, token(eve.id, EVE))
    await nothing_stored_for(services, host)
    connected = await services.connections.connect_with_sso(host, token(host.aad_object_id, UPN))
    assert connected.connection_status is ConnectionStatus.CONNECTED
    assert await services.repos.tokens.load_token_cache(host.id) is not None


async def test_admin_consent_lands_on_its_own_page_and_tells_the_host_in_chat(
    running: tuple[str, app_module.Services],
) -> None:
    base, services = running
    host = await new_host(services)
    services.emulator.set_token_error(UPN, "consent_required")  # type: ignore[union-attr]
    async with httpx.AsyncClient() as client:
        blocked = await walk_sign_in(client, base, services.connections.sign_in_path(host))
        assert blocked.status_code == 403
        consent_url = unescape(re.search(r'value="([^"]+adminconsent[^"]+)"', blocked.text).group(1))  # type: ignore[union-attr]
        assert parse_qs(urlsplit(consent_url).query)["redirect_uri"] == [f"{base}/auth/consent"]
        approved = await client.get(consent_url)  # the admin accepts on Microsoft's page
        assert approved.status_code == 302
        landing = await client.get(approved.headers["location"])
    assert landing.status_code == 200 and "Consent granted" in landing.text and "Sign-in expired" not in landing.text
    assert "We&#39;ve let Sam Signin know" in landing.text
    leased = await services.repos.outbox.lease(datetime.now(UTC), 10, 60)
    assert [(x.item.kind, x.item.payload["hostId"]) for x in leased] == [("host.consent_granted", host.id)]

    async with httpx.AsyncClient() as client:  # and Sam can connect now
        final = await walk_sign_in(client, base, services.connections.sign_in_path(host))
    assert final.status_code == 200 and "Outlook connected" in final.text


async def test_a_refused_foreign_or_forged_admin_consent_tells_nobody(running: tuple[str, app_module.Services]) -> None:
    base, services = running
    host = await new_host(services)
    state = services.connections.admin_consent_state(host)
    sign_in_state = parse_qs(urlsplit(services.connections.sign_in_path(host)).query)["state"][0]
    async with httpx.AsyncClient() as client:

        async def consent(**params: str) -> httpx.Response:
            return await client.get(f"{base}/auth/consent", params=params)

        refused = await consent(
            error="access_denied", error_description="AADSTS65004: <b>Call +1 555 0100</b>", state=state
        )
        assert refused.status_code == 400 and "Consent was not granted" in refused.text
        assert "access_denied" in refused.text and "555" not in refused.text  # no text from the URL is echoed
        assert (await consent(admin_consent="False", tenant=host.tenant_id, state=state)).status_code == 400
        for params in (
            {"tenant": OTHER_TENANT, "state": state},  # another organisation's admin
            {"tenant": host.tenant_id, "state": state[:-2] + "xx"},  # forged
            {"tenant": host.tenant_id, "state": sign_in_state},  # a sign-in state is not a consent one
            {"tenant": host.tenant_id},
        ):
            granted = await consent(admin_consent="True", **params)
            assert granted.status_code == 200 and "Consent granted" in granted.text
            assert "Sam Signin" not in granted.text
    await nothing_stored_for(services, host)


async def test_a_state_in_any_alphabet_is_just_not_valid(running: tuple[str, app_module.Services]) -> None:
    base, _ = running
    async with httpx.AsyncClient() as client:
        for state in ("é.ü", "eyJ1IjoiYSJ9.ñ", "\u202e.x"):
            response = await client.get(f"{base}/auth/start", params={"state": state})
            assert response.status_code == 404 and "not valid" in response.text
            consent = await client.get(f"{base}/auth/consent", params={"admin_consent": "True", "state": state})
            assert consent.status_code == 200
