"""The OAuthCard that lets Teams try single sign-on before our own sign-in page (production only)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.deps import BotDeps
from bot.reply import OAUTH_CARD, Reply, message_activity, sso_oauth_card

APP_ID = "11111111-2222-3333-4444-555555555555"


def deps(**kw: Any) -> BotDeps:
    base: dict[str, Any] = {name: None for name in ("booking", "links", "connections", "people", "notices", "clock")}
    base.update(base_url="https://slotwise.example.com", app_id=APP_ID)
    base.update(kw)
    return BotDeps(**base)


def test_the_sso_resource_matches_the_manifests_web_application_info() -> None:
    from manifest.template import PackageConfig, build_manifest

    manifest = build_manifest(
        PackageConfig.create(app_id=APP_ID, version="1.0.0", base_url="https://slotwise.example.com")
    )
    assert deps().sso_resource == manifest["webApplicationInfo"]["resource"]
    assert deps(sandbox=True).sso_resource == "" and deps(app_id="").sso_resource == ""


@pytest.mark.parametrize(
    "base_url",
    [
        "https://Slotwise.Example.com:8443/slotwise/",
        "https://slotwise.example.com:443/",
        "https://slotwise.example.com/teams/slotwise",
    ],
)
@pytest.mark.parametrize("app_id", [APP_ID, APP_ID.upper()])
def test_bot_and_manifest_name_the_same_sso_resource_for_a_base_url_with_port_and_path(
    base_url: str, app_id: str
) -> None:
    """Microsoft's documented form: api://{fully-qualified-domain-name}/botid-{app id}, domain in lower case
    (no port, no path): the bot's OAuthCard and the manifest must ask for exactly that resource."""
    from manifest.template import PackageConfig, build_manifest

    manifest = build_manifest(PackageConfig.create(app_id=app_id, version="1.0.0", base_url=base_url))
    expected = f"api://slotwise.example.com/botid-{APP_ID}"
    assert deps(base_url=base_url, app_id=app_id).sso_resource == expected
    assert manifest["webApplicationInfo"]["resource"] == expected


def test_the_connect_message_carries_the_oauth_card_after_the_adaptive_card() -> None:
    oauth = sso_oauth_card(deps().sso_resource, "https://slotwise.example.com/auth/start?state=s", "x1")
    activity = message_activity(Reply(card={"type": "AdaptiveCard", "version": "1.5", "body": []}, oauth=oauth))
    assert [a.content_type for a in activity.attachments] == ["application/vnd.microsoft.card.adaptive", OAUTH_CARD]
    content = activity.attachments[1].content
    assert content["tokenExchangeResource"] == {"id": "x1", "uri": f"api://slotwise.example.com/botid-{APP_ID}"}
    assert content["buttons"][0] == {
        "type": "signin",
        "title": "Connect Outlook",
        "value": "https://slotwise.example.com/auth/start?state=s",
    }
