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

    def __post_init__(self) -> None:
        if self.card is None and not self.text:
            raise ValueError("a reply needs a card or text")


def message_activity(reply: Reply) -> Activity:
    """A message activity carrying the reply (the card as an Adaptive Card attachment)."""
    attachments = [Attachment(content_type=ADAPTIVE_CARD, content=reply.card)] if reply.card is not None else None
    return Activity(type=ActivityTypes.message, text=reply.text or None, attachments=attachments)


def card_action_body(reply: Reply) -> Json:
    """The ``adaptiveCard/action`` response body: the new card, or (text only) a message to show."""
    if reply.card is not None:
        return {"statusCode": 200, "type": ADAPTIVE_CARD, "value": reply.card}
    return {"statusCode": 200, "type": ACTIVITY_MESSAGE, "value": reply.text}
