"""What the bot needs from the rest of Slotwise: the core's use cases (never a store: every rule lives in
the core, the bot translates Teams activities and renders cards), the clock and the public base URL.
``app.py`` builds one; the bot never builds storage or Graph objects itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from scheduling.api_keys import ApiKeyService
from scheduling.booking import BookingService
from scheduling.connect import ConnectionService
from scheduling.links import LinkService
from scheduling.notices import NoticeService
from scheduling.people import PeopleService
from scheduling.ports import Clock
from scheduling.sso import sso_resource
from scheduling.teams import TeamLinkService


@dataclass(frozen=True, slots=True)
class BotDeps:
    booking: BookingService
    links: LinkService
    connections: ConnectionService
    people: PeopleService
    notices: NoticeService
    clock: Clock
    base_url: str  # public base URL of the web pages: {base}/book/..., {base}/manage/..., {base}/auth/...
    sandbox: bool = False  # no Azure bot: users get a sandbox mailbox address when Teams gives none
    app_id: str = ""  # the bot's Entra app id: with it, sign-in cards also offer Teams SSO
    api_keys: ApiKeyService | None = None  # "api key" / "api keys" in chat (REST API v1); None: not offered
    teams: TeamLinkService | None = None  # team links in channels and group chats (bot.team); None: not offered

    @property
    def sso_resource(self) -> str:
        """The manifest's webApplicationInfo.resource: the audience Teams requests an SSO token for (built by
        the same function as the manifest's); "" in sandbox mode or without an app id (no Teams SSO)."""
        return sso_resource(self.base_url, self.app_id) if self.app_id and not self.sandbox else ""

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path
