"""API keys in chat: "api key" makes one and shows it once, "api keys" lists them with their last use, and each
has a Revoke button. The use cases are the core's (``scheduling.api_keys.ApiKeyService``): the bot only finds the
asker and draws the cards.

Every answer is private (``Reply.private``): typed in a group chat or channel, it goes to the asker's personal chat
(bot.private). A new key is only ever drawn in that personal chat, in the turn that made it: outside it, "api key"
sends the *offer* (a Create key button) privately instead, so no key is ever written into the outbox or seen by
anyone else.
"""

from __future__ import annotations

from bot.context import Turn, is_personal
from bot.reply import Private, Reply
from cards import api_key_created, api_key_offer, api_keys_list
from scheduling.api_keys import ApiKeyService
from scheduling.errors import NotFound

KEY_NOTICE = "I've sent you a private message to create your API key."
KEYS_NOTICE = "I've sent you your API keys in a private message."
DOCS_PATH = "/api/v1/openapi.json"


def _keys(turn: Turn) -> ApiKeyService:
    if turn.deps.api_keys is None:
        raise NotFound("API keys aren't available on this Slotwise.")
    return turn.deps.api_keys


def _private(again: str, notice: str) -> Private:
    return Private(notice=notice, again=again)


async def create_api_key(turn: Turn) -> Reply:
    keys = _keys(turn)
    docs = turn.deps.url(DOCS_PATH)
    if not is_personal(turn.activity):
        return Reply(card=api_key_offer(docs), private=_private("api key", KEY_NOTICE))
    user = await turn.actor()
    issued = await keys.create(user)
    return Reply(card=api_key_created(issued.key, issued.secret, docs), private=_private("api key", KEY_NOTICE))


async def list_api_keys(turn: Turn, notice: str = "") -> Reply:
    keys = _keys(turn)
    user = await turn.actor()
    found = await keys.list(user)
    card = api_keys_list(found, await turn.viewer_zone(user), notice)
    return Reply(card=card, private=_private("api keys", KEYS_NOTICE))


async def revoke_api_key(turn: Turn, key_id: str) -> Reply:
    """Revoke one of the clicking person's keys (NotFound for anyone else's: the core checks the owner)."""
    user = await turn.actor()
    revoked = await _keys(turn).revoke(user, key_id)
    return await list_api_keys(turn, f"Revoked {revoked.name} ({revoked.prefix}\u2026): it no longer works.")
