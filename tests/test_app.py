"""The composition root starts and answers its health check over real HTTP."""

from aiohttp.test_utils import TestClient, TestServer

from app import Settings, build_app, guide


async def test_healthz_answers_ok() -> None:
    settings = Settings(_env_file=None)
    async with TestClient(TestServer(build_app(settings))) as client:
        resp = await client.get("/healthz")
        assert resp.status == 200
        assert await resp.json() == {"status": "ok"}


def test_without_app_id_runs_in_sandbox_mode() -> None:
    settings = Settings(_env_file=None)
    assert settings.sandbox
    assert "sandbox mode" in guide(settings)
    assert not Settings(_env_file=None, MicrosoftAppId="abc").sandbox
