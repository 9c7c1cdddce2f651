"""Issue 10, items 12 and 16: sandbox mode (bot authentication off) never listens beyond this computer, and
no log line carries a secret (manage tokens, sign-in codes and states, bearer tokens, webhook secrets)."""

from __future__ import annotations

import io
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

import app as app_module
from app import Settings, SystemClock, build_app
from scheduling.connect import ConnectionService
from scheduling.domain import User
from scheduling.keys import CSRF, MANAGE_TOKENS, SIGN_IN_FLOW, SIGN_IN_STATE, TOKEN_CACHE, derive_key
from web.redaction import RedactSecrets, install_log_redaction, redact

TOKEN = "mT0k3n-Secret_Value-abcdefghijklmnopqrstuvwxyz012345"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sandbox_settings(tmp_path: Path, **extra: Any) -> Settings:  # Settings takes its values as Any
    return Settings(
        _env_file=None,
        SLOTWISE_VAR_DIR=str(tmp_path),
        SLOTWISE_PORT=free_port(),
        SLOTWISE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'slotwise.db'}",
        SLOTWISE_SANDBOX_SEED="false",
        SLOTWISE_OUTBOX_SECONDS="0",
        **extra,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.168.1.20", "10.0.0.5", "slotwise.example.com"])
def test_sandbox_mode_refuses_to_listen_beyond_this_computer(tmp_path: Path, host: str) -> None:
    settings = sandbox_settings(tmp_path, SLOTWISE_HOST=host)
    assert settings.sandbox
    [problem] = settings.problems()
    assert "SLOTWISE_HOST" in problem and "127.0.0.1" in problem and "MicrosoftAppId" in problem
    with pytest.raises(SystemExit) as info:
        build_app(settings)
    assert "sandbox mode" in str(info.value) and "SLOTWISE_HOST" in str(info.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_sandbox_mode_listens_on_loopback_addresses(tmp_path: Path, host: str) -> None:
    assert sandbox_settings(tmp_path, SLOTWISE_HOST=host).problems() == []


def test_production_mode_may_listen_on_every_interface(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        MicrosoftAppId="11111111-2222-3333-4444-555555555555",
        MicrosoftAppPassword="p",
        SLOTWISE_SECRET_KEY="k" * 40,
        SLOTWISE_HOST="0.0.0.0",
        SLOTWISE_PUBLIC_BASE_URL="https://slotwise.example.com",
    )
    assert settings.problems() == []


async def test_the_secret_itself_signs_nothing_each_purpose_has_its_own_key(tmp_path: Path) -> None:
    """A sign-in state is only valid under the sign-in-state key: not under the secret itself (how the
    previous release signed states, CSRF tokens and manage tokens alike), nor under another purpose's key."""
    secret = "s3cret-" * 6
    settings = sandbox_settings(tmp_path, SLOTWISE_SECRET_KEY=secret)
    application = build_app(settings)
    async with TestClient(TestServer(application, host="127.0.0.1", port=settings.port)) as client:
        services = application[app_module.SERVICES]
        host = await services.repos.users.upsert(
            User(id="u-key", tenant_id="t-1", aad_object_id="o-1", display_name="Kay", email="kay@contoso.example")
        )

        def path_signed_with(key: bytes) -> str:
            return ConnectionService(
                users=services.repos.users,
                connector=services.connections.connector,
                calendar=services.calendar,
                clock=SystemClock(),
                state_secret=key,
            ).sign_in_path(host)

        assert (
            await client.get(path_signed_with(derive_key(secret, SIGN_IN_STATE)), allow_redirects=False)
        ).status == 302
        for key in (
            secret.encode(),
            *(derive_key(secret, p) for p in (CSRF, TOKEN_CACHE, SIGN_IN_FLOW, MANAGE_TOKENS)),
        ):
            refused = await client.get(path_signed_with(key), allow_redirects=False)
            assert refused.status == 404 and "not valid" in await refused.text()


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """The root logger's output as app.main sets it up: a handler with the redaction installed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    install_log_redaction()
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for other in root.handlers:  # pytest's own capture handlers got the filter too
            for found in [f for f in other.filters if isinstance(f, RedactSecrets)]:
                other.removeFilter(found)


async def test_a_manage_page_that_fails_logs_no_token(
    tmp_path: Path, log_output: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = sandbox_settings(tmp_path)
    application = build_app(settings)
    async with TestClient(TestServer(application, host="127.0.0.1", port=settings.port)) as client:

        async def broken(token: str) -> None:
            raise RuntimeError("the database went away")

        monkeypatch.setattr(application[app_module.SERVICES].booking, "by_manage_token", broken)
        response = await client.get(f"/manage/{TOKEN}", params={"tz": "UTC"})
        assert response.status == 500
        callback = await client.get("/auth/callback", params={"code": TOKEN, "state": TOKEN + "s"})
        assert callback.status == 400
    logged = log_output.getvalue()
    assert "unhandled error" in logged and "/manage/[redacted]" in logged  # the failure is still logged
    assert "RuntimeError: the database went away" in logged  # with its traceback
    assert TOKEN not in logged


def test_every_kind_of_secret_is_redacted_from_messages_and_tracebacks(log_output: io.StringIO) -> None:
    log = logging.getLogger("slotwise.test")
    log.warning("GET /manage/%s/cancel?tz=UTC", TOKEN)
    log.warning("callback %s", f"/auth/callback?state={TOKEN}&code={TOKEN}x&session_state=abc")
    log.warning("headers {'Authorization': 'Bearer %s', 'Accept': 'json'}", TOKEN)
    log.warning("graph said: Authorization: Basic %s", TOKEN)
    log.warning("webhook secret whsec_%s rotated", TOKEN)
    log.warning("form grant_type=jwt&assertion=%s&client_secret=%s", TOKEN, TOKEN)
    try:
        raise ValueError(f"could not open https://slotwise.example/manage/{TOKEN}")
    except ValueError:
        log.exception("failed")
    logged = log_output.getvalue()
    assert TOKEN not in logged
    for kept in (
        "/manage/[redacted]/cancel?tz=UTC",
        "state=[redacted]&code=[redacted]",
        "'Accept': 'json'",
        "Bearer [redacted]",
        "Basic [redacted]",
        "whsec_[redacted] rotated",
        "grant_type=jwt&assertion=",
        "ValueError: could not open https://slotwise.example/manage/[redacted]",
    ):
        assert kept in logged, (kept, logged)
    assert redact("nothing secret here: /book/adele/intro-call?tz=UTC") == (
        "nothing secret here: /book/adele/intro-call?tz=UTC"
    )
