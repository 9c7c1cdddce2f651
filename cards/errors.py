"""Error cards: each says what happened and what to do next (PRODUCT: errors are never silent).

The bot maps :mod:`scheduling.errors` to these in one place (bot.errors); for example ``HostUnavailable``
with ``reconnect_required`` -> :func:`reconnect_required`, ``SlotUnavailable`` -> :func:`slot_taken` with
its ``alternatives``, ``NotFound`` for an inactive link -> :func:`link_inactive`. What is left falls in two
kinds that must never look alike:

* :func:`request_refused`: the person asked for something Slotwise can't do (a rule, a missing link).
  It gives the rule and says nothing changed; trying again unchanged would not help, so it never says so.
* :func:`generic_error`: something failed on Slotwise's side (an outside system, a bug). It says so,
  asks to try again, and gives the reference id that is also in the log.

These cards use no Universal Actions except the buttons that continue the flow, so they render in any
Teams client.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cards.elements import (
    Json,
    action_rows,
    action_set,
    card,
    execute,
    input_text,
    open_url,
    text,
    user_text,
)
from cards.format import date_label, time_label, utc_iso, zone_label
from cards.slots import week_start_of
from scheduling.domain import EventType
from scheduling.timezones import zone


def _heading(value: str) -> Json:
    return text(value, weight="bolder", size="medium", color="attention")


def reconnect_required(sign_in_url: str, host_is_viewer: bool) -> Json:
    """The host's Outlook connection broke. The host gets a Reconnect button; anyone else is told to wait.

    The sign-in URL is only ever put on the host's own card.
    """
    if not host_is_viewer:
        return card(
            [
                _heading("This host can't take bookings right now"),
                text(
                    "Their Outlook calendar isn't connected to Slotwise at the moment, so no free times can be "
                    "shown (we never guess). They have been told. Please try again later, or contact them "
                    "directly."
                ),
            ],
            fallback_text="This host can't take bookings right now.",
        )
    return card(
        [
            _heading("Reconnect your Outlook calendar"),
            text(
                "Slotwise can no longer read your calendar: your sign-in expired or access was withdrawn. Until you "
                "reconnect, your links show no free times, so nobody can book you, and nothing is double-booked."
            ),
            text("Select **Reconnect**, sign in with your work account, then come back here.", spacing="small"),
        ],
        [open_url("Reconnect", sign_in_url), execute("Check connection", "connect")],
        fallback_text="Reconnect your Outlook calendar to Slotwise.",
    )


def consent_blocked(admin_consent_url: str) -> Json:
    """The tenant requires an admin to approve Slotwise: explain, and hand over the admin-consent link."""
    return card(
        [
            _heading("Your IT admin needs to approve Slotwise"),
            text(
                "Your organisation only lets administrators allow apps to read calendars. Send your Microsoft 365 "
                "admin the link below; once they approve, come back and connect again."
            ),
            input_text("adminConsentUrl", "Link for your admin", admin_consent_url),
        ],
        [open_url("Open the approval page", admin_consent_url), execute("Try connecting again", "connect")],
        fallback_text="Your IT admin needs to approve Slotwise.",
    )


def slot_taken(
    alternatives: Sequence[datetime],
    viewer_time_zone: str,
    link: EventType,
    *,
    duration: int | None = None,
    reschedule_booking_id: str | None = None,
) -> Json:
    """The chosen time went to someone else: offer the next free times as buttons, or all times."""
    zone(viewer_time_zone)
    minutes = duration if duration is not None else link.rules.duration
    body: list[Json] = [
        _heading("That time was just taken"),
        text(
            f"Someone booked it a moment before you, so nothing was booked for you. "
            f"{'Here are the next free times' if alternatives else 'Please pick another time'} for "
            f"{user_text(link.title, 200, empty='Untitled link')}."
        ),
    ]
    ordered = sorted(alternatives)
    if ordered:
        body.append(
            text(f"Times in {user_text(zone_label(viewer_time_zone, ordered[0]), 100)}.", size="small", subtle=True)
        )
        body.extend(
            action_rows(
                [
                    execute(
                        f"{date_label(a.astimezone(zone(viewer_time_zone)).date())} {time_label(a, viewer_time_zone)}",
                        "slots.pick",
                        {
                            "linkId": link.id,
                            "start": utc_iso(a),
                            "tz": viewer_time_zone,
                            "duration": minutes,
                            "bookingId": reschedule_booking_id,
                        },
                    )
                    for a in ordered[:12]
                ],
                per_row=3,
            )
        )
    week = week_start_of(ordered[0].astimezone(zone(viewer_time_zone)).date()).isoformat() if ordered else None
    body.append(
        action_set(
            [
                execute(
                    "See all times",
                    "slots.week",
                    {
                        "linkId": link.id,
                        "tz": viewer_time_zone,
                        "duration": minutes,
                        "weekStart": week,
                        "bookingId": reschedule_booking_id,
                    },
                )
            ]
        )
    )
    return card(body, fallback_text="That time was just taken; please pick another.")


def link_inactive() -> Json:
    """The link is switched off, used up (single use) or gone."""
    return card(
        [
            _heading("This link isn't taking bookings"),
            text(
                "The host switched it off, or it was a single-use link that has already been used. Ask the host "
                "for a new link."
            ),
        ],
        fallback_text="This link isn't taking bookings.",
    )


def request_refused(message: str) -> Json:
    """The request breaks a rule or names nothing that exists: the rule (the error's own message), and that
    nothing was changed."""
    return card(
        [
            _heading("I can't do that"),
            text(user_text(message, 1000, multiline=True, empty="That request isn't something Slotwise can do.")),
            text(
                "Nothing was changed. Change the request and send it again, or type **help** for examples.",
                subtle=True,
                size="small",
            ),
        ],
        [execute("Help", "help")],
        fallback_text=f"I can't do that: {message}",
    )


def generic_error(message: str, reference: str) -> Json:
    """Something failed on our side: what (if known), try again, and the ``reference`` that is in the log."""
    return card(
        [
            _heading("Something went wrong on our side"),
            text(user_text(message, 1000, multiline=True, empty="An unexpected error happened.")),
            text(
                f"It wasn't anything you did. Please try again in a moment; if it keeps happening, give your admin "
                f"the reference {user_text(reference, 40)}.",
                subtle=True,
                size="small",
            ),
        ],
        [execute("Help", "help")],
        fallback_text=f"Something went wrong on our side (reference {reference}).",
    )
