"""The chat notice to a webhook subscription's owner when Slotwise switched the subscription off (its receiver
answered 410 Gone, or every delivery failed for 24 hours), with what to do about it."""

from __future__ import annotations

from collections.abc import Mapping

from cards.elements import Json, card, facts, text, title, user_text


def _text(payload: Mapping[str, object], key: str) -> str:
    value = payload.get(key)
    return value if isinstance(value, str) else ""


def webhook_disabled(payload: Mapping[str, object], docs_url: str) -> Json:
    """``payload``: the ``webhook.disabled`` outbox item's (subscriptionId, url, description, reason)."""
    subscription = _text(payload, "subscriptionId")
    rows = [
        ("Receiver", user_text(_text(payload, "url"), 300)),
        ("Why", user_text(_text(payload, "reason"), 300)),
    ]
    if _text(payload, "description"):
        rows.insert(0, ("Webhook", user_text(_text(payload, "description"), 200)))
    body = [
        text("Webhook switched off", weight="bolder", color="attention"),
        title("A webhook stopped receiving Slotwise events"),
        facts(rows),
        text(
            "No more events are sent to it. When the receiver works again, switch the subscription back on with "
            f'`PATCH /api/v1/webhooks/{user_text(subscription, 64)}` and `{{"enabled": true}}` (events in '
            f"between are not sent again). [API reference]({docs_url})",
            size="small",
        ),
    ]
    return card(body, fallback_text="A Slotwise webhook was switched off")
