"""Issue 10, items 4 and 11, over the real token-cache store on SQLite and PostgreSQL and the emulator's
login app: on-behalf-of and silent refresh run against the user's own tenant (never ``organizations``);
a stored cache is bound to its user (a blob copied to another user's row means "not connected", never
the other user's calendar); caches stored by the previous release still work and are re-encrypted."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import msal
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from graph.errors import CalendarAuthError
from graph.identity import IdentityConfig, MsalIdentity, TokenCacheCipher, sandbox_http_client
from graph.sandbox.tokens import encode_jwt
from scheduling.domain import User
from storage.db import Database
from storage.repositories import Repositories, repositories
from tests.graph.graph_harness import Emulator, running_emulator
from tests.storage.fixtures import db, db_kind, db_url  # noqa: F401 - fixtures, found by name

CLIENT_ID = "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
SECRET = "the-slotwise-secret-key-of-this-deployment"
ADELE = "adele@contoso.example"
MEGAN = "megan@contoso.example"
OBO = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class Setup:
    emu: Emulator
    http: httpx.Client
    repos: Repositories

    def identity(self) -> MsalIdentity:
        config = IdentityConfig(
            client_id=CLIENT_ID,
            client_secret="app-secret",
            redirect_uri="https://slotwise.example/auth/callback",
            instance_discovery=False,
        )
        assert config.tenant == "organizations"  # a multi-tenant app
        return MsalIdentity(
            config,
            self.repos.tokens,
            SECRET,
            http_client=self.http,
            http_cache={},
            browser_login_base=self.emu.login_base,
        )

    def sso_token(self, upn: str) -> str:
        person = self.emu.state.user(upn)
        return encode_jwt(
            {
                "aud": f"api://botid-{CLIENT_ID}",
                "oid": person.id,
                "tid": person.tenant_id,
                "preferred_username": upn,
                "exp": int(time.time()) + 3600,
            }
        )

    def tenants(self, grant: str) -> list[str]:
        return [r.tenant for r in self.emu.state.token_requests if r.grant_type == grant]


@pytest.fixture
def emulator() -> Iterator[tuple[Emulator, httpx.Client]]:
    with running_emulator() as emu, sandbox_http_client(emu.login_base) as http:
        emu.state.add_user(upn=ADELE, display_name="Adele Vance")
        emu.state.add_user(upn=MEGAN, display_name="Megan Bowen")
        yield emu, http


@pytest.fixture
async def setup(emulator: tuple[Emulator, httpx.Client], db: Database) -> AsyncIterator[Setup]:  # noqa: F811
    emu, http = emulator
    repos = repositories(db)
    for user_id, upn in (("u-adele", ADELE), ("u-megan", MEGAN)):
        person = emu.state.user(upn)
        await repos.users.upsert(
            User(
                id=user_id,
                tenant_id=person.tenant_id,
                aad_object_id=person.id,
                display_name=person.display_name,
                email=upn,
            )
        )
    yield Setup(emu, http, repos)


def legacy_encrypt(text: str, secret: str) -> bytes:
    """How the previous release stored a cache: Fernet under HKDF-SHA256(secret), not bound to a user."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"slotwise/msal-token-cache", info=b"fernet-key-v1").derive(
        secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key)).encrypt(text.encode())


async def test_on_behalf_of_and_refresh_use_the_tenant_of_the_token_not_organizations(setup: Setup) -> None:
    identity = setup.identity()
    tenant = setup.emu.state.user(ADELE).tenant_id
    await identity.exchange_sso_token("u-adele", setup.sso_token(ADELE))
    assert setup.tenants(OBO) == [tenant]
    assert await identity.access_token("u-adele", force_refresh=True)
    assert setup.tenants("refresh_token") == [tenant]

    start = await identity.start_sign_in("st", login_hint=MEGAN, tenant=tenant)  # the Teams user's tenant
    assert f"/{tenant}/oauth2/v2.0/authorize?" in start.auth_uri


async def test_a_cache_copied_to_another_users_row_is_not_connected_never_the_other_user(setup: Setup) -> None:
    identity = setup.identity()
    await identity.exchange_sso_token("u-adele", setup.sso_token(ADELE))
    adele_blob = await setup.repos.tokens.load_token_cache("u-adele")
    assert adele_blob is not None and TokenCacheCipher.is_current(adele_blob)

    await setup.repos.tokens.save_token_cache("u-megan", adele_blob)  # the attack: copy the row
    assert not await identity.is_connected("u-megan")
    with pytest.raises(CalendarAuthError) as info:
        await identity.access_token("u-megan")
    assert info.value.graph_code == "token_cache_unreadable"
    assert await identity.is_connected("u-adele")  # Adele's own row still works
    adele_token = await identity.access_token("u-adele")
    record = setup.emu.state.authenticate(adele_token)
    assert record is not None and record.user_id == setup.emu.state.user(ADELE).id


async def test_a_cache_stored_by_the_previous_release_works_and_is_re_encrypted_for_its_user(setup: Setup) -> None:
    # What the previous release stored: a cache from on-behalf-of against "organizations", Fernet-encrypted.
    cache = msal.SerializableTokenCache()
    old_app = msal.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential="app-secret",
        authority="https://login.microsoftonline.com/organizations",
        token_cache=cache,
        http_client=setup.http,
        instance_discovery=False,
        http_cache={},
    )
    result = await asyncio.to_thread(
        old_app.acquire_token_on_behalf_of, setup.sso_token(ADELE), ["https://graph.microsoft.com/User.Read"]
    )
    assert "access_token" in result, result
    await setup.repos.tokens.save_token_cache("u-adele", legacy_encrypt(cache.serialize(), SECRET))
    requests_before = len(setup.emu.state.token_requests)

    identity = setup.identity()
    assert await identity.is_connected("u-adele")
    upgraded = await setup.repos.tokens.load_token_cache("u-adele")
    assert upgraded is not None and TokenCacheCipher.is_current(upgraded)  # re-encrypted, user-bound
    assert TokenCacheCipher(SECRET).decrypt(upgraded, "u-adele") == cache.serialize()
    token = await identity.access_token("u-adele")
    assert setup.emu.state.authenticate(token) is not None
    # Its tokens were issued for "organizations": the refresh goes to Adele's own tenant.
    assert [r.tenant for r in setup.emu.state.token_requests[requests_before:]] == [
        setup.emu.state.user(ADELE).tenant_id
    ]

    await setup.repos.tokens.save_token_cache("u-megan", upgraded)  # and it is now bound to Adele
    assert not await identity.is_connected("u-megan")
