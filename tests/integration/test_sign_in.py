"""The sign-in fallback end to end, in sandbox mode: /auth/start -> the emulator's Microsoft sign-in
(auth code + PKCE, form_post) -> /auth/callback, plus the failure flows the token endpoint can be told
to produce (admin consent required, MFA claims challenge) and forged or expired states."""

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
from app import Settings, build_app
from scheduling.connect import ConnectionService
from scheduling.domain import ConnectionStatus, User

UPN = "sam.signin@contoso.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[str, app_module.Services]]:
    port = free_port()
    settings = Settings(_env_file=None, SLOTWISE_VAR_DIR=str(tmp_path), SLOTWISE_PORT=port,  # type: ignore[call-arg]
                        SLOTWISE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
                        SLOTWISE_SANDBOX_SEED="false", SLOTWISE_OUTBOX_SECONDS="0")
    application = build_app(settings)
    server = TestServer(application, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{port}", application[app_module.SERVICES]
    finally:
        await server.close()


async def new_host(services: app_module.Services) -> User:
    mailbox = services.emulator.ensure_user(UPN, "Sam Signin", "Europe/Berlin")  # type: ignore[union-attr]
    return await services.repos.users.upsert(User(
        id="u-sam", tenant_id=mailbox.tenant_id, aad_object_id=mailbox.id, display_name="Sam Signin",
        email=UPN, time_zone="UTC"))


async def walk_sign_in(client: httpx.AsyncClient, base: str, path: str) -> httpx.Response:
    """Browser steps: our /auth/start, the Microsoft sign-in page's auto-submitted form, our callback."""
    start = await client.get(base + path)
    assert start.status_code == 302, start.text
    login = await client.get(start.headers["location"])
    assert login.status_code == 200
    action = unescape(re.search(r'action="([^"]+)"', login.text).group(1))  # type: ignore[union-attr]
    fields = {unescape(k): unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', login.text)}
    return await client.post(action, data=fields)


async def test_sign_in_connects_the_user_who_asked_and_tells_them_in_chat(
        running: tuple[str, app_module.Services]) -> None:
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
    assert [item.kind for _, item, _ in leased] == ["host.connected"]


async def test_forged_or_expired_state_is_refused(running: tuple[str, app_module.Services]) -> None:
    base, services = running
    host = await new_host(services)
    good = services.connections.sign_in_path(host)
    state = parse_qs(urlsplit(good).query)["state"][0]

    class Past:
        def now(self) -> datetime:
            return datetime.now(UTC) - timedelta(hours=1)

    old = ConnectionService(users=services.repos.users, connector=services.connections.connector,
                            calendar=services.calendar, clock=Past(),
                            state_secret=services.connections._secret).sign_in_path(host)
    async with httpx.AsyncClient() as client:
        for path in ("/auth/start?state=" + state[:-2] + "xx", "/auth/start", old):
            response = await client.get(base + path)
            assert response.status_code == 404 and "not valid" in response.text
        # A callback without the flow cookie (another browser) changes nothing.
        response = await client.post(base + "/auth/callback", data={"state": state, "code": "abc"})
        assert response.status_code == 400
    assert (await services.repos.users.get(host.id)).connection_status is ConnectionStatus.NOT_CONNECTED  # type: ignore[union-attr]


async def test_consent_blocked_by_the_tenant_shows_the_admin_consent_link(
        running: tuple[str, app_module.Services]) -> None:
    base, services = running
    host = await new_host(services)
    services.emulator.set_token_error(UPN, "consent_required")  # type: ignore[union-attr]
    async with httpx.AsyncClient() as client:
        done = await walk_sign_in(client, base, services.connections.sign_in_path(host))
    assert done.status_code == 403 and "administrator" in done.text
    assert "adminconsent?client_id=" in unescape(done.text)
    assert (await services.repos.users.get(host.id)).connection_status is ConnectionStatus.NOT_CONNECTED  # type: ignore[union-attr]


async def test_mfa_claims_challenge_restarts_the_sign_in_with_the_claims(
        running: tuple[str, app_module.Services]) -> None:
    base, services = running
    host = await new_host(services)
    services.emulator.set_token_error(UPN, "mfa_required")  # type: ignore[union-attr]
    async with httpx.AsyncClient() as client:
        done = await walk_sign_in(client, base, services.connections.sign_in_path(host))
        assert done.status_code == 302
        again = urlsplit(done.headers["location"])
        assert again.path == "/auth/start" and parse_qs(again.query)["claims"][0]
        services.emulator.set_token_error(UPN, None)  # the user completes MFA this time
        final = await walk_sign_in(client, base, done.headers["location"])
    assert final.status_code == 200 and "Outlook connected" in final.text
