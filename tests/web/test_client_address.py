"""Which client a rate limit counts (issue 10, item 10): the socket peer, unless the peer is a trusted
reverse proxy (``SLOTWISE_TRUSTED_PROXIES``); then the right-most X-Forwarded-For address that is not a
trusted proxy. A spoofed header from anyone else changes nothing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from unittest.mock import Mock

import pytest
from aiohttp.test_utils import make_mocked_request
from pydantic import ValidationError

from app import Settings
from tests.web.conftest import DEMO_PATH, Site, running_site
from web.context import WEB
from web.security import client_ip, parse_trusted_proxies

SESSION_LOOP = pytest.mark.asyncio(loop_scope="session")  # the web tests' event loop (see conftest)
PROXIES = parse_trusted_proxies("10.0.0.0/8, 192.0.2.10, fd00::/8")


def request_from(peer: str, *forwarded: str) -> Any:
    transport = Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (peer, 443) if name == "peername" else default
    headers = [("X-Forwarded-For", value) for value in forwarded]
    return make_mocked_request("GET", "/book/a/b", headers=headers, transport=transport)


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # no trusted proxies configured, or a peer that isn't one: the header is ignored
        ("203.0.113.9", ("1.2.3.4",), "203.0.113.9"),
        ("203.0.113.9", ("10.1.2.3, 192.0.2.10",), "203.0.113.9"),
        # through a trusted proxy: the address the proxy saw (the right-most entry)
        ("10.0.0.5", ("198.51.100.7",), "198.51.100.7"),
        # a client that sends its own header through the proxy only controls what is left of its address
        ("10.0.0.5", ("6.6.6.6, 198.51.100.7",), "198.51.100.7"),
        ("10.0.0.5", ("6.6.6.6", "198.51.100.7"), "198.51.100.7"),  # repeated headers are one list
        # through two trusted proxies: skip both
        ("192.0.2.10", ("6.6.6.6, 198.51.100.7, 10.9.9.9",), "198.51.100.7"),
        # garbage (or nothing) from the proxy: the proxy's own address, never the garbage
        ("10.0.0.5", ("6.6.6.6, not-an-ip",), "10.0.0.5"),
        ("10.0.0.5", (), "10.0.0.5"),
        # only proxies in the chain: the left-most
        ("10.0.0.5", ("10.0.0.7, 10.0.0.6",), "10.0.0.7"),
        # ports, brackets, IPv6 and IPv4-mapped forms
        ("10.0.0.5", ("198.51.100.7:5555",), "198.51.100.7"),
        ("fd00::1", ("[2001:db8::7]:443",), "2001:db8::7"),
        ("::ffff:10.0.0.5", ("2001:db8::8",), "2001:db8::8"),
    ],
)
def test_the_client_address_honours_x_forwarded_for_only_from_trusted_proxies(
    peer: str, forwarded: tuple[str, ...], expected: str
) -> None:
    assert client_ip(request_from(peer, *forwarded), PROXIES) == expected
    # without the setting: always the peer, whatever the header says
    assert client_ip(request_from(peer, *forwarded), ()) == client_ip(request_from(peer), ())


def test_the_setting_is_parsed_once_and_a_typo_stops_the_start(tmp_path: Path) -> None:
    assert parse_trusted_proxies("") == () and parse_trusted_proxies(" , ") == ()
    assert [str(n) for n in parse_trusted_proxies("10.0.0.1, 172.16.0.0/12,::1")] == [
        "10.0.0.1/32",
        "172.16.0.0/12",
        "::1/128",
    ]
    with pytest.raises(ValueError, match=re.escape("'10.0.0.300'")):
        parse_trusted_proxies("10.0.0.1, 10.0.0.300")
    with pytest.raises(ValidationError, match="SLOTWISE_TRUSTED_PROXIES"):
        Settings(_env_file=None, SLOTWISE_VAR_DIR=str(tmp_path), SLOTWISE_TRUSTED_PROXIES="localhost")
    default = Settings(_env_file=None, SLOTWISE_VAR_DIR=str(tmp_path))
    assert default.trusted_proxies == ""


async def _book_attempts(site: Site, forwarded: str | None, count: int) -> list[int]:
    statuses = []
    for _ in range(count):
        headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
        resp = await site.client.post(DEMO_PATH, json={"start": "not-a-time"}, headers=headers)
        statuses.append(resp.status)
    return statuses


@SESSION_LOOP
async def test_a_spoofed_header_from_an_untrusted_peer_buys_no_new_bucket(tmp_path: Path) -> None:
    async with running_site(tmp_path, SLOTWISE_BOOKING_RATE_LIMIT=2) as site:
        assert site.app[WEB].trusted_proxies == ()
        statuses = [s for i in range(4) for s in await _book_attempts(site, f"198.51.100.{i}", 1)]
        assert statuses == [422, 422, 429, 429]


@SESSION_LOOP
async def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(tmp_path: Path) -> None:
    async with running_site(tmp_path, SLOTWISE_BOOKING_RATE_LIMIT=2, SLOTWISE_TRUSTED_PROXIES="127.0.0.1") as site:
        # the test client is the proxy (peer 127.0.0.1); it appends the address it received each request from
        assert await _book_attempts(site, "198.51.100.7", 3) == [422, 422, 429]
        assert await _book_attempts(site, "203.0.113.5", 2) == [422, 422]  # another client, another bucket
        # the limited client can't escape by sending its own header: the proxy's entry is the right-most
        assert await _book_attempts(site, "1.1.1.1, 198.51.100.7", 1) == [429]
        assert await _book_attempts(site, "2.2.2.2, 198.51.100.7", 1) == [429]
