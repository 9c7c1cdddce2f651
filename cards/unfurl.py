"""Cards for link unfurling (``composeExtension/queryLink``): Adaptive Card 1.3, no Universal Actions.

Teams documents unfurl cards as Adaptive Card 1.3 or lower (teams-facts §1.6), and ``Action.Execute``
and ``refresh`` are 1.4 features, so these cards use only 1.3 elements and properties.

Why every button is an ``Action.OpenUrl`` to the web booking page (not ``Action.Submit``):

* the unfurled card is posted by the *sender* into a chat where the bot may not even be installed,
  and a Submit from a messaging-extension card reaches the bot as ``composeExtension/onCardButtonClicked``,
  which cannot answer with a new card, so it could not show a booking form to the person who clicked;
* everyone in the chat sees the same card, rendered once in the sender's time zone, so the times are
  shortcuts only: the page opens on the chosen start (``?start=<UTC ISO>&tz=<zone>``) and shows it in
  the clicking person's own zone, re-checking that it is still free.

The web page must therefore accept ``start`` (a UTC instant) and ``tz`` query parameters; an unknown
or taken ``start`` should fall back to the normal picker. Results are cached by Teams for 30 minutes,
so the card says the times are a snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from cards.elements import UNFURL_VERSION, Json, action_rows, action_set, card, open_url, text, user_text
from cards.format import date_label, location_label, minutes_label, time_label, utc_iso, zone_label
from scheduling.domain import EventType
from scheduling.presentation import group_by_local_date
from scheduling.slots import Slot
from scheduling.timezones import zone

UNFURL_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
MAX_UNFURL_TIMES = 8


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` added to (or replacing keys of) its query string."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _header(link: EventType, host_name: str, minutes: int) -> list[Json]:
    return [
        text(user_text(link.title, 200, empty="Untitled link"), weight="bolder", size="medium"),
        text(
            f"Book time with {user_text(host_name, 100)} · {minutes_label(minutes)} · "
            f"{user_text(location_label(link.location), 120)}",
            subtle=True,
            spacing="none",
        ),
    ]


def slot_picker_unfurl(
    link: EventType,
    host_name: str,
    slots: Sequence[Slot],
    viewer_time_zone: str,
    booking_url: str,
    *,
    max_times: int = MAX_UNFURL_TIMES,
) -> Json:
    """The unfurled booking link: the next free times as links to the booking page, and "All times".

    ``viewer_time_zone`` is the sender's zone (the invoke's ``localTimezone``); the card names it.
    """
    zone(viewer_time_zone)
    minutes = link.rules.duration
    body = _header(link, host_name, minutes)
    upcoming = sorted(slots)[: max(max_times, 0)]
    if upcoming:
        body.append(
            text(
                f"Next free times, in {user_text(zone_label(viewer_time_zone, upcoming[0].start), 100)}:",
                size="small",
                spacing="medium",
            )
        )
        for day in group_by_local_date(upcoming, viewer_time_zone):
            body.append(text(date_label(day.day), weight="bolder", size="small", spacing="small"))
            body.extend(
                action_rows(
                    [
                        open_url(
                            time_label(s.start, viewer_time_zone),
                            with_query(booking_url, start=utc_iso(s.start), tz=viewer_time_zone),
                        )
                        for s in day.slots
                    ],
                    spacing="none",
                )
            )
        body.append(
            text(
                "Times as of when this link was shared; the page shows them in your own time zone.",
                size="small",
                subtle=True,
            )
        )
    else:
        body.append(text("No free times right now. Open the page to check later dates.", spacing="medium"))
    body.append(action_set([open_url("See all times", with_query(booking_url, tz=viewer_time_zone))]))
    return card(body, version=UNFURL_VERSION, fallback_text=f"{link.title}: {booking_url}")


def unfurl_preview(link: EventType, host_name: str) -> Json:
    """The small compose-box preview Teams requires next to the unfurl card."""
    return card(_header(link, host_name, link.rules.duration), version=UNFURL_VERSION, fallback_text=link.title)


def unfurl_notice(heading: str, message: str, booking_url: str | None = None) -> Json:
    """A 1.3 card for an unfurl that can't show times (inactive link, host disconnected...)."""
    body = [text(user_text(heading, 200), weight="bolder"), text(user_text(message, 500))]
    if booking_url:
        body.append(action_set([open_url("Open the booking page", booking_url)]))
    return card(body, version=UNFURL_VERSION, fallback_text=heading)


def unfurl_response(content: Json, preview: Json) -> Json:
    """The ``composeExtension`` invoke response body wrapping an unfurl card and its preview."""
    return {
        "composeExtension": {
            "type": "result",
            "attachmentLayout": "list",
            "attachments": [
                {
                    "contentType": UNFURL_CONTENT_TYPE,
                    "content": content,
                    "preview": {"contentType": UNFURL_CONTENT_TYPE, "content": preview},
                }
            ],
        }
    }
