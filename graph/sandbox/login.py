"""The sandbox identity platform: just enough of ``login.microsoftonline.com`` for MSAL.

Routes (relative to where the app is mounted, e.g. ``/sandbox/login``):

* ``GET /{tenant}/v2.0/.well-known/openid-configuration`` and ``GET /{tenant}/discovery/v2.0/keys``;
  ``GET /common/discovery/instance`` (instance discovery, for clients that keep it on).
* ``GET|POST /{tenant}/oauth2/v2.0/authorize``: the sandbox sign-in, an account picker like Microsoft's
  (no passwords). ``login_hint`` only preselects an account: the person may pick or type another, so a
  flow can finish as a different account than the hint, as on Microsoft's real page. The picker's choice
  arrives as ``sandbox_user``; the app then redirects back to ``redirect_uri`` with ``code`` and ``state``
  (``response_mode`` query, fragment or form_post), remembering ``code_challenge`` (PKCE) and ``nonce``,
  and keeps a browser session (a cookie) for that account: the next authorize from the same browser
  signs in without the picker when the hint is absent or names the session's account, unless
  ``prompt=login``/``select_account`` (``prompt=none`` without a usable session: ``login_required``).
* ``POST /{tenant}/oauth2/v2.0/token``: ``authorization_code`` (PKCE S256/plain checked, codes single
  use, 10 minutes), ``refresh_token`` and ``urn:ietf:params:oauth:grant-type:jwt-bearer`` (on-behalf-of;
  the assertion is any JWT whose ``oid`` or ``preferred_username``/``upn`` names a user, and whose
  ``aud`` is the client id or one of the app's Application ID URIs, ``EmulatorState.register_app``,
  else AADSTS500131 as in Entra ID). Every call is recorded in ``EmulatorState.token_requests`` with the
  tenant segment of its path (the authority the client used). Success gives
  ``access_token`` (valid against the Graph app), ``refresh_token``, ``id_token`` (nonce echoed),
  ``client_info``, ``token_type``, ``scope``, ``expires_in``, ``ext_expires_in``. Failures use the real
  AADSTS body (``error``, ``error_description``, ``error_codes``, ``timestamp``, ``trace_id``,
  ``correlation_id``, ``suberror``, ``claims``); ``state.set_token_error`` injects them per user.
* ``GET /{tenant}/v2.0/adminconsent`` (and legacy ``/{tenant}/adminconsent``): redirects back with
  ``admin_consent=True&tenant=...`` and lifts injected ``consent_required`` errors in that tenant.

Endpoint URLs in the discovery document are built from ``public_base_url`` when given (e.g.
``https://login.sandbox.test`` when MSAL reaches this app through an injected transport, since MSAL
insists on https), else from ``X-Forwarded-Proto``/``X-Forwarded-Host``, else from the request.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from graph.sandbox.model import AuthCode, EmUser, TokenRequest
from graph.sandbox.state import EmulatorState, trim
from graph.sandbox.tokens import b64url, client_info, decode_jwt, encode_jwt

STATE_KEY = web.AppKey("login_sandbox_state", EmulatorState)
SESSION_COOKIE = "sandbox_login_session"
BASE_KEY = web.AppKey("login_sandbox_base", str)
GRAPH_RESOURCE = "https://graph.microsoft.com/"
RESERVED_SCOPES = {"openid", "profile", "offline_access"}
OBO_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CODE_LIFETIME = timedelta(minutes=10)
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_MULTI_TENANT = {"common", "organizations", "consumers"}


class TokenError(Exception):
    def __init__(
        self,
        error: str,
        code: int,
        message: str,
        *,
        status: int = 400,
        suberror: str | None = None,
        claims: str | None = None,
    ) -> None:
        super().__init__(f"{error} AADSTS{code}")
        self.error, self.code, self.message, self.status = error, code, message, status
        self.suberror, self.claims = suberror, claims

    def response(self, base: str, now: datetime) -> web.Response:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
        body: dict[str, Any] = {
            "error": self.error,
            "error_description": f"AADSTS{self.code}: {self.message}\r\nTrace ID: {trace}\r\n"
            f"Correlation ID: {correlation}\r\nTimestamp: {stamp}",
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"{base}/error?code={self.code}",
        }
        if self.suberror:
            body["suberror"] = self.suberror
        if self.claims:
            body["claims"] = self.claims
        return web.json_response(body, status=self.status)


# -------------------------------------------------------------------------------------- helpers


def _mount_prefix(request: web.Request) -> str:
    """Where the login app is mounted (``/sandbox/login``, or "" at the root)."""
    canonical = request.match_info.route.resource.canonical if request.match_info.route.resource else ""
    for marker in ("/{tenant}/", "/common/discovery/instance"):
        index = canonical.find(marker)
        if index >= 0:
            return canonical[:index]
    return ""


def _base(request: web.Request) -> str:
    configured = request.app[BASE_KEY]
    if configured:
        return configured.rstrip("/")
    prefix = _mount_prefix(request)
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
    return f"{scheme}://{host}{prefix}"


def _tenant_id(state: EmulatorState, tenant: str) -> str | None:
    """A concrete tenant id for a path segment (GUID or a domain of a user), None for multi-tenant."""
    if tenant.lower() in _MULTI_TENANT:
        return None
    if _GUID.match(tenant):
        return tenant.lower()
    known = next((u.tenant_id for u in state.users.values() if u.tenant_id.lower() == tenant.lower()), None)
    if known is not None:
        return known.lower()
    domain = tenant.lower()
    found = next((u.tenant_id for u in state.users.values() if u.upn.lower().endswith("@" + domain)), None)
    return found or state.default_tenant_id


def _graph_scopes(scope: str) -> tuple[str, ...]:
    names = []
    for item in scope.split():
        if item.lower() in RESERVED_SCOPES:
            continue
        names.append(item[len(GRAPH_RESOURCE) :] if item.lower().startswith(GRAPH_RESOURCE) else item)
    return tuple(names) or ("User.Read",)


def _echo_scope(scope: str) -> str:
    kept = [s for s in scope.split() if s.lower() not in RESERVED_SCOPES]
    return " ".join(kept) or "https://graph.microsoft.com/User.Read"


def _check_tenant(state: EmulatorState, tenant: str, user: EmUser) -> None:
    tid = _tenant_id(state, tenant)
    if tid is not None and tid != user.tenant_id.lower():
        raise TokenError(
            "invalid_grant",
            50020,
            f"User account '{user.upn}' from identity provider "
            f"'https://sts.windows.net/{user.tenant_id}/' does not exist in tenant '{tenant}' and "
            "cannot access the application in that tenant.",
        )


def _injected(state: EmulatorState, user: EmUser, grant: str, client_id: str) -> None:
    kind = state.token_errors.get(user.id)
    if kind is None:
        return
    if kind == "invalid_grant":
        if grant == "refresh_token":
            issued = (state.now() - timedelta(days=91)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
            raise TokenError(
                "invalid_grant",
                700082,
                "The refresh token has expired due to inactivity. The token "
                f"was issued on {issued} and was inactive for 90.00:00:00.",
            )
        raise TokenError(
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired "
            "due to inactivity. Send a new interactive authorization request for this user and resource.",
        )
    if kind == "consent_required":
        raise TokenError(
            "invalid_grant",
            65001,
            f"The user or administrator has not consented to use the "
            f"application with ID '{client_id}' named 'Slotwise'. Send an interactive authorization "
            "request for this user and resource.",
            suberror="consent_required",
        )
    if kind == "mfa_required":
        policy = str(uuid.uuid5(uuid.NAMESPACE_URL, f"capolicy:{user.tenant_id}"))
        claims = json.dumps(
            {"access_token": {"capolids": {"essential": True, "values": [policy]}}}, separators=(",", ":")
        )
        raise TokenError(
            "invalid_grant" if grant == OBO_GRANT else "interaction_required",
            50076,
            "Due to a configuration change made by your administrator, or because you moved to a new "
            "location, you must use multi-factor authentication to access "
            "'00000003-0000-0000-c000-000000000000'.",
            suberror="basic_action",
            claims=claims,
        )
    raise TokenError(
        "interaction_required",
        50079,
        "Due to a configuration change made by your administrator, "
        "or because you moved to a new location, you must enroll in multi-factor authentication to "
        "access '00000003-0000-0000-c000-000000000000'.",
        suberror="additional_action",
    )


def _success(request: web.Request, user: EmUser, client_id: str, scope: str, nonce: str | None) -> web.Response:
    state: EmulatorState = request.app[STATE_KEY]
    base = _base(request)
    now = state.now()
    lifetime = state.access_token_lifetime
    access = state.issue_token(user.id, expires_in=lifetime, scopes=_graph_scopes(scope), app_id=client_id)
    claims: dict[str, Any] = {
        "aud": client_id,
        "iss": f"{base}/{user.tenant_id}/v2.0",
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
        "name": user.display_name,
        "oid": user.id,
        "preferred_username": user.upn,
        "sub": b64url(hashlib.sha256(f"{user.id}:{client_id}".encode()).digest()[:24]),
        "tid": user.tenant_id,
        "ver": "2.0",
        "uti": secrets.token_urlsafe(16),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    body = {
        "token_type": "Bearer",
        "scope": _echo_scope(scope),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access,
        "refresh_token": state.issue_refresh_token(user, client_id, scope),
        "id_token": encode_jwt(claims),
        "client_info": client_info(user.id, user.tenant_id),
    }
    return web.json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


# ------------------------------------------------------------------------------------- handlers


async def openid_configuration(request: web.Request) -> web.Response:
    state: EmulatorState = request.app[STATE_KEY]
    tenant = request.match_info["tenant"]
    base = _base(request)
    tid = _tenant_id(state, tenant) or "{tenantid}"
    host = urlsplit(base).netloc
    return web.json_response(
        {
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{tid}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "cloud_instance_name",
                "cloud_instance_host_name",
                "cloud_graph_host_name",
                "msgraph_host",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "at_hash",
                "c_hash",
                "email",
            ],
            "kerberos_endpoint": f"{base}/{tenant}/kerberos",
            "tenant_region_scope": "NA",
            "cloud_instance_name": host,
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }
    )


async def keys(request: web.Request) -> web.Response:
    return web.json_response({"keys": []})


async def instance_discovery(request: web.Request) -> web.Response:
    base = _base(request)
    host = urlsplit(base).netloc
    return web.json_response(
        {
            "tenant_discovery_endpoint": f"{base}/common/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }
    )


def _picker(request: web.Request, params: Mapping[str, str], message: str = "", preselect: str = "") -> web.Response:
    """Microsoft's "Pick an account" page: a form whose account field is filled with ``preselect`` (the
    ``login_hint``) and can be changed, and every sandbox user as a link that picks them."""
    state: EmulatorState = request.app[STATE_KEY]
    kept = {k: v for k, v in params.items() if k != "sandbox_user"}
    rows = []
    for user in sorted(state.users.values(), key=lambda u: u.display_name):
        query = urlencode({**kept, "sandbox_user": user.upn})
        rows.append(
            f'<li><a href="?{html.escape(query)}">{html.escape(user.display_name)}</a> '
            f"&lt;{html.escape(user.upn)}&gt;</li>"
        )
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in kept.items())
    note = f'<p role="alert">{html.escape(message)}</p>' if message else ""
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sandbox sign-in</title></head>'
        f"<body><h1>Sign in to the Slotwise sandbox</h1>{note}"
        f'<form method="POST" action="{html.escape(request.path)}" id="account-picker">{hidden}'
        f'<label for="sandbox_user">Account</label> <input id="sandbox_user" name="sandbox_user" type="text" '
        f'value="{html.escape(preselect)}" autocomplete="username"> <button type="submit">Next</button></form>'
        f"<p>Or pick a sandbox user (no password):</p>"
        f"<ul>{''.join(rows) or '<li>No users yet.</li>'}</ul></body></html>"
    )
    return web.Response(text=page, content_type="text/html", status=400 if message else 200)


def _redirect(
    redirect_uri: str, params: dict[str, str], mode: str, session: tuple[str, str] | None = None
) -> web.Response:
    """Send the browser back to the client; ``session`` (cookie path, user id) signs the browser in."""
    if mode == "form_post":
        inputs = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in params.items()
        )
        page = (
            f'<!doctype html><html><head><title>Working...</title></head><body onload="document.forms[0].submit()">'
            f'<form method="POST" action="{html.escape(redirect_uri)}">{inputs}'
            "<noscript><button type=submit>Continue</button></noscript></form></body></html>"
        )
        response = web.Response(text=page, content_type="text/html")
        _remember(response, session)
        return response
    parts = urlsplit(redirect_uri)
    if mode == "fragment":
        location = urlunsplit(parts._replace(fragment=urlencode(params)))
    else:
        query = "&".join(filter(None, [parts.query, urlencode(params)]))
        location = urlunsplit(parts._replace(query=query))
    found = web.HTTPFound(location)
    _remember(found, session)
    raise found


def _remember(response: web.StreamResponse, session: tuple[str, str] | None) -> None:
    if session is not None:
        path, user_id = session
        response.set_cookie(SESSION_COOKIE, user_id, path=path or "/", httponly=True, samesite="Lax")


async def authorize(request: web.Request) -> web.Response:
    state: EmulatorState = request.app[STATE_KEY]
    params = dict(request.query)
    if request.method == "POST":
        params.update({k: str(v) for k, v in (await request.post()).items()})
    client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
    if not client_id:
        return web.Response(
            status=400, text="AADSTS900144: The request body must contain the following parameter: 'client_id'."
        )
    if not redirect_uri or urlsplit(redirect_uri).scheme not in ("http", "https"):
        return web.Response(
            status=400,
            text="AADSTS50011: The redirect URI specified in the request does not "
            "match the redirect URIs configured for the application.",
        )
    mode = params.get("response_mode", "query")
    if "code" not in params.get("response_type", "code").split():
        return _redirect(
            redirect_uri,
            {
                "error": "unsupported_response_type",
                "error_description": "AADSTS70005: response_type is not supported by the sandbox.",
                "state": params.get("state", ""),
            },
            mode,
        )
    user = _account(request, params)
    if isinstance(user, web.Response):
        return user
    code = "1.A" + secrets.token_urlsafe(48)
    state.auth_codes[code] = AuthCode(
        user_id=user.id,
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=params.get("scope", ""),
        code_challenge=params.get("code_challenge"),
        code_challenge_method=params.get("code_challenge_method", "plain"),
        nonce=params.get("nonce"),
        expires_at=state.now() + CODE_LIFETIME,
    )
    reply = {"code": code, "client_info": client_info(user.id, user.tenant_id), "session_state": str(uuid.uuid4())}
    if "state" in params:
        reply["state"] = params["state"]
    return _redirect(redirect_uri, reply, mode, session=(_mount_prefix(request), user.id))


def _account(request: web.Request, params: Mapping[str, str]) -> EmUser | web.Response:
    """The account this authorize request signs in, or the page (picker, or the error redirect) to answer
    with: the account picked (``sandbox_user``), else the browser's session when it is for the hinted
    account (or there is no hint) and no ``prompt`` asks to pick again, else the picker, the hint
    preselected."""
    state: EmulatorState = request.app[STATE_KEY]
    chosen = params.get("sandbox_user", "").strip()
    hint = params.get("login_hint", "").strip()
    prompt = params.get("prompt", "").strip().lower()
    if chosen:
        picked = state.get_user(chosen)
        if picked is None:
            return _picker(
                request,
                params,
                f"AADSTS50034: The user account {chosen} does not exist in the sandbox directory.",
                preselect=chosen,
            )
        return picked
    session = state.users.get(request.cookies.get(SESSION_COOKIE, ""))
    hinted = state.get_user(hint) if hint else None
    if session is not None and prompt not in ("login", "select_account") and (not hint or hinted is session):
        return session
    if prompt == "none":
        reply = {
            "error": "login_required",
            "error_description": "AADSTS50058: A silent sign-in request was sent but no user is signed in.",
            "state": params.get("state", ""),
        }
        return _redirect(params.get("redirect_uri", ""), reply, params.get("response_mode", "query"))
    if hint and hinted is None:
        return _picker(
            request,
            {k: v for k, v in params.items() if k != "login_hint"},
            f"AADSTS50034: The user account {hint} does not exist in the sandbox directory.",
        )
    return _picker(request, params, preselect=hinted.upn if hinted is not None else "")


def _pkce_ok(code: AuthCode, verifier: str | None) -> bool:
    if code.code_challenge is None:
        return True
    if not verifier:
        return False
    if code.code_challenge_method.upper() == "S256":
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        return secrets.compare_digest(digest, code.code_challenge)
    return secrets.compare_digest(verifier, code.code_challenge)


def _grant_code(state: EmulatorState, form: Mapping[str, str], client_id: str) -> tuple[EmUser, str, str | None]:
    code = state.auth_codes.get(form.get("code", ""))
    if code is None:
        raise TokenError("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    if code.used:
        raise TokenError(
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry "
            "with a new valid code or use an existing refresh token.",
        )
    if code.expires_at <= state.now():
        raise TokenError(
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired "
            "due to inactivity. Send a new interactive authorization request for this user and resource.",
        )
    if code.client_id != client_id:
        raise TokenError("invalid_grant", 70002, "The client does not exist or is not enabled for consumers.")
    if form.get("redirect_uri", code.redirect_uri) != code.redirect_uri:
        raise TokenError(
            "invalid_grant",
            50011,
            "The redirect URI specified in the request does not match the "
            "redirect URI the authorization code was issued for.",
        )
    if not _pkce_ok(code, form.get("code_verifier")):
        raise TokenError(
            "invalid_grant",
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        )
    code.used = True
    return state.users[code.user_id], form.get("scope") or code.scope, code.nonce


def _grant_refresh(state: EmulatorState, form: Mapping[str, str]) -> tuple[EmUser, str]:
    record = state.refresh_tokens.get(form.get("refresh_token", ""))
    if record is None:
        raise TokenError("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    if record.revoked:
        raise TokenError(
            "invalid_grant",
            50173,
            "The provided grant has expired due to it being revoked, a fresh "
            "auth token is needed. The user might have changed or reset their password.",
        )
    return state.users[record.user_id], form.get("scope") or record.scope


def _check_audience(state: EmulatorState, claims: Mapping[str, Any], client_id: str) -> None:
    """The assertion must have been issued to the app presenting it (its client id or one of its
    Application ID URIs), as Entra ID requires for on-behalf-of."""
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    accepted = state.accepted_audiences(client_id)
    if any(isinstance(a, str) and (a.lower() == client_id.lower() or a in accepted) for a in audiences):
        return
    raise TokenError(
        "invalid_grant",
        500131,
        "Assertion audience does not match the Client app presenting the "
        f"assertion. The audience in the assertion was '{aud or ''}' and the expected audience is "
        f"'{client_id}' or one of the Application Uris of this application with App ID '{client_id}'"
        "(Slotwise). The downstream client must request a token for the expected audience (the "
        "application that made the OBO request) and this application should use that token as the "
        "assertion.",
    )


def _grant_obo(state: EmulatorState, form: Mapping[str, str], client_id: str) -> tuple[EmUser, str]:
    if form.get("requested_token_use", "on_behalf_of") != "on_behalf_of":
        raise TokenError(
            "invalid_request", 900144, "The request body must contain the following parameter: 'requested_token_use'."
        )
    try:
        claims = decode_jwt(form.get("assertion", ""))
    except ValueError as exc:
        raise TokenError("invalid_request", 50027, "JWT token is invalid or malformed.") from exc
    exp = claims.get("exp")
    if isinstance(exp, (int, float)) and datetime.fromtimestamp(exp, UTC) <= state.now():
        raise TokenError(
            "invalid_grant",
            500133,
            "Assertion is not within its valid time range. Ensure that the "
            "access token is not expired before using it for user assertion, or request a new token.",
        )
    _check_audience(state, claims, client_id)
    ref = claims.get("oid") or claims.get("preferred_username") or claims.get("upn") or ""
    user = state.get_user(str(ref)) if ref else None
    if user is None:
        raise TokenError(
            "invalid_grant", 50034, f"The user account {ref or '(none)'} does not exist in the sandbox directory."
        )
    return user, form.get("scope", "")


async def token(request: web.Request) -> web.Response:
    state: EmulatorState = request.app[STATE_KEY]
    base = _base(request)
    form = {k: str(v) for k, v in (await request.post()).items()}
    tenant = request.match_info["tenant"]
    state.token_requests.append(TokenRequest(tenant, form.get("grant_type", ""), form.get("client_id", "")))
    trim(state.token_requests)
    try:
        client_id = form.get("client_id", "")
        if not client_id:
            raise TokenError(
                "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'."
            )
        grant = form.get("grant_type", "")
        nonce = None
        if grant == "authorization_code":
            user, scope, nonce = _grant_code(state, form, client_id)
        elif grant == "refresh_token":
            user, scope = _grant_refresh(state, form)
        elif grant == OBO_GRANT:
            if not form.get("client_secret") and not form.get("client_assertion"):
                raise TokenError(
                    "invalid_client",
                    7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                    status=401,
                )
            user, scope = _grant_obo(state, form, client_id)
        else:
            raise TokenError("unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'.")
        _check_tenant(state, tenant, user)
        _injected(state, user, grant, client_id)
    except TokenError as err:
        return err.response(base, state.now())
    return _success(request, user, client_id, scope, nonce)


async def admin_consent(request: web.Request) -> web.Response:
    state: EmulatorState = request.app[STATE_KEY]
    params = dict(request.query)
    redirect_uri = params.get("redirect_uri", "")
    if not params.get("client_id") or not redirect_uri:
        return web.Response(status=400, text="AADSTS900144: The request must contain 'client_id' and 'redirect_uri'.")
    hint = params.get("sandbox_user") or params.get("login_hint")
    admin = state.get_user(hint) if hint else None
    tid = _tenant_id(state, request.match_info["tenant"]) or (admin.tenant_id if admin else state.default_tenant_id)
    state.consented_tenants.add(tid)
    for user_id, kind in list(state.token_errors.items()):
        if kind == "consent_required" and state.users[user_id].tenant_id == tid:
            del state.token_errors[user_id]
    reply = {"admin_consent": "True", "tenant": tid, "scope": params.get("scope", "")}
    if "state" in params:
        reply["state"] = params["state"]
    return _redirect(redirect_uri, reply, "query")


async def logout(request: web.Request) -> web.Response:
    target = request.query.get("post_logout_redirect_uri")
    if target and urlsplit(target).scheme in ("http", "https"):
        raise web.HTTPFound(target)
    return web.Response(text="You have signed out of the sandbox.", content_type="text/plain")


@web.middleware
async def _touch(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Codes, tokens and consents change here: note it, so a saver writes the state out."""
    try:
        return await handler(request)
    finally:
        request.app[STATE_KEY].touch()


def create_login_app(state: EmulatorState, public_base_url: str | None = None) -> web.Application:
    """The sandbox identity platform over ``state`` (see the module docstring for its routes)."""
    app = web.Application(middlewares=[_touch])
    app[STATE_KEY] = state
    app[BASE_KEY] = public_base_url or ""
    app.router.add_get("/common/discovery/instance", instance_discovery)
    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration)
    app.router.add_get("/{tenant}/discovery/v2.0/keys", keys)
    app.router.add_route("GET", "/{tenant}/oauth2/v2.0/authorize", authorize)
    app.router.add_route("POST", "/{tenant}/oauth2/v2.0/authorize", authorize)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
    app.router.add_get("/{tenant}/v2.0/adminconsent", admin_consent)
    app.router.add_get("/{tenant}/adminconsent", admin_consent)
    app.router.add_get("/{tenant}/oauth2/v2.0/logout", logout)
    return app
