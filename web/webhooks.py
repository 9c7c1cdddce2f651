"""The webhook sender: signed POSTs to subscribers (``scheduling.webhooks.WebhookSender``), with httpx.

The SSRF guard is at the socket: every new connection goes through :class:`GuardedBackend`, an httpcore network
backend that resolves the host itself, checks *every* address it resolves to with the core's rule
(:func:`scheduling.webhooks.address_problem`: no loopback, private, link-local, metadata, shared or reserved
address; sandbox mode allows IPv4 loopback) and connects only to an address it checked. TLS still runs on that
connection with the URL's host name (SNI and certificate checks), since httpcore starts TLS with the origin's
host. So a name that resolved to a public address when the subscription was made and to 10.0.0.5 now (DNS
rebinding) is refused when it matters: at the connection. Nothing else bypasses it: no proxies from the
environment (``trust_env=False``), no redirects followed (a 3xx is a failed attempt), no Unix sockets.

Each attempt is bounded by :data:`scheduling.webhooks.SEND_TIMEOUT` in all (connect, TLS, send, answer); only the
status line and headers are read (the body is not).
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpcore
import httpx

from scheduling.webhooks import SEND_TIMEOUT, IPAddress, UnsafeTarget, WebhookAnswer, address_problem, url_problem

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
MAX_RETRY_AFTER = timedelta(hours=24)


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal is itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"{host} could not be resolved: {exc}") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def checked(host: str, addresses: Iterable[IPAddress], allow_loopback: bool) -> list[IPAddress]:
    """``addresses`` when every one of them may be called; UnsafeTarget naming the first that may not."""
    listed = list(addresses)
    if not listed:
        raise UnsafeTarget(f"{host} resolves to no address.")
    for address in listed:
        problem = address_problem(address, allow_loopback=allow_loopback)
        if problem is not None:
            if host.strip("[]") == str(address):
                raise UnsafeTarget(f"Webhooks can't be sent to {problem[:1].lower()}{problem[1:]}")
            raise UnsafeTarget(f"{host} resolves to {address}: {problem} Webhooks are only sent to public addresses.")
    return listed


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the core allows (see the module docstring)."""

    def __init__(
        self, *, allow_loopback: bool, resolver: Resolver = resolve, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.allow_loopback = allow_loopback
        self._resolve = resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = checked(host, await self._resolve(host, port), self.allow_loopback)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeTarget("Webhooks are never sent to a Unix socket.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(backend: GuardedBackend) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections are all made by ``backend`` (TLS verified as usual)."""
    transport = httpx.AsyncHTTPTransport(trust_env=False, retries=0)
    pool = getattr(transport, "_pool", None)
    if not isinstance(pool, httpcore.AsyncConnectionPool):  # httpx is pinned; fail loudly if its inside changes
        raise RuntimeError("httpx.AsyncHTTPTransport no longer keeps an httpcore pool: update web.webhooks")
    transport._pool = httpcore.AsyncConnectionPool(  # the one way to choose httpcore's backend
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=backend,
    )
    return transport


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A ``Retry-After`` header (seconds, or an HTTP date) as a wait, at most a day; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit() and len(text) <= 9:
        return min(timedelta(seconds=int(text)), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(when - now, timedelta(0)), MAX_RETRY_AFTER)


class HttpWebhookSender:
    """:class:`scheduling.webhooks.WebhookSender` with httpx over :class:`GuardedBackend`."""

    def __init__(self, *, sandbox: bool, resolver: Resolver = resolve, timeout: float = SEND_TIMEOUT) -> None:
        self.sandbox = sandbox
        self.timeout = timeout
        self._resolve = resolver
        backend = GuardedBackend(allow_loopback=sandbox, resolver=resolver)
        self._client = httpx.AsyncClient(
            transport=guarded_transport(backend),
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(timeout),
        )

    def _target(self, url: str) -> httpx.URL:
        problem = url_problem(url, sandbox=self.sandbox)
        if problem is not None:
            raise UnsafeTarget(problem)
        return httpx.URL(url)

    async def check(self, url: str) -> None:
        target = self._target(url)
        port = target.port or (443 if target.scheme == "https" else 80)
        try:
            addresses = await self._resolve(target.host, port)
        except httpcore.ConnectError as exc:
            raise UnsafeTarget(f"{target.host} could not be resolved; check the address.") from exc
        checked(target.host, addresses, self.sandbox)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookAnswer:
        target = self._target(url)
        try:
            async with asyncio.timeout(self.timeout):
                async with self._client.stream("POST", target, content=body, headers=dict(headers)) as response:
                    return WebhookAnswer(
                        response.status_code, retry_after(response.headers.get("retry-after"), datetime.now(UTC))
                    )
        except TimeoutError:
            raise TimeoutError(f"no answer within {self.timeout:g} s") from None

    async def aclose(self) -> None:
        await self._client.aclose()
