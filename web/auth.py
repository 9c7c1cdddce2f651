"""Microsoft sign-in fallback for hosts (when Teams SSO is not possible).

``GET /auth/start?state=...`` checks the signed state (it names the Teams user who asked), starts the
authorization-code flow with PKCE and keeps the flow in an encrypted, short-lived, HttpOnly cookie, so
any replica can finish it. ``/auth/callback`` (POSTed form by default, or query) finishes it, stores
the user's encrypted token cache, and the bot tells the user "connected" in chat (outbox).
Consent blocked by the tenant shows the admin-consent link to forward; an MFA / Conditional Access
challenge restarts the sign-in with the claims.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from cryptography.fernet import Fernet, InvalidToken

from scheduling.errors import SignInRequired, SlotwiseError
from web.context import WEB, WebContext
from web.pages import message_page, render

FLOW_COOKIE = "sw_signin"
FLOW_MAX_AGE = 900


def _fernet(ctx: WebContext) -> Fernet:
    key = hashlib.sha256(ctx.secret + b"/slotwise/sign-in-flow").digest()
    return Fernet(base64.urlsafe_b64encode(key))


async def auth_start(request: web.Request) -> web.StreamResponse:
    ctx: WebContext = request.app[WEB]
    if ctx.connections is None:
        raise web.HTTPNotFound()
    try:
        start = await ctx.connections.begin_sign_in(request.query.get("state", ""),
                                                    request.query.get("claims") or None)
    except SlotwiseError as exc:
        return message_page(ctx, request, exc, heading="Can't start sign-in")
    response = web.HTTPFound(start.auth_uri)
    token = _fernet(ctx).encrypt(json.dumps(dict(start.flow)).encode()).decode()
    secure = ctx.base_url.startswith("https")
    # form_post callbacks are cross-site POSTs in production: the cookie must be SameSite=None; Secure.
    response.set_cookie(FLOW_COOKIE, token, max_age=FLOW_MAX_AGE, httponly=True, secure=secure,
                        samesite="None" if secure else "Lax", path="/auth")
    raise response


async def auth_callback(request: web.Request) -> web.StreamResponse:
    ctx: WebContext = request.app[WEB]
    if ctx.connections is None:
        raise web.HTTPNotFound()
    params: dict[str, str] = dict(request.query)
    if request.method == "POST":
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    state = params.get("state", "")
    flow = _read_flow(ctx, request)
    if flow is None:
        return render(ctx, request, "message.html", status=400, heading="Sign-in expired",
                      message="This sign-in took too long or was opened in another browser. "
                              "Go back to Teams and say 'connect' to try again.")
    try:
        user = await ctx.connections.finish_sign_in(state, flow, params)
    except SignInRequired as exc:
        return await _sign_in_problem(ctx, request, exc, state)
    except SlotwiseError as exc:
        return message_page(ctx, request, exc, heading="Sign-in failed")
    response = render(ctx, request, "message.html", heading="Outlook connected",
                      message=f"Thanks, {user.display_name}. Slotwise can now read your free/busy time and add "
                              "bookings to your Outlook calendar. You can close this window and return to Teams.")
    response.del_cookie(FLOW_COOKIE, path="/auth")
    return response


def _read_flow(ctx: WebContext, request: web.Request) -> dict[str, Any] | None:
    raw = request.cookies.get(FLOW_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(_fernet(ctx).decrypt(raw.encode(), ttl=FLOW_MAX_AGE))
    except (InvalidToken, ValueError):
        return None
    return data if isinstance(data, dict) else None


async def _sign_in_problem(ctx: WebContext, request: web.Request, exc: SignInRequired,
                           state: str) -> web.StreamResponse:
    if exc.kind == "mfa" and exc.claims:
        raise web.HTTPFound("/auth/start?" + urlencode({"state": state, "claims": exc.claims}))
    if exc.kind == "consent":
        return render(ctx, request, "consent.html", status=403, consent_url=exc.admin_consent_url or "",
                      message=exc.message)
    return render(ctx, request, "message.html", status=400, heading="Sign-in failed", message=exc.message)


def setup_auth(app: web.Application) -> None:
    app.router.add_get("/auth/start", auth_start)
    app.router.add_route("GET", "/auth/callback", auth_callback)
    app.router.add_route("POST", "/auth/callback", auth_callback)
