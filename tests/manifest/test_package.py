"""The built zip: flat layout, a manifest valid against Microsoft's official schema, and the Teams rules
the schema does not check (ids, domains, link unfurling, SSO, command lists)."""

from __future__ import annotations

import copy
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft4Validator

from bot.chat import PRIVATE_COMMANDS
from bot.commands import CreateLink, parse
from manifest.build import build
from manifest.template import MANIFEST_VERSION, PackageConfig, build_manifest
from scheduling.sso import sso_resource
from tests.manifest.support import APP_ID, BASE_URL, DOMAIN, official_schema


def schema_errors(document: dict[str, Any], version: str) -> list[str]:
    validator = Draft4Validator(official_schema(version), format_checker=Draft4Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    return [f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


def test_zip_holds_manifest_and_both_icons_flat_at_the_root(package_zip: Path) -> None:
    with zipfile.ZipFile(package_zip) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
    assert sorted(names) == ["color.png", "manifest.json", "outline.png"]
    assert all("/" not in name and "\\" not in name for name in names)


def test_manifest_is_utf8_json_without_bom(package_files: dict[str, bytes]) -> None:
    assert not package_files["manifest.json"].startswith(b"\xef\xbb\xbf")


def test_manifest_is_valid_against_the_official_schema(manifest: dict[str, Any]) -> None:
    assert schema_errors(manifest, MANIFEST_VERSION) == []


def test_schema_url_and_manifest_version_name_the_bundled_schema(manifest: dict[str, Any]) -> None:
    schema = official_schema(MANIFEST_VERSION)
    assert manifest["manifestVersion"] == schema["properties"]["manifestVersion"]["const"] == MANIFEST_VERSION
    assert manifest["$schema"] == (
        f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
    )
    assert manifest["version"] == "1.2.3"


def test_manifest_uses_nothing_newer_than_1_19(manifest: dict[str, Any]) -> None:
    """Stepping MANIFEST_VERSION back to 1.19 for an older client would need no other change."""
    older = {
        **manifest,
        "manifestVersion": "1.19",
        "$schema": "https://developer.microsoft.com/json-schemas/teams/v1.19/MicrosoftTeams.schema.json",
    }
    assert schema_errors(older, "1.19") == []


def test_schema_validation_is_not_vacuous(manifest: dict[str, Any]) -> None:
    broken = copy.deepcopy(manifest)
    broken["id"] = "not-a-guid"
    broken["bots"][0]["scopes"] = ["everyone"]
    del broken["developer"]["privacyUrl"]
    errors = schema_errors(broken, MANIFEST_VERSION)
    assert any(e.startswith("/id:") for e in errors)
    assert any(e.startswith("/bots/0/scopes/0:") for e in errors)
    assert any(e.startswith("/developer:") and "privacyUrl" in e for e in errors)


def test_app_bot_compose_extension_and_sso_all_use_the_app_id(manifest: dict[str, Any]) -> None:
    assert manifest["id"] == APP_ID
    assert [b["botId"] for b in manifest["bots"]] == [APP_ID]
    assert [c["botId"] for c in manifest["composeExtensions"]] == [APP_ID]
    assert manifest["webApplicationInfo"] == {"id": APP_ID, "resource": f"api://{DOMAIN}/botid-{APP_ID}"}


def test_link_unfurling_and_valid_domains_are_the_public_host(manifest: dict[str, Any]) -> None:
    (extension,) = manifest["composeExtensions"]
    assert extension["messageHandlers"] == [{"type": "link", "value": {"domains": [DOMAIN]}}]
    assert manifest["validDomains"] == [DOMAIN, "token.botframework.com"]
    for field in ("websiteUrl", "privacyUrl", "termsOfUseUrl"):
        url = urlsplit(manifest["developer"][field])
        assert (url.scheme, url.hostname) == ("https", DOMAIN), field


def test_unfurling_domains_follow_the_teams_wildcard_rules(manifest: dict[str, Any]) -> None:
    """`*` may only stand for one whole left-most label, never for a top-level domain (*.com)."""
    for handler in manifest["composeExtensions"][0]["messageHandlers"]:
        for domain in handler["value"]["domains"]:
            labels = domain.split(".")
            assert "*" not in "".join(labels[1:]), domain
            assert labels[0] == "*" or "*" not in labels[0], domain
            assert len([label for label in labels if label != "*"]) >= 2, f"top-level wildcard: {domain}"


def test_compose_extension_has_the_query_command_teams_requires(manifest: dict[str, Any]) -> None:
    (command,) = manifest["composeExtensions"][0]["commands"]
    assert command["id"] == "searchLinks"
    assert command["type"] == "query"
    assert [p["name"] for p in command["parameters"]] == ["query"]
    assert command["title"] and command["description"] and command["parameters"][0]["title"]


def test_bot_is_conversational_in_personal_team_and_group_chat(manifest: dict[str, Any]) -> None:
    (bot,) = manifest["bots"]
    assert bot["scopes"] == ["personal", "team", "groupChat"]
    assert bot["supportsFiles"] is False
    assert bot["isNotificationOnly"] is False
    assert manifest["permissions"] == ["identity", "messageTeamMembers"]


EXPECTED_COMMANDS = {
    "help": "help",
    "make a 30-min link": "create_link",
    "my links": "list_links",
    "upcoming": "upcoming",
    "connect": "connect",
    "disconnect": "disconnect",
    "make a 30-min round-robin link": "create_team_link",  # team links are made in a channel or group chat
    "team links": "team_links",
    "api keys": "api_keys",  # keys are personal: made and listed in the personal chat only
}
PERSONAL_TITLES = ["help", "make a 30-min link", "my links", "upcoming", "connect", "disconnect", "api keys"]
GROUP_TITLES = ["help", "make a 30-min link", "make a 30-min round-robin link", "team links", "my links", "disconnect"]


def test_every_scope_has_the_command_list(manifest: dict[str, Any]) -> None:
    lists = manifest["bots"][0]["commandLists"]
    assert [entry["scopes"] for entry in lists] == [["personal"], ["team", "groupChat"]]
    personal, group = ([c["title"] for c in entry["commands"]] for entry in lists)
    assert personal == PERSONAL_TITLES
    assert group == GROUP_TITLES
    for entry in lists:
        assert len(entry["commands"]) <= 10  # the per-scope limit until 1.24 (12 since)
        assert all(c["description"] for c in entry["commands"])


def test_private_commands_are_offered_in_the_personal_scope_only(manifest: dict[str, Any]) -> None:
    """A sign-in link or someone's bookings must not be offered to a group chat or team (issue 10, item 7)."""
    lists = {
        tuple(entry["scopes"]): [parse(c["title"]).kind for c in entry["commands"]]
        for entry in manifest["bots"][0]["commandLists"]
    }
    assert {"upcoming", "connect"} <= PRIVATE_COMMANDS
    assert set(lists[("personal",)]) >= {"upcoming", "connect"}
    assert not set(lists[("team", "groupChat")]) & PRIVATE_COMMANDS, lists


def test_the_bot_understands_every_command_it_advertises(manifest: dict[str, Any]) -> None:
    for entry in manifest["bots"][0]["commandLists"]:
        for command in entry["commands"]:
            assert parse(command["title"]).kind == EXPECTED_COMMANDS[command["title"]], command["title"]
    created = parse("make a 30-min link")
    assert isinstance(created, CreateLink) and created.duration == 30


def test_names_descriptions_and_icons(manifest: dict[str, Any], package_files: dict[str, bytes]) -> None:
    assert manifest["name"] == {"short": "Slotwise", "full": "Slotwise scheduling links"}
    assert manifest["developer"]["name"] == "Slotwise"
    assert len(manifest["description"]["short"]) <= 80
    assert manifest["description"]["full"] != manifest["description"]["short"]
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert set(manifest["icons"].values()) <= set(package_files)


def test_developer_urls_keep_a_path_prefix_of_the_public_base_url() -> None:
    config = PackageConfig.create(app_id=APP_ID, base_url=f"{BASE_URL}/slotwise/", version="1.0.0")
    assert config.base_url == f"{BASE_URL}/slotwise"
    assert config.domain == DOMAIN


def test_the_sso_resource_is_microsofts_documented_form_for_a_base_url_with_port_and_path() -> None:
    """api://{fully-qualified-domain-name}/botid-{app id}: the lower-case host only, the same string the bot
    asks Teams for (scheduling.sso.sso_resource builds both)."""
    base = "https://Slotwise.Example.com:8443/slotwise/"
    manifest = build_manifest(PackageConfig.create(app_id=APP_ID.upper(), base_url=base, version="1.0.0"))
    expected = f"api://{DOMAIN}/botid-{APP_ID}"
    assert manifest["webApplicationInfo"] == {"id": APP_ID, "resource": expected}
    assert sso_resource(base, APP_ID) == expected
    assert sso_resource(f"{BASE_URL}/", APP_ID.upper()) == expected


def test_the_package_is_reproducible(tmp_path: Path, package_zip: Path) -> None:
    config = PackageConfig.create(app_id=APP_ID, domain=DOMAIN, version="1.2.3")
    assert build(config, tmp_path / "again.zip").read_bytes() == package_zip.read_bytes()
