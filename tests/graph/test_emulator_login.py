"""The sandbox identity platform: discovery, sandbox sign-in, the token endpoint's grants and its
AADSTS error shapes, admin consent, and MSAL driving it end to end."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import msal
import pytest

from graph.sandbox import create_login_app
from graph.sandbox.tokens import decode_jwt, encode_jwt
from tests.graph.emulator_fixtures import ADELE, MEGAN, Emu, running, serve

CLIENT = "11111111-aaaa-4bbb-8ccc-222222222222"
REDIRECT = "https://bot.example/auth/callback"
GRAPH_SCOPES = ["https://graph.microsoft.com/Calendars.ReadWrite", "https://graph.microsoft.com/User.Read"]
PUBLIC_HOST = "login.sandbox.test"


@pytest.fixture
async def emu() -> AsyncIterator[Emu]:
    async with running() as e:
        yield e


def tenant(emu: Emu) -> str:
    return emu.state.default_tenant_id


def pkce() -> tuple[str, str]:
    verifier = "v" * 43
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


async def authorize(emu: Emu, **params: str) -> httpx.Response:
    query = {
        "client_id": CLIENT,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid profile offline_access https://graph.microsoft.com/Calendars.ReadWrite",
        "state": "st4te",
        **params,
    }
    return await emu.http.get(f"{emu.login}/{tenant(emu)}/oauth2/v2.0/authorize", params=query)


async def code_for(emu: Emu, who: str = ADELE, **params: str) -> str:
    """A code for ``who``, picked on the sign-in page (``sandbox_user`` is what its account picker sends)."""
    r = await authorize(emu, login_hint=who, sandbox_user=who, **params)
    assert r.status_code == 302, r.text
    query = parse_qs(urlsplit(r.headers["Location"]).query)
    assert query["state"] == ["st4te"]
    return query["code"][0]


async def token(emu: Emu, tenant_segment: str | None = None, **form: str) -> httpx.Response:
    data = {"client_id": CLIENT, "client_secret": "s3cret", **form}
    return await emu.http.post(f"{emu.login}/{tenant_segment or tenant(emu)}/oauth2/v2.0/token", data=data)


def teams_sso_token(oid: str, **claims: Any) -> str:
    """A Teams SSO token for the app's default Application ID URI (``api://botid-<client id>``)."""
    return encode_jwt({"aud": f"api://botid-{CLIENT}", "oid": oid, "exp": 4102444800, **claims})


def picker_form(page: str) -> tuple[str, dict[str, str], str]:
    """The account picker's form: its action, hidden fields and the preselected account."""
    form = re.search(r'<form method="POST" action="([^"]*)" id="account-picker">(.*?)</form>', page, re.S)
    assert form is not None, page
    hidden = {
        html.unescape(k): html.unescape(v)
        for k, v in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', form.group(2))
    }
    chosen = re.search(r'name="sandbox_user" type="text" value="([^"]*)"', form.group(2))
    assert chosen is not None
    return html.unescape(form.group(1)), hidden, html.unescape(chosen.group(1))


def form_post_fields(page: str) -> dict[str, str]:
    return {
        html.unescape(k): html.unescape(v)
        for k, v in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page)
    }


def assert_aad_error(r: httpx.Response, error: str, code: int, suberror: str | None = None) -> dict[str, Any]:
    assert r.status_code in (400, 401), r.text
    body: dict[str, Any] = r.json()
    assert body["error"] == error and body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert "\r\nTrace ID: " in body["error_description"] and "\r\nCorrelation ID: " in body["error_description"]
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)
    assert body.get("suberror") == suberror
    return body


async def test_openid_configuration(emu: Emu) -> None:
    doc = (await emu.http.get(f"{emu.login}/{tenant(emu)}/v2.0/.well-known/openid-configuration")).json()
    assert doc["issuer"] == f"{emu.login}/{tenant(emu)}/v2.0"
    assert doc["token_endpoint"] == f"{emu.login}/{tenant(emu)}/oauth2/v2.0/token"
    assert doc["authorization_endpoint"] == f"{emu.login}/{tenant(emu)}/oauth2/v2.0/authorize"
    assert (await emu.http.get(doc["jwks_uri"])).json() == {"keys": []}
    common = (await emu.http.get(f"{emu.login}/common/v2.0/.well-known/openid-configuration")).json()
    assert common["issuer"] == f"{emu.login}/{{tenantid}}/v2.0"
    forwarded = (
        await emu.http.get(
            f"{emu.login}/common/v2.0/.well-known/openid-configuration",
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": PUBLIC_HOST},
        )
    ).json()
    assert forwarded["token_endpoint"] == f"https://{PUBLIC_HOST}/login/common/oauth2/v2.0/token"
    instance = (await emu.http.get(f"{emu.login}/common/discovery/instance")).json()
    assert instance["metadata"][0]["aliases"]


async def test_public_base_url_overrides_the_request() -> None:
    async with running(people=False) as emu, serve(create_login_app(emu.state, "https://login.example/t")) as root:
        doc = (await emu.http.get(f"{root}/common/v2.0/.well-known/openid-configuration")).json()
        assert doc["token_endpoint"] == "https://login.example/t/common/oauth2/v2.0/token"


async def test_authorize_without_a_user_shows_the_sandbox_picker(emu: Emu) -> None:
    r = await authorize(emu)
    assert r.status_code == 200 and "text/html" in r.headers["Content-Type"]
    assert "Adele Vance" in r.text and "sandbox_user=adele%40contoso.example" in r.text
    unknown = await authorize(emu, login_hint="ghost@contoso.example")
    assert unknown.status_code == 400 and "AADSTS50034" in unknown.text
    no_redirect = await emu.http.get(f"{emu.login}/common/oauth2/v2.0/authorize", params={"client_id": CLIENT})
    assert no_redirect.status_code == 400


async def test_authorize_response_modes(emu: Emu) -> None:
    frag = await authorize(emu, sandbox_user=MEGAN, response_mode="fragment")
    fragment = parse_qs(urlsplit(frag.headers["Location"]).fragment)
    assert fragment["code"] and fragment["state"] == ["st4te"]
    post = await authorize(emu, sandbox_user=MEGAN, response_mode="form_post")
    assert post.status_code == 200 and f'action="{REDIRECT}"' in post.text and 'name="code"' in post.text


async def test_authorization_code_with_pkce_and_nonce(emu: Emu) -> None:
    verifier, challenge = pkce()
    code = await code_for(emu, code_challenge=challenge, code_challenge_method="S256", nonce="n0nce")
    r = await token(
        emu,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
        scope="https://graph.microsoft.com/Calendars.ReadWrite openid profile offline_access",
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {
        "token_type",
        "scope",
        "expires_in",
        "ext_expires_in",
        "access_token",
        "refresh_token",
        "id_token",
        "client_info",
    }
    assert body["token_type"] == "Bearer" and body["scope"] == "https://graph.microsoft.com/Calendars.ReadWrite"
    claims = decode_jwt(body["id_token"])
    user = emu.state.user(ADELE)
    assert claims["nonce"] == "n0nce" and claims["aud"] == CLIENT and claims["oid"] == user.id
    assert claims["tid"] == user.tenant_id and claims["preferred_username"] == ADELE
    assert {"iss", "sub", "exp", "iat", "name"} <= set(claims)
    info = json.loads(base64.urlsafe_b64decode(body["client_info"] + "=="))
    assert info == {"uid": user.id, "utid": user.tenant_id}
    me = await emu.http.get(f"{emu.graph}/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["userPrincipalName"] == ADELE
    reuse = await token(emu, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier)
    assert_aad_error(reuse, "invalid_grant", 54005)


async def test_authorization_code_failures(emu: Emu) -> None:
    _, challenge = pkce()
    code = await code_for(emu, code_challenge=challenge, code_challenge_method="S256")
    bad = await token(emu, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier="x" * 43)
    assert_aad_error(bad, "invalid_grant", 501481)
    code = await code_for(emu, code_challenge=challenge, code_challenge_method="S256")
    missing = await token(emu, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert_aad_error(missing, "invalid_grant", 501481)
    code = await code_for(emu)
    wrong_uri = await token(emu, grant_type="authorization_code", code=code, redirect_uri="https://evil.example/cb")
    assert_aad_error(wrong_uri, "invalid_grant", 50011)
    code = await code_for(emu)
    emu.clock.advance(minutes=11)
    late = await token(emu, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert_aad_error(late, "invalid_grant", 70008)
    assert_aad_error(await token(emu, grant_type="authorization_code", code="nope"), "invalid_grant", 9002313)
    no_client = await emu.http.post(f"{emu.login}/common/oauth2/v2.0/token", data={"grant_type": "refresh_token"})
    assert_aad_error(no_client, "invalid_request", 900144)
    assert_aad_error(await token(emu, grant_type="password"), "unsupported_grant_type", 70003)


async def test_refresh_token_grant_and_revocation(emu: Emu) -> None:
    code = await code_for(emu)
    first = (await token(emu, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)).json()
    again = await token(
        emu,
        grant_type="refresh_token",
        refresh_token=first["refresh_token"],
        scope="https://graph.microsoft.com/Calendars.ReadWrite offline_access",
    )
    assert again.status_code == 200 and again.json()["access_token"] != first["access_token"]
    assert "nonce" not in decode_jwt(again.json()["id_token"])
    emu.state.revoke_refresh_tokens(ADELE)
    assert_aad_error(
        await token(emu, grant_type="refresh_token", refresh_token=first["refresh_token"]), "invalid_grant", 50173
    )
    assert_aad_error(await token(emu, grant_type="refresh_token", refresh_token="0.Abogus"), "invalid_grant", 9002313)


async def test_on_behalf_of_grant(emu: Emu) -> None:
    obo = {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "requested_token_use": "on_behalf_of",
        "scope": "https://graph.microsoft.com/.default offline_access openid profile",
    }
    user = emu.state.user(MEGAN)
    r = await token(emu, assertion=teams_sso_token(user.id), **obo)
    assert r.status_code == 200, r.text
    assert decode_jwt(r.json()["id_token"])["preferred_username"] == MEGAN
    by_upn = await token(emu, assertion=encode_jwt({"preferred_username": MEGAN, "aud": CLIENT}), **obo)
    assert by_upn.status_code == 200
    graph = await emu.http.get(f"{emu.graph}/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert graph.json()["id"] == user.id
    assert_aad_error(await token(emu, assertion="garbage", **obo), "invalid_request", 50027)
    assert_aad_error(await token(emu, assertion=teams_sso_token("nobody"), **obo), "invalid_grant", 50034)
    expired = teams_sso_token(user.id, exp=1_000_000)
    assert_aad_error(await token(emu, assertion=expired, **obo), "invalid_grant", 500133)
    no_secret = await emu.http.post(
        f"{emu.login}/{tenant(emu)}/oauth2/v2.0/token",
        data={"client_id": CLIENT, "assertion": teams_sso_token(user.id), **obo},
    )
    assert no_secret.status_code == 401
    assert_aad_error(no_secret, "invalid_client", 7000218)
    other_tenant = await token(
        emu, tenant_segment="99999999-9999-4999-8999-999999999999", assertion=teams_sso_token(user.id), **obo
    )
    assert_aad_error(other_tenant, "invalid_grant", 50020)
    for segment in ("contoso.example", "organizations"):
        r = await token(emu, tenant_segment=segment, assertion=teams_sso_token(user.id), **obo)
        assert r.status_code == 200


async def _grant_form(emu: Emu, grant: str) -> dict[str, str]:
    if grant == "obo":
        return {
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "requested_token_use": "on_behalf_of",
            "assertion": teams_sso_token(emu.state.user(ADELE).id),
            "scope": "https://graph.microsoft.com/.default",
        }
    code = await code_for(emu)
    first = (await token(emu, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)).json()
    if grant == "refresh":
        return {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    return {"grant_type": "authorization_code", "code": await code_for(emu), "redirect_uri": REDIRECT}


@pytest.mark.parametrize("grant", ["code", "refresh", "obo"])
@pytest.mark.parametrize(
    ("kind", "error", "code", "suberror"),
    [
        ("invalid_grant", "invalid_grant", None, None),
        ("consent_required", "invalid_grant", 65001, "consent_required"),
        ("mfa_required", None, 50076, "basic_action"),
        ("interaction_required", "interaction_required", 50079, "additional_action"),
    ],
)
async def test_injected_token_errors(
    emu: Emu, grant: str, kind: str, error: str | None, code: int | None, suberror: str | None
) -> None:
    form = await _grant_form(emu, grant)
    emu.state.set_token_error(ADELE, kind)
    r = await token(emu, **form)
    expected_error = error or ("invalid_grant" if grant == "obo" else "interaction_required")
    expected_code = code or (700082 if grant == "refresh" else 70008)
    body = assert_aad_error(r, expected_error, expected_code, suberror)
    if kind == "mfa_required":
        claims = json.loads(body["claims"])
        assert claims["access_token"]["capolids"]["essential"] is True
        assert "multi-factor authentication" in body["error_description"]
    if kind == "consent_required":
        assert f"application with ID '{CLIENT}'" in body["error_description"]
    emu.state.set_token_error(ADELE, None)
    retry = await _grant_form(emu, grant)
    assert (await token(emu, **retry)).status_code == 200


async def test_token_errors_are_per_user_and_validated(emu: Emu) -> None:
    emu.state.set_token_error(ADELE, "invalid_grant")
    megan = teams_sso_token(emu.state.user(MEGAN).id)
    r = await token(
        emu,
        grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer",
        assertion=megan,
        requested_token_use="on_behalf_of",
        scope="https://graph.microsoft.com/.default",
    )
    assert r.status_code == 200
    with pytest.raises(ValueError):
        emu.state.set_token_error(ADELE, "weird")


async def test_admin_consent_redirects_and_lifts_consent_errors(emu: Emu) -> None:
    emu.state.set_token_error(ADELE, "consent_required")
    emu.state.set_token_error(MEGAN, "mfa_required")
    r = await emu.http.get(
        f"{emu.login}/{tenant(emu)}/v2.0/adminconsent",
        params={
            "client_id": CLIENT,
            "redirect_uri": REDIRECT,
            "state": "xyz",
            "scope": "https://graph.microsoft.com/Calendars.ReadWrite",
        },
    )
    assert r.status_code == 302
    query = parse_qs(urlsplit(r.headers["Location"]).query)
    assert query["admin_consent"] == ["True"] and query["tenant"] == [tenant(emu)] and query["state"] == ["xyz"]
    assert ADELE not in [emu.state.users[u].upn for u in emu.state.token_errors]
    assert emu.state.token_errors == {emu.state.user(MEGAN).id: "mfa_required"}


# ---------------------------------------------------------------------------------- MSAL end to end


class Forwarding(httpx.BaseTransport):
    """Sends MSAL's https://login.sandbox.test/... requests to the local login app over plain HTTP,
    telling it the public scheme and host (as a reverse proxy would)."""

    def __init__(self, local_root: str) -> None:
        self.local = httpx.URL(local_root)
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url.copy_with(scheme=self.local.scheme, host=self.local.host, port=self.local.port)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        headers.update({"X-Forwarded-Proto": "https", "X-Forwarded-Host": PUBLIC_HOST})
        return self.inner.handle_request(httpx.Request(request.method, url, headers=headers, content=request.content))

    def close(self) -> None:
        self.inner.close()


def msal_app(emu: Emu, http: httpx.Client) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        CLIENT,
        client_credential="s3cret",
        authority=f"https://{PUBLIC_HOST}/login/{tenant(emu)}",
        instance_discovery=False,
        http_client=http,
        http_cache={},
    )


async def test_msal_auth_code_flow_refresh_and_obo(emu: Emu) -> None:
    def run() -> dict[str, Any]:
        with httpx.Client(transport=Forwarding(emu.root)) as http:
            app = msal_app(emu, http)
            flow = app.initiate_auth_code_flow(
                GRAPH_SCOPES, redirect_uri=REDIRECT, login_hint=ADELE, response_mode="form_post"
            )
            picker = http.get(flow["auth_uri"])
            action, fields, preselected = picker_form(picker.text)
            assert preselected == ADELE  # the hint preselects; the person confirms
            page = http.post(str(picker.url.join(action)), data={**fields, "sandbox_user": preselected})
            assert page.status_code == 200 and f'action="{REDIRECT}"' in page.text
            reply = form_post_fields(page.text)
            result = app.acquire_token_by_auth_code_flow(flow, reply)
            account = app.get_accounts()[0]
            refreshed = app.acquire_token_silent_with_error(GRAPH_SCOPES, account=account, force_refresh=True)
            cached = app.acquire_token_silent(GRAPH_SCOPES, account=account)
            obo = msal_app(emu, http).acquire_token_on_behalf_of(
                teams_sso_token(emu.state.user(MEGAN).id), ["https://graph.microsoft.com/.default"]
            )
            return {"code": result, "account": account, "refreshed": refreshed, "cached": cached, "obo": obo}

    out = await asyncio.to_thread(run)
    assert "access_token" in out["code"], out["code"]
    assert out["code"]["id_token_claims"]["preferred_username"] == ADELE
    user = emu.state.user(ADELE)
    assert out["account"]["home_account_id"] == f"{user.id}.{user.tenant_id}"
    assert out["refreshed"] and out["refreshed"]["access_token"] != out["code"]["access_token"]
    assert out["cached"]["access_token"] == out["refreshed"]["access_token"]
    assert "access_token" in out["obo"], out["obo"]
    for result in (out["code"], out["refreshed"], out["obo"]):
        r = await emu.http.get(f"{emu.graph}/me", headers={"Authorization": f"Bearer {result['access_token']}"})
        assert r.status_code == 200


async def test_msal_sees_injected_errors_as_error_dicts(emu: Emu) -> None:
    emu.state.set_token_error(MEGAN, "consent_required")

    def run() -> dict[str, Any]:
        with httpx.Client(transport=Forwarding(emu.root)) as http:
            result: dict[str, Any] = msal_app(emu, http).acquire_token_on_behalf_of(
                teams_sso_token(emu.state.user(MEGAN).id), ["https://graph.microsoft.com/.default"]
            )
            return result

    result = await asyncio.to_thread(run)
    assert result["error"] == "invalid_grant" and result["suberror"] == "consent_required"
    assert 65001 in result["error_codes"]


async def test_access_tokens_from_the_login_app_expire(emu: Emu) -> None:
    emu.state.access_token_lifetime = 60
    code = await code_for(emu)
    body = (await token(emu, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)).json()
    assert body["expires_in"] == 60
    emu.clock.advance(seconds=61)
    r = await emu.http.get(f"{emu.graph}/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert r.status_code == 401
    assert timedelta(seconds=body["ext_expires_in"]) == timedelta(seconds=60)


# ---------------------------------------------------------------- account picker and audience (issue 10)


async def test_login_hint_only_preselects_and_another_account_can_finish_the_sign_in(emu: Emu) -> None:
    """As on Microsoft's page, the hint fills in the account but the person may sign in as someone else."""
    picker = await authorize(emu, login_hint=ADELE, response_mode="form_post")
    assert picker.status_code == 200
    action, fields, preselected = picker_form(picker.text)
    assert preselected == ADELE and fields["login_hint"] == ADELE and fields["state"] == "st4te"
    done = await emu.http.post(str(picker.url.join(action)), data={**fields, "sandbox_user": MEGAN})
    assert done.status_code == 200 and f'action="{REDIRECT}"' in done.text
    reply = form_post_fields(done.text)
    assert reply["state"] == "st4te"
    r = await token(emu, grant_type="authorization_code", code=reply["code"], redirect_uri=REDIRECT)
    claims = decode_jwt(r.json()["id_token"])
    megan = emu.state.user(MEGAN)
    assert (claims["oid"], claims["tid"], claims["preferred_username"]) == (megan.id, megan.tenant_id, MEGAN)

    # The browser is now signed in as Megan: her own hint (or none) signs in at once, Adele's shows the picker.
    assert (await authorize(emu, login_hint=MEGAN)).status_code == 302
    assert (await authorize(emu)).status_code == 302
    again = await authorize(emu, login_hint=ADELE)
    assert again.status_code == 200 and picker_form(again.text)[2] == ADELE
    assert (await authorize(emu, login_hint=MEGAN, prompt="select_account")).status_code == 200
    typo = await emu.http.post(str(picker.url.join(action)), data={**fields, "sandbox_user": "nobody@contoso.example"})
    assert typo.status_code == 400 and "AADSTS50034" in typo.text and picker_form(typo.text)


async def test_prompt_none_without_a_signed_in_browser_is_login_required(emu: Emu) -> None:
    r = await authorize(emu, login_hint=ADELE, prompt="none")
    assert r.status_code == 302
    query = parse_qs(urlsplit(r.headers["Location"]).query)
    assert query["error"] == ["login_required"] and query["state"] == ["st4te"] and "code" not in query


async def test_on_behalf_of_needs_an_assertion_issued_to_the_app(emu: Emu) -> None:
    """Entra ID refuses an assertion whose audience is not the client id or one of the app's Application ID
    URIs (AADSTS500131): a wrong SSO resource in the manifest or a token for another app fails here too."""
    obo = {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "requested_token_use": "on_behalf_of",
        "scope": "https://graph.microsoft.com/.default",
    }
    megan = emu.state.user(MEGAN).id
    for aud in (f"api://botid-{CLIENT}", CLIENT, CLIENT.upper()):  # Teams' default URI, or the client id
        assert (await token(emu, assertion=teams_sso_token(megan, aud=aud), **obo)).status_code == 200, aud
    for wrong in ("api://bot.example/botid-" + CLIENT, "00000003-0000-0000-c000-000000000000", None):
        body = assert_aad_error(
            await token(emu, assertion=teams_sso_token(megan, aud=wrong), **obo), "invalid_grant", 500131
        )
        assert "Assertion audience does not match the Client app presenting the assertion" in body["error_description"]

    resource = f"api://bot.example/botid-{CLIENT}"
    emu.state.register_app(CLIENT, resource)  # the app's registered identifierUris
    assert (await token(emu, assertion=teams_sso_token(megan, aud=resource), **obo)).status_code == 200
    assert_aad_error(
        await token(emu, assertion=teams_sso_token(megan, aud=f"api://botid-{CLIENT}"), **obo), "invalid_grant", 500131
    )
    other_app = {"client_id": "99999999-aaaa-4bbb-8ccc-999999999999"}  # a token for us, presented by another app
    assert_aad_error(
        await token(emu, assertion=teams_sso_token(megan, aud=resource), **obo, **other_app), "invalid_grant", 500131
    )


async def test_the_token_endpoint_records_the_tenant_each_request_was_sent_to(emu: Emu) -> None:
    obo = {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "requested_token_use": "on_behalf_of",
        "assertion": teams_sso_token(emu.state.user(MEGAN).id),
        "scope": "https://graph.microsoft.com/.default",
    }
    await token(emu, tenant_segment="organizations", **obo)
    await token(emu, **obo)
    assert [(r.tenant, r.grant_type, r.client_id) for r in emu.state.token_requests] == [
        ("organizations", obo["grant_type"], CLIENT),
        (tenant(emu), obo["grant_type"], CLIENT),
    ]
