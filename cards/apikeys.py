"""Cards of personal API keys (REST API v1): the new key (shown this once), the list with last use and a Revoke
button per key, and the offer to make one (sent privately when "api key" is typed in a group chat, so the key
itself is only ever drawn in the person's own chat and never stored anywhere on the way).

The new key sits in an ``Input.Text`` so it can be selected and copied on every client; every button of that card
has ``associatedInputs: none``, so the key is never sent back to the bot with a click.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cards.elements import (
    Json,
    action_set,
    card,
    container,
    execute,
    facts,
    input_text,
    open_url,
    text,
    title,
    user_text,
)
from cards.format import date_label, time_label
from scheduling.api_keys import ApiKey
from scheduling.timezones import zone

KEY_INPUT = "apiKey.value"
MAX_LISTED = 25


def _when(instant: datetime | None, time_zone: str) -> str:
    if instant is None:
        return "never"
    local = instant.astimezone(zone(time_zone))
    return f"{date_label(local.date(), year=True)}, {time_label(instant, time_zone)}"


def api_key_offer(docs_url: str) -> Json:
    """What "api key" answers outside the person's own chat: a button that makes the key there."""
    body = [
        title("Create an API key"),
        text(
            "An API key lets another program (a CRM, a ticketing tool) use Slotwise as you: your links, their "
            "slots and bookings, and webhooks. It is shown once, here in our chat."
        ),
    ]
    actions = [
        execute("Create key", "apikey.create", style="positive"),
        execute("My API keys", "apikeys.list"),
        open_url("API reference", docs_url),
    ]
    return card(body, actions, fallback_text="Create an API key")


def api_key_created(key: ApiKey, secret: str, docs_url: str) -> Json:
    """The new key, shown this once (only its first characters are kept)."""
    body = [
        text("API key created", weight="bolder", color="good"),
        title(user_text(key.name, 60, empty="API key")),
        text(
            "**Copy it now: it is shown only this once.** Slotwise keeps only a fingerprint of it. Send it as "
            "`Authorization: Bearer <key>`.",
            color="attention",
        ),
        input_text(KEY_INPUT, "Your API key", secret),
        text(
            f"Afterwards it shows as {user_text(key.prefix, 20)}\u2026 in **api keys**, where you can revoke it.",
            subtle=True,
            size="small",
        ),
    ]
    actions = [
        open_url("API reference", docs_url),
        execute("My API keys", "apikeys.list", submit_inputs=False),
    ]
    return card(body, actions, fallback_text="Your new Slotwise API key")


def api_keys_list(keys: Sequence[ApiKey], time_zone: str, notice: str = "") -> Json:
    """The person's active keys: name, first characters, made, last used, and a Revoke button each."""
    body: list[Json] = [title("Your API keys")]
    if notice:
        body.append(text(user_text(notice, 300), color="good", weight="bolder"))
    if not keys:
        body.append(text("You have no API keys. Select **Create key** (or type **api key**) to make one."))
    for key in list(keys)[:MAX_LISTED]:
        body.append(
            container(
                [
                    text(f"**{user_text(key.name, 60, empty='API key')}**"),
                    facts(
                        [
                            ("Key", f"{user_text(key.prefix, 20)}\u2026"),
                            ("Created", _when(key.created_at, time_zone)),
                            ("Last used", _when(key.last_used_at, time_zone)),
                        ]
                    ),
                    action_set([execute("Revoke", "apikey.revoke", {"keyId": key.id}, style="destructive")]),
                ],
                separator=True,
                spacing="medium",
            )
        )
    if len(keys) > MAX_LISTED:
        body.append(text(f"And {len(keys) - MAX_LISTED} more.", subtle=True))
    return card(body, [execute("Create key", "apikey.create")], fallback_text="Your Slotwise API keys")
