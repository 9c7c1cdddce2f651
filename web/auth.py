"""Microsoft sign-in fallback for hosts (when Teams SSO is not possible).

``GET /auth/start?state=...`` checks the signed state (it names the Teams user who asked), starts the
authorization-code flow with PKCE and keeps the flow in an encrypted, short-lived, HttpOnly cookie (its
key is the sign-in-flow key, ``WebContext.secret``), so any replica can finish it. ``/auth/callback``
(POSTed form by default, or query) finishes it: when the account that signed in is the Teams user's
own, their encrypted token cache is stored and the bot tells them "connected" in chat (outbox); anyone
else's account gets a page saying so, and nothing is stored. Consent blocked by the tenant shows the
admin-consent link to forward; an MFA / Conditional Access challenge restarts the sign-in with the claims.

``GET /auth/consent`` is where Microsoft sends the administrator after the admin-consent page
(``admin_consent=True&tenant=...&state=...``, or ``error=...``): it thanks them (or says consent was not
granted), and the host the link was made for is told in chat to connect again.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from cryptography.fernet import Fernet, InvalidToken

from scheduling.errors import SignInRequired, SlotwiseError, WrongAccount
from web.context import WEB, WebContext
from web.pages import message_page, render
from web.wire import WireRefusal, read_form

FLOW_COOKIE = "sw_signin"
FLOW_MAX_AGE = 900


def _fernet(ctx: WebContext) -> Fernet:
    """The flow cookie's cipher: ``ctx.secret`` is the 32-byte sign-in-flow key (scheduling.keys)."""
    return Fernet(base64.urlsafe_b64encode(ctx.secret))


async def auth_start(request: web.Request) -> web.StreamResponse:
    ctx: WebContext = request.app[WEB]
    if ctx.connections is None:
        raise web.HTTPNotFound()
    try:
        start = await ctx.connections.begin_sign_in(request.query.get("state", ""), request.query.get("claims") or None)
    except SlotwiseError as exc:
        return message_page(ctx, request, exc, heading="Can't start sign-in")
    response = web.HTTPFound(start.auth_uri)
    token = _fernet(ctx).encrypt(json.dumps(dict(start.flow)).encode()).decode()
    secure = ctx.base_url.startswith("https")
    # form_post callbacks are cross-site POSTs in production: the cookie must be SameSite=None; Secure.
    response.set_cookie(
        FLOW_COOKIE,
        token,
        max_age=FLOW_MAX_AGE,
        httponly=True,
        secure=secure,
        samesite="None" if secure else "Lax",
        path="/auth",
    )
    raise response


async def auth_callback(request: web.Request) -> web.StreamResponse:
    ctx: WebContext = request.app[WEB]
    if ctx.connections is None:
        raise web.HTTPNotFound()
    params: dict[str, str] = dict(request.query)
    if request.method == "POST":
        try:
            params.update(await read_form(request))  # Microsoft's form_post; anything unreadable is a clear 4xx
        except WireRefusal as exc:
            return render(ctx, request, "message.html", status=exc.status, heading=exc.title, message=exc.detail)
    state = params.get("state", "")
    flow = _read_flow(ctx, request)
    if flow is None:
        return render(
            ctx,
            request,
            "message.html",
            status=400,
            heading="Sign-in expired",
            message="This sign-in took too long or was opened in another browser. "
            "Go back to Teams and say 'connect' to try again.",
        )
    try:
        user = await ctx.connections.finish_sign_in(state, flow, params)
    except WrongAccount as exc:
        response = render(
            ctx,
            request,
            "message.html",
            status=403,
            heading="That's not your Microsoft account",
            message=exc.message + " If you share this computer, sign out of the other account first.",
        )
        response.del_cookie(FLOW_COOKIE, path="/auth")
        return response
    except SignInRequired as exc:
        return await _sign_in_problem(ctx, request, exc, state)
    except SlotwiseError as exc:
        return message_page(ctx, request, exc, heading="Sign-in failed")
    response = render(
        ctx,
        request,
        "message.html",
        heading="Outlook connected",
        message=f"Thanks, {user.display_name}. Slotwise can now read your free/busy time and add "
        "bookings to your Outlook calendar. You can close this window and return to Teams.",
    )
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


async def _sign_in_problem(
    ctx: WebContext, request: web.Request, exc: SignInRequired, state: str
) -> web.StreamResponse:
    if exc.kind == "mfa" and exc.claims:
        raise web.HTTPFound("/auth/start?" + urlencode({"state": state, "claims": exc.claims}))
    if exc.kind == "consent":
        return render(
            ctx, request, "consent.html", status=403, consent_url=exc.admin_consent_url or "", message=exc.message
        )
    return render(ctx, request, "message.html", status=400, heading="Sign-in failed", message=exc.message)


async def auth_consent(request: web.Request) -> web.StreamResponse:
    """The admin-consent landing (the admin-consent link's redirect URI)."""
    ctx: WebContext = request.app[WEB]
    if ctx.connections is None:
        raise web.HTTPNotFound()
    try:
        outcome = await ctx.connections.finish_admin_consent(dict(request.query))
    except SlotwiseError as exc:
        return message_page(ctx, request, exc, heading="Something went wrong")
    if not outcome.granted:
        said = f" (Microsoft answered: {outcome.error})" if outcome.error else ""
        return render(
            ctx,
            request,
            "message.html",
            status=400,
            heading="Consent was not granted",
            message=f"Slotwise was not approved for your organisation{said}, so nothing changed. To "
            "approve it, open the approval link you were sent again and select Accept.",
        )
    told = (
        f" We've let {outcome.host.display_name} know in Teams."
        if outcome.host is not None
        else " Let the person who asked for it know."
    )
    return render(
        ctx,
        request,
        "message.html",
        heading="Consent granted",
        message="Thank you: Slotwise is now approved for your organisation. Ask the host to connect "
        "their Outlook calendar again (say 'connect' to the Slotwise bot in Teams)." + told,
    )


def setup_auth(app: web.Application) -> None:
    app.router.add_get("/auth/start", auth_start)
    app.router.add_route("GET", "/auth/callback", auth_callback)
    app.router.add_route("POST", "/auth/callback", auth_callback)
    app.router.add_get("/auth/consent", auth_consent)
