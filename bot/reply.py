"""What the bot answers with, and how an answer travels: as a chat message (text and/or a card) or as
the body of an ``adaptiveCard/action`` invoke response (the card replaces the one that was clicked).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botbuilder.schema import Activity, ActivityTypes, Attachment

Json = dict[str, Any]

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
ACTIVITY_MESSAGE = "application/vnd.microsoft.activity.message"


@dataclass(frozen=True, slots=True)
class Reply:
    """A card, a line of text, or both (text first). At least one of them is set."""

    card: Json | None = None
    text: str = ""
    oauth: Json | None = None  # an OAuthCard with a token-exchange resource: Teams tries SSO with it

    def __post_init__(self) -> None:
        if self.card is None and not self.text:
            raise ValueError("a reply needs a card or text")


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
