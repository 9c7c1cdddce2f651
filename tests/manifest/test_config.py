"""The values a deployment fills in are checked, and bad ones are refused with a message that says what
to do."""

from __future__ import annotations

import re

import pytest

from manifest.template import (
    ManifestConfigError,
    PackageConfig,
    check_app_id,
    check_base_url,
    check_domain,
    check_version,
)
from tests.manifest.support import APP_ID, DOMAIN


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "app id is missing"),
        ("   ", "app id is missing"),
        ("not-a-guid", "is not a GUID"),
        ("3f2504e0-4f89-41d3-9a0c-0305e82c330", "is not a GUID"),
        ("3f2504e0-4f89-41d3-9a0c-0305e82c33011", "is not a GUID"),
        ("{3f2504e0-4f89-41d3-9a0c-0305e82c3301}", "is not a GUID"),
        ("3f2504e04f8941d39a0c0305e82c3301", "is not a GUID"),
        ("3f2504e0-4f89-41d3-9a0c-0305e82c330g", "is not a GUID"),
        ("00000000-0000-0000-0000-000000000000", "nil GUID"),
    ],
)
def test_bad_app_ids_are_refused(value: str, fragment: str) -> None:
    with pytest.raises(ManifestConfigError, match=fragment):
        check_app_id(value)


def test_app_id_is_normalised_to_lower_case() -> None:
    assert check_app_id(f" {APP_ID.upper()} ") == APP_ID


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "domain is missing"),
        ("localhost", "not a public host name"),
        ("slotwise", "not a public host name"),
        ("127.0.0.1", "IP address"),
        ("::1", "IP address"),
        ("[2001:db8::1]", "IP address"),
        ("*.example.com", "wildcard"),
        ("*.com", "wildcard"),
        ("slot*.example.com", "wildcard"),
        ("https://slotwise.example.com", "looks like a URL"),
        ("slotwise.example.com/book", "looks like a URL"),
        ("slotwise.example.com:8443", "has a port"),
        ("slot wise.example.com", "not a valid host name"),
        ("-slotwise.example.com", "not a valid host name"),
        ("slotwise..example.com", "not a valid host name"),
        ("slotwise_app.example.com", "not a valid host name"),
        ("slotwise.example.123", "not a valid host name"),
        ("a" * 64 + ".example.com", "not a valid host name"),
    ],
)
def test_bad_domains_are_refused(value: str, fragment: str) -> None:
    with pytest.raises(ManifestConfigError, match=fragment):
        check_domain(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (DOMAIN, DOMAIN),
        (" Slotwise.Example.COM. ", DOMAIN),
        ("abc123.euw.devtunnels.ms", "abc123.euw.devtunnels.ms"),
        ("bücher.example", "xn--bcher-kva.example"),
    ],
)
def test_good_domains_are_normalised(value: str, expected: str) -> None:
    assert check_domain(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "domain is missing"),
        ("http://127.0.0.1:3978", "not an https URL"),  # the app's own default, fine locally, useless to Teams
        ("http://slotwise.example.com", "not an https URL"),
        ("slotwise.example.com", "not an https URL"),
        ("https://127.0.0.1", "IP address"),
        ("https://localhost:3978", "not a public host name"),
        ("https://user:secret@slotwise.example.com", "plain base URL"),
        ("https://slotwise.example.com/?tenant=1", "plain base URL"),
        ("https://slotwise.example.com:99999", "invalid port"),
        ("https://", "domain is missing"),
    ],
)
def test_bad_public_base_urls_are_refused(value: str, fragment: str) -> None:
    with pytest.raises(ManifestConfigError, match=fragment):
        check_base_url(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://slotwise.example.com", ("https://slotwise.example.com", DOMAIN)),
        ("https://Slotwise.Example.com:443/", ("https://slotwise.example.com", DOMAIN)),
        ("https://slotwise.example.com:8443/app/", ("https://slotwise.example.com:8443/app", DOMAIN)),
    ],
)
def test_public_base_url_gives_base_and_host(value: str, expected: tuple[str, str]) -> None:
    assert check_base_url(value) == expected


@pytest.mark.parametrize("value", ["", "1.0", "v1.2.3", "1.2.3-beta", "01.2.3", "1.2.3.4", "0.1.0.dev1"])
def test_bad_versions_are_refused(value: str) -> None:
    with pytest.raises(ManifestConfigError, match=re.escape("MAJOR.MINOR.PATCH")):
        check_version(value)


def test_domain_wins_over_the_base_url() -> None:
    config = PackageConfig.create(app_id=APP_ID, domain=DOMAIN, base_url="http://127.0.0.1:3978", version="1.0.0")
    assert (config.domain, config.base_url) == (DOMAIN, f"https://{DOMAIN}")


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ManifestConfigError) as caught:
        PackageConfig.create(app_id="nope", domain="*.com", version="1.0")
    lines = str(caught.value).splitlines()
    assert len(lines) == 3
    assert "app id" in lines[0] and "wildcard" in lines[1] and "MAJOR.MINOR.PATCH" in lines[2]
