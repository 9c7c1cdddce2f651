"""What the bot answers with, and how an answer travels: as a chat message (text and/or a card) or as
the body of an ``adaptiveCard/action`` invoke response (the card replaces the one that was clicked).

A reply marked :class:`Private` is for the requester's eyes only (a sign-in, consent or MFA card, their
bookings): in a group chat or channel it goes to their personal chat instead (``bot.private``) and the
conversation only gets the notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botbuilder.schema import Activity, ActivityTypes, Attachment

Json = dict[str, Any]

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
ACTIVITY_MESSAGE = "application/vnd.microsoft.activity.message"


SIGN_IN_NOTICE = "I've sent you a private message to connect."


@dataclass(frozen=True, slots=True)
class SignIn:
    """What a private sign-in card asks for, so it can be drawn again when it is delivered (a fresh
    sign-in link, never one stored in the outbox): the admin-consent page, or the person's own sign-in
    (``claims``: an MFA / Conditional Access challenge to pass on; ``reconnect``: the "reconnect" card)."""

    admin_consent_url: str = ""
    claims: str = ""
    reconnect: bool = False


@dataclass(frozen=True, slots=True)
class Private:
    """The reply may only be seen by the person who asked. In a group chat or channel it is sent to their
    personal chat and the conversation is told ``notice``; ``again`` is what to type in a personal chat
    with Slotwise when no private message can be sent. A sign-in card carries its :class:`SignIn`."""

    notice: str
    again: str
    sign_in: SignIn | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """A card, a line of text, or both (text first). At least one of them is set."""

    card: Json | None = None
    text: str = ""
    oauth: Json | None = None  # an OAuthCard with a token-exchange resource: Teams tries SSO with it
    private: Private | None = None  # for the requester only: never shown in a group chat or channel

    def __post_init__(self) -> None:
        if self.card is None and not self.text:
            raise ValueError("a reply needs a card or text")


def sign_in_private(sign_in: SignIn) -> Private:
    return Private(notice=SIGN_IN_NOTICE, again="connect", sign_in=sign_in)


OAUTH_CARD = "application/vnd.microsoft.card.oauth"
SSO_CONNECTION = "slotwise-sso"


def sso_oauth_card(resource: str, sign_in_url: str, exchange_id: str) -> Json:
    """The OAuthCard that makes Teams attempt single sign-on: it asks the Teams client for a token for
    ``resource`` (the manifest's webApplicationInfo.resource) and sends it back as signin/tokenExchange;
    when it can't, the card's button opens our own sign-in page (``sign_in_url``)."""
    return {
        "text": "Connect your Outlook calendar to Slotwise",
        "connectionName": SSO_CONNECTION,
        "tokenExchangeResource": {"id": exchange_id, "uri": resource},
        "buttons": [{"type": "signin", "title": "Connect Outlook", "value": sign_in_url}],
    }


def message_activity(reply: Reply) -> Activity:
    """A message activity carrying the reply (the card as an Adaptive Card attachment)."""
    attachments = [Attachment(content_type=ADAPTIVE_CARD, content=reply.card)] if reply.card is not None else []
    if reply.oauth is not None:
        attachments.append(Attachment(content_type=OAUTH_CARD, content=reply.oauth))

    return Activity(type=ActivityTypes.message, text=reply.text or None, attachments=attachments or None)


def card_action_body(reply: Reply) -> Json:
    """The ``adaptiveCard/action`` response body: the new card, or (text only) a message to show."""
    if reply.card is not None:
        return {"statusCode": 200, "type": ADAPTIVE_CARD, "value": reply.card}
    return {"statusCode": 200, "type": ACTIVITY_MESSAGE, "value": reply.text}
