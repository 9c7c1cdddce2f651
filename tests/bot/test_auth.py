"""Inbound Bot Framework authentication with an app id (production mode), offline (teams-facts §4).

A local OpenID configuration + JWKS server (in a thread: botframework-connector fetches keys with
blocking ``requests``) stands in for login.botframework.com; tokens are signed with a locally generated
RSA key. The whole app runs in production mode; the activity is an unfurl of a foreign URL, which the
bot answers without calling out (no outbound token needed).
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from botframework.connector.auth import ChannelValidation, JwtTokenExtractor
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from app import Settings, build_app
from tests.bot.harness import DANA, fixture, free_port

APP_ID = "5f0c2b1a-7e3d-4c9b-a8f6-1d2e3f4a5b6c"
ISSUER = "https://api.botframework.com"
KID = "slotwise-test-key"
SERVICE_URL = "https://smba.trafficmanager.net/emea/"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


SIGNING_KEY = _key()
OTHER_KEY = _key()


class OpenIdServer:
    """OpenID metadata and JWKS for the Bot Framework channel, served from a thread."""

    def __init__(self, endorsements: list[str]) -> None:
        jwk = json.loads(RSAAlgorithm.to_jwk(SIGNING_KEY.public_key()))
        keys = {"keys": [{**jwk, "kid": KID, "use": "sig", "endorsements": endorsements}]}
        server_ref: dict[str, str] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/v1/.well-known/openidconfiguration":
                    body: Any = {
                        "issuer": ISSUER,
                        "jwks_uri": server_ref["base"] + "/v1/.well-known/keys",
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }
                elif self.path == "/v1/.well-known/keys":
                    body = keys
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server_ref["base"] = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.metadata_url = server_ref["base"] + "/v1/.well-known/openidconfiguration"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> OpenIdServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def token(*, key: rsa.RSAPrivateKey = SIGNING_KEY, kid: str = KID, algorithm: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": APP_ID,
        "serviceurl": SERVICE_URL,
        "nbf": now - 60,
        "exp": now + 3600,
        "iat": now - 60,
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    signing: Any = key if algorithm.startswith("RS") else "s" * 32
    return jwt.encode(payload, signing, algorithm=algorithm, headers={"kid": kid})


def _openid(monkeypatch: pytest.MonkeyPatch, endorsements: list[str]) -> Iterator[OpenIdServer]:
    with OpenIdServer(endorsements) as server:
        monkeypatch.setattr(ChannelValidation, "open_id_metadata_endpoint", server.metadata_url)
        monkeypatch.setattr(JwtTokenExtractor, "metadataCache", {})
        yield server


@pytest.fixture
def openid(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenIdServer]:
    yield from _openid(monkeypatch, ["msteams"])


@pytest.fixture
async def production(tmp_path: Path, template_db: Path) -> AsyncIterator[TestClient[Any, Any]]:
    port = free_port()
    shutil.copyfile(template_db, tmp_path / "slotwise.db")
    settings = Settings(
        _env_file=None,
        MicrosoftAppId=APP_ID,
        MicrosoftAppPassword="not-a-real-secret",
        public_base_url="https://slotwise.example.com",
        secret_key="k" * 48,
        port=port,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/slotwise.db",
        var_dir=str(tmp_path),
        outbox_interval=0,
        reconcile_interval=3600,
    )
    assert not settings.sandbox and not settings.emulator_enabled
    async with TestClient(TestServer(build_app(settings), port=port)) as client:
        yield client


def unfurl_activity() -> dict[str, Any]:
    body = fixture("query_link")
    body["serviceUrl"] = SERVICE_URL
    body["from"] = {"id": DANA.teams_id, "name": DANA.name, "aadObjectId": DANA.aad}
    return body


async def _post(client: TestClient[Any, Any], authorization: str | None) -> tuple[int, Any]:
    headers = {"Authorization": authorization} if authorization is not None else {}
    resp = await client.post("/api/messages", json=unfurl_activity(), headers=headers)
    text = await resp.text()
    return resp.status, json.loads(text) if text else None


async def test_a_valid_channel_token_is_accepted(openid: OpenIdServer, production: TestClient[Any, Any]) -> None:
    status, body = await _post(production, f"Bearer {token()}")
    assert status == 200
    assert body == {"composeExtension": {"type": "result", "attachmentLayout": "list", "attachments": []}}


@pytest.mark.parametrize(
    ("case", "authorization"),
    [
        ("no header", None),
        ("empty header", ""),
        ("not a jwt", "Bearer not.a.jwt"),
        ("forged signature", f"Bearer {token(key=OTHER_KEY)}"),
        ("unknown key id", f"Bearer {token(key=OTHER_KEY, kid='someone-elses-key')}"),
        ("expired", f"Bearer {token(exp=int(time.time()) - 3600, nbf=int(time.time()) - 7200)}"),
        ("wrong audience", f"Bearer {token(aud='another-bot')}"),
        ("wrong service url", f"Bearer {token(serviceurl='https://attacker.example/')}"),
        ("no service url", f"Bearer {token(serviceurl=None)}"),
        ("wrong issuer", f"Bearer {token(iss='https://sts.windows.net/evil/')}"),
        ("symmetric algorithm", f"Bearer {token(algorithm='HS256')}"),
        ("wrong scheme", f"Basic {token()}"),
    ],
)
async def test_bad_tokens_are_401(
    openid: OpenIdServer, production: TestClient[Any, Any], case: str, authorization: str | None
) -> None:
    status, body = await _post(production, authorization)
    assert status == 401, case
    assert body["status"] == 401


@pytest.fixture
def skype_only_openid(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenIdServer]:
    yield from _openid(monkeypatch, ["skype"])


async def test_a_key_not_endorsed_for_teams_is_refused(
    skype_only_openid: OpenIdServer, production: TestClient[Any, Any]
) -> None:
    status, _ = await _post(production, f"Bearer {token()}")
    assert status == 401
