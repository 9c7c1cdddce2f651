"""Every Universal Action verb the cards emit, and what each one carries. The one place verbs live.

Each ``Action.Execute`` a card builds has ``verb`` set to a :data:`Verb` and ``data`` holding
``{"verb": <the same verb>, ...the keys listed in VERB_DATA...}``; Teams merges the card's input
values into ``data`` before the ``adaptiveCard/action`` invoke reaches the bot. Every Execute also has
an ``Action.Submit`` fallback with the identical ``data`` (teams-facts §1.5), so a client without
Universal Actions posts a ``message`` whose ``value`` carries ``verb`` too: the bot routes both the
same way, and rejects anything for which :func:`is_verb` is false. Its edge (``bot.actions``) holds the typed
form of this contract: one model per verb, discriminated on ``verb``, with exactly the keys below (a test
keeps the two equal).

Data carries ids, never secrets (a manage token only ever travels inside an ``Action.OpenUrl``).
Ids are not capabilities: a card can be forwarded or seen by everyone in a group chat, so the bot
must check that the clicking user may act on ``linkId`` / ``bookingId``.

Data keys (all strings unless noted):

``linkId``       EventType.id
``bookingId``    Booking.id
``version``      int, EventType.version the settings form was built from (optimistic concurrency)
``start``        UTC ISO 8601 instant of a slot start, ``2026-12-08T09:30:00Z``
``tz``           the viewer's IANA time zone the card was rendered in
``weekStart``    ISO date (viewer-local) of the first day of the week shown; when absent, the bot
                 picks the current week
``day``          ISO date (viewer-local) of the selected day
``offset``       int, index of the first time shown on the selected day (paging within a day)
``duration``     int minutes, the meeting length being booked
``page``         int, 0-based page of a list card
``reasonInputId``  the id of the input holding the cancellation reason (``cancelReason.<bookingId>``)
``text``         a command line to run as if typed (``command``)
``keyId``        ApiKey.id (``apikey.revoke``: the bot checks the key is the clicking person's)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypeGuard, get_args

Verb = Literal[
    "link.create",
    "link.view",
    "link.edit",
    "link.save",
    "link.preview",
    "link.delete",
    "links.list",
    "slots.week",
    "slots.day",
    "slots.timezone",
    "slots.pick",
    "booking.confirm",
    "booking.reschedule",
    "booking.move",
    "booking.cancel",
    "bookings.upcoming",
    "profile.save",
    "apikey.create",
    "apikeys.list",
    "apikey.revoke",
    "connect",
    "command",
    "help",
    "team.view",
    "team.join",
    "team.leave",
    "team.edit",
    "team.save",
    "team.preview",
    "team.delete",
]

ALL_VERBS: Final[frozenset[Verb]] = frozenset(get_args(Verb))


def is_verb(value: object) -> TypeGuard[Verb]:
    """True for a verb the cards emit; the bot's edge check for incoming actions."""
    return isinstance(value, str) and value in ALL_VERBS


@dataclass(frozen=True, slots=True)
class VerbSpec:
    """The ``data`` keys (besides ``verb``) an action with this verb carries, and the inputs it submits."""

    required: frozenset[str]
    optional: frozenset[str] = frozenset()
    inputs: str = ""  # which card inputs arrive merged into data

    @property
    def allowed(self) -> frozenset[str]:
        return self.required | self.optional | {"verb"}


def _spec(required: str = "", optional: str = "", inputs: str = "") -> VerbSpec:
    return VerbSpec(frozenset(required.split()), frozenset(optional.split()), inputs)


#: The contract between the card builders and the bot: what each verb's ``data`` holds.
VERB_DATA: Final[Mapping[Verb, VerbSpec]] = {
    "link.create": _spec(optional="duration"),
    "link.view": _spec("linkId"),
    "link.edit": _spec("linkId"),
    "link.save": _spec(
        "linkId version",
        inputs="every settings input (cards.settings.SETTINGS_INPUT_IDS); "
        "pass the merged data to cards.settings.parse_settings",
    ),
    "link.preview": _spec("linkId"),
    "link.delete": _spec("linkId"),
    "links.list": _spec(optional="page"),
    "slots.week": _spec("linkId tz", "weekStart day offset duration bookingId"),
    "slots.day": _spec("linkId tz weekStart day", "offset duration bookingId"),
    "slots.timezone": _spec(
        "linkId",
        "weekStart day duration bookingId",
        inputs="slotsTimeZone (cards.verbs.TIME_ZONE_INPUT): the chosen IANA zone",
    ),
    "slots.pick": _spec("linkId start tz duration", "bookingId"),
    "booking.confirm": _spec(
        "linkId start tz duration",
        inputs="name, email, notes, answers.<questionId> (the keys "
        "scheduling.invitee.validate_invitee reports errors under)",
    ),
    "booking.reschedule": _spec("bookingId", "tz"),
    "booking.move": _spec("bookingId start tz"),
    "booking.cancel": _spec("bookingId reasonInputId", inputs="cancelReason.<bookingId> (see cancel_reason_input_id)"),
    "bookings.upcoming": _spec(optional="page"),
    "profile.save": _spec(
        inputs="profile.time_zone, profile.hours (pass to cards.help.parse_profile); profile.conflict_calendars, "
        "profile.write_calendar when the card listed calendars (cards.help.parse_calendar_choice)"
    ),
    "apikey.create": _spec(),
    "apikeys.list": _spec(),
    "apikey.revoke": _spec("keyId"),
    "connect": _spec(),
    "command": _spec("text"),
    "help": _spec(),
    # team links (cards.team): the card in the channel, its refresh, and its settings
    "team.view": _spec("linkId"),
    "team.join": _spec("linkId"),
    "team.leave": _spec("linkId"),
    "team.edit": _spec("linkId"),
    "team.save": _spec(
        "linkId version",
        inputs="every settings input (cards.settings.SETTINGS_INPUT_IDS) and the team's "
        "(cards.team.TEAM_INPUT_IDS, members.<userId>.<field>); pass the merged data to cards.team.parse_team_settings",
    ),
    "team.preview": _spec("linkId"),
    "team.delete": _spec("linkId"),
}

#: The slot picker's time-zone ChoiceSet (submitted with ``slots.timezone``).
TIME_ZONE_INPUT: Final = "slotsTimeZone"


def cancel_reason_input_id(booking_id: str) -> str:
    """Id of the free-text reason input next to a booking's Cancel button (unique per booking)."""
    return f"cancelReason.{booking_id}"
