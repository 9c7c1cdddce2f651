"""Security for the web adapter: headers on every response, no stack traces, CSRF tokens, rate limits.

* Headers: a strict Content-Security-Policy (scripts and styles only from our origin; framing only by
  Teams), ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` (manage links carry
  a secret token in the URL and must not leak through the Referer header).
* Errors: any exception that escapes a handler becomes a plain 500 page or problem JSON with a
  reference: the request id (``web.observability``; also in the ``X-Request-Id`` header and, as
  ``requestId``, in every problem JSON), so the reference a person quotes finds the request's log lines; the
  traceback goes to the log only.
* Request size: a request target (path and query) longer than :data:`MAX_TARGET` is answered 414 with
  problem details before routing does anything with it. aiohttp itself reads a request line only up
  to its ``max_line_size`` and answers anything longer on its own, before any handler or middleware
  runs (a bare ``400 text/plain`` quoting the line's first 100 bytes; aiohttp 3.14 has no supported hook
  for that answer, aio-libs/aiohttp#3287), so the app raises that limit to :data:`MAX_REQUEST_LINE` (1 MiB,
  :data:`HANDLER_ARGS`, passed to ``web.Application`` and so used however the app is served: ``run_app``,
  ``AppRunner``, the tests' ``TestServer``): every target between our limit and 1 MiB gets the clean 414.
  Only a line over 1 MiB (no browser sends one; a proxy in front refuses it first) meets aiohttp's own
  answer, still a 4xx. Header lines keep aiohttp's limit (8190 bytes, answered the same way). aiohttp logs
  each such refusal as ``ERROR`` with the parser's traceback and the request's start in the message: the
  server logger of :data:`HANDLER_ARGS` (:data:`SERVER_LOG`, with :class:`RefusedRequestFilter`) writes it
  as one ``WARNING`` line naming the kind of error and the peer, without traceback or request text.
* CSRF: a random per-browser cookie and, in every form, an HMAC of it under the server secret
  (signed double submit). A form POST without a matching pair is refused with 403: the "Please try again"
  page, or problem details naming ``csrf_token`` for a client that asks for JSON (``web.pages.forbidden``).
* Rate limiting: booking submissions and slot reads are limited per client address by the core's
  shared limiter (``scheduling.ratelimit``: counters in the database, so every replica counts against
  one limit), checked first in each handler through ``WebContext.over_limit``.
* Client address: the socket peer, unless the peer is one of the configured trusted proxies
  (``SLOTWISE_TRUSTED_PROXIES``): then the right-most address of ``X-Forwarded-For`` that is not itself
  a trusted proxy. A header sent by anyone else is ignored, so it cannot buy a fresh rate-limit bucket.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

from scheduling.correlation import current_request_id, error_reference

log = logging.getLogger("slotwise.web")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
    "frame-ancestors 'self' https://teams.microsoft.com https://*.teams.microsoft.com "
    "https://*.cloud.microsoft https://*.office.com"
)
CSRF_COOKIE = "sw_csrf"
CSRF_FIELD = "csrf_token"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_TARGET = 8 * 1024  # the longest path-and-query we serve (ours are under 300 characters)
MAX_REQUEST_LINE = 1024 * 1024  # how much of a request line aiohttp reads before refusing it on its own


class RefusedRequestFilter(logging.Filter):
    """aiohttp's server logs a request it could not parse (``BadHttpMessage``: a line over its limit, bytes that
    are not HTTP) as ``ERROR`` with a traceback, and the parser's message quotes the request's first 100 bytes.
    That is the client's mistake, answered 400: rewritten here as one ``WARNING`` line with the error's kind, its
    limit and the peer, and nothing the client sent. Any other record (a real bug in a handler) passes as is."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, BadHttpMessage):
            peer = record.args[0] if isinstance(record.args, tuple) and record.args else None
            what = f"a line longer than {exc.args[1]} bytes" if isinstance(exc, LineTooLong) else "not valid HTTP"
            if record.levelno > logging.WARNING:
                record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
            record.msg = "refused a request from %s: %s (%s, answered %s)"
            record.args = (peer, what, type(exc).__name__, exc.code)
            record.exc_info, record.exc_text = None, None
        return True


SERVER_LOG = logging.getLogger("slotwise.web.server")  # aiohttp's server messages for our app (not aiohttp.server)
SERVER_LOG.addFilter(RefusedRequestFilter())
HANDLER_ARGS: dict[str, Any] = {  # web.Application(handler_args=...): what every RequestHandler is made with
    "max_line_size": MAX_REQUEST_LINE,
    "logger": SERVER_LOG,
}


def wants_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return (
        request.content_type == "application/json"
        or "application/json" in accept
        or request.path.endswith("/slots")
        or request.path.startswith("/api/")
    )


@web.middleware
async def security_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if len(request.raw_path) > MAX_TARGET:
        response: web.StreamResponse = web.json_response(
            {
                "type": "urn:slotwise:problem:uri_too_long",
                "title": "URI too long",
                "status": 414,
                "detail": f"The address is longer than {MAX_TARGET} characters.",
                "code": "uri_too_long",
            }
            | _request_id_member(),
            status=414,
            content_type="application/problem+json",
        )
        secure_headers(request, response)
        return response
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and wants_json(request) and exc.content_type != "application/problem+json":
            response = web.json_response(
                {"type": "about:blank", "title": exc.reason, "status": exc.status, "detail": exc.reason}
                | _request_id_member(),
                status=exc.status,
                content_type="application/problem+json",
            )
        else:
            # Raised again, not returned: aiohttp deprecates returning an HTTPException (#2415).
            secure_headers(request, exc)
            raise
    except Exception:
        ref = error_reference()
        log.exception("unhandled error %s on %s %s", ref, request.method, request.path)
        if wants_json(request):
            response = web.json_response(
                {
                    "type": "about:blank",
                    "title": "Internal error",
                    "status": 500,
                    "detail": f"Something went wrong on our side (reference {ref}). Please try again.",
                }
                | _request_id_member(),
                status=500,
                content_type="application/problem+json",
            )
        else:
            response = web.Response(
                text=f"Something went wrong on our side (reference {ref}). Please try again.",
                status=500,
                content_type="text/plain",
            )
    secure_headers(request, response)
    return response


def _request_id_member() -> dict[str, str]:
    """``{"requestId": ...}`` for a problem JSON written while serving a request, else nothing."""
    rid = current_request_id()
    return {"requestId": rid} if rid is not None else {}


def secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.path.startswith("/manage/"):
        headers.setdefault("Cache-Control", "no-store")


class Csrf:
    """Signed double-submit CSRF tokens, each bound to one scope (the page's resource, e.g. one booking's
    manage path), so a token taken from one booking's page is worthless against another's."""

    def __init__(self, secret: bytes, secure_cookie: bool) -> None:
        self._secret = secret
        self._secure = secure_cookie

    def _sign(self, nonce: str, scope: str) -> str:
        return hmac.new(self._secret, f"{nonce}\x00{scope}".encode(), hashlib.sha256).hexdigest()

    def token_for(self, request: web.Request, response_cookies: dict[str, str], scope: str = "") -> str:
        nonce = request.cookies.get(CSRF_COOKIE) or response_cookies.get(CSRF_COOKIE)
        if not nonce or len(nonce) > 100:
            nonce = secrets.token_urlsafe(24)
            response_cookies[CSRF_COOKIE] = nonce
        return self._sign(nonce, scope)

    def set_cookies(self, response: web.StreamResponse, cookies: dict[str, str]) -> None:
        for name, value in cookies.items():
            response.set_cookie(name, value, httponly=True, samesite="Lax", secure=self._secure, path="/")

    def check(self, request: web.Request, submitted: str | None, scope: str = "") -> bool:
        nonce = request.cookies.get(CSRF_COOKIE)
        if not nonce or not submitted or len(nonce) > 100:
            return False
        return hmac.compare_digest(self._sign(nonce, scope).encode(), submitted.encode())


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_trusted_proxies(value: str | Iterable[str]) -> tuple[Network, ...]:
    """The trusted proxies setting: comma-separated IP addresses and CIDR ranges (``10.0.0.0/8``,
    ``::1``). Empty means none. Raises ValueError naming the first entry that is neither."""
    entries = value.split(",") if isinstance(value, str) else list(value)
    networks: list[Network] = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"SLOTWISE_TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR range "
                "(e.g. 10.0.0.5, 10.0.0.0/8, fd00::/8)"
            ) from None
    return tuple(networks)


def _address(text: str) -> Address | None:
    """An address as a proxy writes it into X-Forwarded-For (bare, ``v4:port``, ``[v6]`` or ``[v6]:port``)."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def client_ip(request: web.Request, trusted_proxies: Sequence[Network] = ()) -> str:
    """The address a rate limit should key on.

    The socket peer, unless the peer is a trusted proxy: then ``X-Forwarded-For`` is read from the right
    (each proxy appends the address it received the request from) and the first address that is not a
    trusted proxy is the client. Everything left of it was written by the client and is ignored. An entry
    that is not an address stops the walk at the proxy that reported it, so garbage never becomes a key
    of its own; a header made only of trusted proxies gives its left-most address."""
    peer = request.remote or "unknown"
    peer_address = _address(peer)
    if peer_address is None or not trusted_proxies or not _trusted(peer_address, trusted_proxies):
        return str(peer_address) if peer_address is not None else peer
    hops = [hop for header in request.headers.getall("X-Forwarded-For", []) for hop in header.split(",")]
    client = peer_address
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        client = address
        if not _trusted(address, trusted_proxies):
            break
    return str(client)
