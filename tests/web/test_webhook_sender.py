"""The webhook sender's SSRF guard (web.webhooks over the core's rule): in production a target must be https and may
not be, or resolve to, loopback, private, link-local or metadata addresses; the check is made again at every
connection, on the address actually connected to, so DNS rebinding doesn't pass; sandbox mode allows
http://127.0.0.1. No request leaves this machine: refused targets are refused before any connection."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from scheduling.webhooks import IPAddress, UnsafeTarget, address_problem, url_problem
from web.webhooks import HttpWebhookSender, retry_after


@dataclass
class Lookups:
    """A resolver answering each lookup with the next list of addresses (the last one from then on)."""

    answers: tuple[list[str], ...]
    calls: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.calls.append(host)
        found = self.answers[min(len(self.calls), len(self.answers)) - 1]
        return [ipaddress.ip_address(a) for a in found]


def resolver(*answers: list[str]) -> Lookups:
    return Lookups(answers)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[TestServer, list[web.Request]]]:
    got: list[web.Request] = []

    async def handle(request: web.Request) -> web.Response:
        got.append(request)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server, got
    await server.close()


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("10.20.30.40", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.10.10", "link-local"),
        ("::1", "loopback"),
        ("fd00:ec2::254", "metadata"),
        ("::ffff:10.0.0.1", "private"),
        ("100.64.1.1", "not a public"),
        ("0.0.0.0", "not an address"),
    ],
)
async def test_production_refuses_names_resolving_to_internal_addresses(address: str, why: str) -> None:
    sender = HttpWebhookSender(sandbox=False, resolver=resolver([address]))
    try:
        with pytest.raises(UnsafeTarget, match=why) as refused:
            await sender.check("https://hooks.example.com/slotwise")
        assert f"hooks.example.com resolves to {ipaddress.ip_address(address)}" in refused.value.message
        with pytest.raises(UnsafeTarget, match=why):
            await sender.post("https://hooks.example.com/slotwise", b"{}", {})
    finally:
        await sender.aclose()


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.0.0.7/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://localhost/hook",
        "http://hooks.example.com/hook",  # not https
        "https://user:pw@hooks.example.com/hook",
    ],
)
def test_production_refuses_internal_and_plain_http_urls_before_resolving(url: str) -> None:
    assert url_problem(url, sandbox=False) is not None


def test_sandbox_allows_ipv4_loopback_only() -> None:
    assert url_problem("http://127.0.0.1:8080/hook", sandbox=True) is None
    assert url_problem("http://localhost:8080/hook", sandbox=True) is None
    assert url_problem("http://[::1]:8080/hook", sandbox=True) is not None
    assert url_problem("http://10.0.0.1/hook", sandbox=True) is not None
    assert url_problem("http://169.254.169.254/", sandbox=True) is not None
    assert address_problem(ipaddress.ip_address("8.8.8.8")) is None
    assert address_problem(ipaddress.ip_address("127.0.0.1"), allow_loopback=True) is None


async def test_dns_rebinding_is_refused_at_the_connection(receiver: tuple[TestServer, list[web.Request]]) -> None:
    server, got = receiver
    # public when the subscription is checked, this machine when the webhook is sent
    rebinding = resolver(["93.184.216.34"], ["127.0.0.1"])
    sender = HttpWebhookSender(sandbox=False, resolver=rebinding)
    try:
        await sender.check("https://hooks.example.com/hook")  # fine then
        with pytest.raises(UnsafeTarget, match="loopback"):
            await sender.post(f"https://hooks.example.com:{server.port}/hook", b"{}", {"webhook-id": "msg_1"})
    finally:
        await sender.aclose()
    assert got == []  # nothing reached the receiver


async def test_sandbox_connects_to_the_checked_address_keeping_the_host_name(
    receiver: tuple[TestServer, list[web.Request]],
) -> None:
    server, got = receiver
    lookups = resolver(["127.0.0.1"])
    sender = HttpWebhookSender(sandbox=True, resolver=lookups)
    try:
        answer = await sender.post(f"http://receiver.example:{server.port}/hook", b'{"a":1}', {"webhook-id": "m"})
    finally:
        await sender.aclose()
    assert answer.status == 204
    assert got[0].headers["Host"] == f"receiver.example:{server.port}" and got[0].headers["webhook-id"] == "m"
    assert lookups.calls == ["receiver.example"]


async def test_a_name_with_one_bad_address_among_good_ones_is_refused() -> None:
    sender = HttpWebhookSender(sandbox=False, resolver=resolver(["93.184.216.34", "10.0.0.8"]))
    try:
        with pytest.raises(UnsafeTarget, match="private"):
            await sender.check("https://hooks.example.com/x")
    finally:
        await sender.aclose()


def test_retry_after_is_read_as_seconds_or_a_date_and_capped() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2027, 1, 1, tzinfo=UTC)
    assert retry_after("120", now) == timedelta(seconds=120)
    assert retry_after("Fri, 01 Jan 2027 00:01:00 GMT", now) == timedelta(minutes=1)
    assert retry_after("999999999", now) == timedelta(hours=24)
    assert retry_after("soon", now) is None and retry_after(None, now) is None
