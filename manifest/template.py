"""The Teams app manifest, built as a Python dict (no string templating of JSON), and the checks on the
two values a deployment fills in: the app id and the public host.

Manifest version: 1.30, the newest schema that ``@microsoft/app-manifest`` 1.1.2 bundles (the package
pinned in ``tools/teams-schema``, whose schema the tests validate against) and a released version
(Microsoft's list dates it 2026-08). Validating against exactly the schema we declare is the point of
picking the newest bundled one. Everything we use exists since 1.19 (the tests also validate the
manifest against 1.19 with only ``manifestVersion`` swapped), so stepping back for an older Teams
client is a one-line change to ``MANIFEST_VERSION``. Newer versions raised the bot command limit from
10 to 12 (1.24); we list at most 6 per scope.

Teams rules the JSON schema does not enforce, checked here and in the tests:
- link-unfurling domains: ``*`` matches one label, no top-level wildcards; we use the exact public host;
- a compose extension needs at least one command even when it only unfurls links;
- ``name.full`` differs from ``name.short``;
- ``webApplicationInfo.resource`` is ``api://<host>/botid-<app id>`` (the Entra app's Application ID URI
  must be exactly this for Teams SSO to hand the bot a token), built by ``scheduling.sso.sso_resource``,
  the function the bot uses for the audience of its sign-in card, so the two always agree.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from manifest.icons import accent_hex
from scheduling.sso import sso_resource

MANIFEST_VERSION = "1.30"
SCHEMA_URL = f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"

COLOR_ICON = "color.png"
OUTLINE_ICON = "outline.png"
BOT_FRAMEWORK_SIGNIN_DOMAIN = "token.botframework.com"  # the OAuth sign-in page (fallback sign-in card)

SEARCH_COMMAND_ID = "searchLinks"

# (title, description) as Teams shows them in the command menu. Titles are phrases the bot's parser
# understands (tests/manifest checks each one against bot.commands.parse). Commands whose answer only the
# asker may see (a sign-in link, their bookings: bot.chat.PRIVATE_COMMANDS) are offered in the personal
# scope only; typed in a group chat or channel anyway, the bot answers them in the personal chat.
PERSONAL_COMMANDS: tuple[tuple[str, str], ...] = (
    ("help", "What Slotwise can do, with examples"),
    ("make a 30-min link", 'Create a scheduling link; also "new 45 minute interview link"'),
    ("my links", "Your scheduling links, with share, edit and preview buttons"),
    ("upcoming", "Your next bookings, with reschedule and cancel"),
    ("connect", "Connect your Outlook calendar"),
    ("disconnect", "Disconnect your calendar and delete the stored sign-in"),
    ("api keys", 'Your REST API keys, with revoke; "api key" makes a new one'),
)
GROUP_COMMANDS: tuple[tuple[str, str], ...] = (
    ("help", "What Slotwise can do here, with examples"),
    ("make a 30-min link", "Create a scheduling link and share its card in this conversation"),
    ("make a 30-min round-robin link", 'A team link people here join; also "collective 1h link"'),
    ("team links", "The team links of this team or chat"),
    ("my links", "Your scheduling links, to share one here"),
    ("disconnect", "Disconnect your calendar and delete the stored sign-in"),
)

_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")  # the schema's own pattern
_SEMVER = re.compile(r"^(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class ManifestConfigError(ValueError):
    """A value the package cannot be built with; the message says what is wrong and what to do."""


def check_app_id(value: str) -> str:
    """The bot's Microsoft App ID (the Entra app registration's client id): a GUID, returned lower-case."""
    app_id = value.strip()
    if not app_id:
        raise ManifestConfigError(
            "the app id is missing: pass --app-id GUID or set MicrosoftAppId (the Azure Bot's Microsoft App ID)"
        )
    if not _GUID.match(app_id):
        raise ManifestConfigError(
            f"the app id {value!r} is not a GUID: use the Azure Bot's Microsoft App ID, "
            "8-4-4-4-12 hex digits with hyphens and no braces"
        )
    if set(app_id) <= {"0", "-"}:
        raise ManifestConfigError("the app id is the nil GUID: use the Azure Bot's real Microsoft App ID")
    return app_id.lower()


def check_domain(value: str) -> str:
    """The public host name Teams reaches Slotwise at, e.g. ``slotwise.example.com``; returned lower-case.

    It becomes the link-unfurling domain, a valid domain and part of the SSO resource, so it must be one
    concrete DNS name: no scheme, path, port, wildcard, IP address or single-label name like localhost.
    """
    raw = value.strip()
    if not raw:
        raise ManifestConfigError(
            "the public domain is missing: pass --domain HOST or set SLOTWISE_PUBLIC_BASE_URL=https://HOST"
        )
    if "://" in raw or "/" in raw:
        raise ManifestConfigError(
            f"the domain {value!r} looks like a URL: give only the host, like slotwise.example.com"
        )
    if "*" in raw:
        raise ManifestConfigError(
            f"the domain {value!r} has a wildcard: give the exact public host Slotwise's links use, "
            "like slotwise.example.com (Teams forbids top-level wildcards, and the developer URLs need a real host)"
        )
    host = raw.lower().removesuffix(".")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        raise ManifestConfigError(
            f"the domain {value!r} is an IP address: Teams needs a DNS name for link unfurling and SSO"
        )
    if ":" in host:
        raise ManifestConfigError(f"the domain {value!r} has a port: give only the host, like slotwise.example.com")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ManifestConfigError(f"the domain {value!r} is not a valid host name") from exc
    labels = host.split(".")
    if len(labels) < 2:
        raise ManifestConfigError(
            f"the domain {value!r} is not a public host name: Teams cannot reach it; use the public https "
            "host (for local testing, a tunnel host such as xyz.devtunnels.ms)"
        )
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise ManifestConfigError(
            f"the domain {value!r} is not a valid host name (letters, digits and hyphens in dot-separated labels)"
        )
    return host


def check_base_url(value: str) -> tuple[str, str]:
    """The public base URL (``SLOTWISE_PUBLIC_BASE_URL``) -> (base URL without trailing slash, host)."""
    raw = value.strip()
    if not raw:
        raise ManifestConfigError(
            "the public domain is missing: pass --domain HOST or set SLOTWISE_PUBLIC_BASE_URL=https://HOST"
        )
    parts = urlsplit(raw)
    if parts.scheme.lower() != "https":
        raise ManifestConfigError(
            f"SLOTWISE_PUBLIC_BASE_URL={value!r} is not an https URL: Teams only talks to the public https "
            "address of the app, e.g. https://slotwise.example.com (or pass --domain HOST)"
        )
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ManifestConfigError(
            f"SLOTWISE_PUBLIC_BASE_URL={value!r} should be a plain base URL like https://slotwise.example.com"
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise ManifestConfigError(f"SLOTWISE_PUBLIC_BASE_URL={value!r} has an invalid port") from exc
    host = check_domain(parts.hostname or "")
    netloc = host if port in (None, 443) else f"{host}:{port}"
    return f"https://{netloc}{parts.path.rstrip('/')}", host


def check_version(value: str) -> str:
    if not _SEMVER.match(value.strip()):
        raise ManifestConfigError(
            f"the app version {value!r} is not MAJOR.MINOR.PATCH: pass --app-version like 1.2.3 "
            "(Teams needs a higher version for every update of an uploaded app)"
        )
    return value.strip()


@dataclass(frozen=True)
class PackageConfig:
    """What a deployment fills in; build with :meth:`create` so every value is checked."""

    app_id: str
    base_url: str  # https://host[:port][/prefix], no trailing slash
    domain: str
    version: str

    @classmethod
    def create(
        cls, *, app_id: str, version: str, domain: str | None = None, base_url: str | None = None
    ) -> PackageConfig:
        """``domain`` wins over ``base_url``; with only a domain the base URL is ``https://<domain>``.

        Every problem is reported at once (one message per line), not just the first.
        """
        problems: list[str] = []
        checked_id = base = host = checked_version = ""
        try:
            checked_id = check_app_id(app_id)
        except ManifestConfigError as exc:
            problems.append(str(exc))
        try:
            if domain is not None:
                host = check_domain(domain)
                base = f"https://{host}"
            else:
                base, host = check_base_url(base_url or "")
        except ManifestConfigError as exc:
            problems.append(str(exc))
        try:
            checked_version = check_version(version)
        except ManifestConfigError as exc:
            problems.append(str(exc))
        if problems:
            raise ManifestConfigError("\n".join(problems))
        return cls(app_id=checked_id, base_url=base, domain=host, version=checked_version)


def _command_list(scopes: list[str], commands: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    return {"scopes": scopes, "commands": [{"title": t, "description": d} for t, d in commands]}


def build_manifest(config: PackageConfig) -> dict[str, Any]:
    """The manifest.json content for one deployment."""
    app_id, domain, base = config.app_id, config.domain, config.base_url
    return {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": config.version,
        "id": app_id,
        "developer": {
            "name": "Slotwise",
            "websiteUrl": f"{base}/",
            "privacyUrl": f"{base}/privacy",
            "termsOfUseUrl": f"{base}/terms",
        },
        "name": {"short": "Slotwise", "full": "Slotwise scheduling links"},
        "description": {
            "short": "Scheduling links that book time on your Outlook calendar",
            "full": (
                "Slotwise gives Outlook and Microsoft 365 users scheduling links from Teams. Type "
                '"make a 30-min link" and Slotwise reads your free/busy time from your Outlook calendar, '
                "hands back a link and a card to share, and lets invitees pick a slot in their own time zone. "
                "Bookings go straight into your Outlook calendar with a Teams meeting, and you are told in chat. "
                "Team links rotate bookings round-robin or find a time when everyone is free. Pasting a "
                "Slotwise link into a chat shows its open slots as a card."
            ),
        },
        "icons": {"color": COLOR_ICON, "outline": OUTLINE_ICON},
        "accentColor": accent_hex(),
        "bots": [
            {
                "botId": app_id,
                "scopes": ["personal", "team", "groupChat"],
                "supportsFiles": False,
                "isNotificationOnly": False,
                "commandLists": [
                    _command_list(["personal"], PERSONAL_COMMANDS),
                    _command_list(["team", "groupChat"], GROUP_COMMANDS),
                ],
            }
        ],
        "composeExtensions": [
            {
                "botId": app_id,
                "commands": [
                    {
                        "id": SEARCH_COMMAND_ID,
                        "type": "query",
                        "title": "Share a scheduling link",
                        "description": "Find one of your Slotwise links and insert its card",
                        "initialRun": True,
                        "context": ["compose", "commandBox"],
                        "parameters": [
                            {
                                "name": "query",
                                "title": "Link name",
                                "description": "Part of the link's name, e.g. interview",
                                "inputType": "text",
                            }
                        ],
                    }
                ],
                "messageHandlers": [{"type": "link", "value": {"domains": [domain]}}],
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [domain, BOT_FRAMEWORK_SIGNIN_DOMAIN],
        "webApplicationInfo": {"id": app_id, "resource": sso_resource(base, app_id)},
    }
