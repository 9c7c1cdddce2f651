"""The composition root: settings, production safety checks, and the sandbox app over real HTTP."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app import Settings, build_app, guide


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sandbox_settings(tmp_path: Path, **extra: object) -> Settings:
    return Settings(_env_file=None, SLOTWISE_VAR_DIR=str(tmp_path), SLOTWISE_PORT=free_port(),  # type: ignore[call-arg]
                    SLOTWISE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'slotwise.db'}", **extra)


async def test_sandbox_app_starts_and_answers_its_health_check(tmp_path: Path) -> None:
    # No demo seeding: this test stops the server at once, before a demo bootstrap could finish.
    settings = sandbox_settings(tmp_path, SLOTWISE_SANDBOX_SEED="false")
    server = TestServer(build_app(settings), host="127.0.0.1", port=settings.port)
    async with TestClient(server) as client:
        resp = await client.get("/healthz")
        assert resp.status == 200 and await resp.json() == {"status": "ok"}
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        emulator = await client.get("/sandbox/graph/v1.0/me")
        assert emulator.status == 401  # the mounted Graph emulator checks bearer tokens
    assert (tmp_path / "slotwise.db").exists() and (tmp_path / "sandbox-secret.key").exists()


def test_without_app_id_runs_in_sandbox_mode(tmp_path: Path) -> None:
    settings = sandbox_settings(tmp_path)
    assert settings.sandbox and settings.emulator_enabled and settings.problems() == []
    assert "sandbox mode" in guide(settings)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, ["SLOTWISE_SECRET_KEY", "SLOTWISE_PUBLIC_BASE_URL", "MicrosoftAppPassword"]),
        ({"SLOTWISE_SANDBOX_EMULATOR": "true", "SLOTWISE_SECRET_KEY": "k" * 40,
          "SLOTWISE_PUBLIC_BASE_URL": "https://slotwise.example.com", "MicrosoftAppPassword": "p"},
         ["SLOTWISE_SANDBOX_EMULATOR"]),
        ({"SLOTWISE_SECRET_KEY": "k" * 40, "SLOTWISE_PUBLIC_BASE_URL": "http://slotwise.example.com",
          "MicrosoftAppPassword": "p"}, ["SLOTWISE_PUBLIC_BASE_URL"]),
        ({"SLOTWISE_SECRET_KEY": "short", "SLOTWISE_PUBLIC_BASE_URL": "https://slotwise.example.com",
          "MicrosoftAppPassword": "p"}, ["SLOTWISE_SECRET_KEY"]),
        ({"SLOTWISE_SECRET_KEY": "k" * 40, "SLOTWISE_PUBLIC_BASE_URL": "https://slotwise.example.com",
          "MicrosoftAppPassword": "p"}, []),
    ],
)
def test_production_mode_refuses_unsafe_settings_saying_what_to_set(
        tmp_path: Path, extra: dict[str, str], expected: list[str]) -> None:
    settings = Settings(_env_file=None, MicrosoftAppId="11111111-2222-3333-4444-555555555555", **extra)  # type: ignore[arg-type]
    problems = settings.problems()
    assert len(problems) == len(expected)
    for name, problem in zip(expected, problems, strict=True):
        assert name in problem
    if expected:
        with pytest.raises(SystemExit) as exc:
            build_app(settings)
        assert all(name in str(exc.value) for name in expected)
