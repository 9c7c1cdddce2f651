"""Quiet logs: a stored refresh token that Microsoft (or a restarted sandbox) no longer accepts is an
expected event handled by reconnecting, logged at INFO; sign-in failures that need attention stay WARNING."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from graph.errors import CalendarAuthError, ClaimsChallenge
from graph.identity import sandbox_http_client
from tests.graph.graph_harness import running_emulator
from tests.graph.test_identity_msal import ADELE, World


@pytest.fixture
def world() -> Iterator[World]:
    with running_emulator() as emu, sandbox_http_client(emu.login_base) as http:
        yield World(emu, http)


def sign_in_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "slotwise.graph" and r.getMessage().startswith("sign-in error")]


@pytest.mark.parametrize("forgotten", ["restart", "revoked", "inactive"])
async def test_a_refresh_token_no_longer_accepted_on_a_silent_refresh_is_info(
    world: World, caplog: pytest.LogCaptureFixture, forgotten: str
) -> None:
    identity = world.identity()
    await identity.exchange_sso_token(ADELE, world.sso_token())
    state = world.emu.state
    if forgotten == "restart":
        state.refresh_tokens.clear()  # a sandbox that lost its world: the token is unknown (AADSTS9002313)
    elif forgotten == "revoked":
        state.revoke_refresh_tokens(ADELE)
    else:
        state.set_token_error(ADELE, "invalid_grant")
    with caplog.at_level(logging.INFO), pytest.raises(CalendarAuthError) as info:
        await identity.access_token(ADELE, force_refresh=True)
    assert type(info.value) is CalendarAuthError and info.value.reconnect_required
    [record] = sign_in_errors(caplog)
    assert record.levelno == logging.INFO and "invalid_grant" in record.getMessage()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_sign_in_failures_that_need_attention_stay_warnings(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    identity = world.identity()
    await identity.exchange_sso_token(ADELE, world.sso_token())
    world.emu.state.set_token_error(ADELE, "mfa_required")
    with caplog.at_level(logging.INFO), pytest.raises(ClaimsChallenge):
        await identity.access_token(ADELE, force_refresh=True)
    world.emu.state.set_token_error(ADELE, "invalid_grant")
    with caplog.at_level(logging.INFO), pytest.raises(CalendarAuthError):
        await world.identity().exchange_sso_token(ADELE, world.sso_token())  # not a silent refresh
    assert [r.levelno for r in sign_in_errors(caplog)] == [logging.WARNING, logging.WARNING]
