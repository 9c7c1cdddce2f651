"""Pure Adaptive Card builders: domain objects in, card dicts out (Adaptive Cards 1.5 with Universal
Actions; 1.3 variants for link unfurling). No I/O. Must not import: aiohttp, botbuilder, httpx,
sqlalchemy, graph, storage, bot, web.

Map of the package (one module per concept):

* :mod:`cards.verbs`: every ``Action.Execute`` verb, the data each one carries, and the input ids the
  bot reads back. The bot rejects any verb not in :data:`cards.verbs.ALL_VERBS` at the edge.
* :mod:`cards.elements`: tiny node builders (TextBlock, inputs, actions) and :func:`escape_markdown`.
* :mod:`cards.format`: human formatting of rules, times and zones (and the inverse parsers).
* :mod:`cards.links`, :mod:`cards.settings`, :mod:`cards.slots`, :mod:`cards.unfurl`,
  :mod:`cards.bookings`, :mod:`cards.errors`, :mod:`cards.help`, :mod:`cards.reminders`: the cards themselves.

Every builder returns a fresh ``dict`` ready for ``json.dumps``; nothing is templated from strings and
no ``$data`` binding is used. Text typed by people (titles, names, notes, answers) is escaped with
:func:`cards.elements.escape_markdown` before it reaches a ``TextBlock``.
"""

from cards.apikeys import api_key_created, api_key_offer, api_keys_list
from cards.bookings import (
    NotificationKind,
    booked,
    confirm_reschedule,
    host_notification,
    outlook_move_refused,
    upcoming_bookings,
)
from cards.elements import escape_markdown
from cards.errors import (
    consent_blocked,
    generic_error,
    link_inactive,
    reconnect_required,
    request_refused,
    slot_taken,
)
from cards.format import durations_label, utc_iso
from cards.help import (
    CALENDAR_INPUTS,
    PROFILE_CONFLICTS,
    PROFILE_HOURS,
    PROFILE_TIME_ZONE,
    PROFILE_WRITE,
    connect_prompt,
    first_run,
    help_card,
    parse_calendar_choice,
    parse_profile,
)
from cards.links import booking_url, link_created, links_list, team_booking_url
from cards.reminders import reminder_card
from cards.settings import FORM_ERROR, parse_settings, settings_editor
from cards.slots import confirm_booking, slot_picker, week_start_of
from cards.team import (
    announcement_text,
    parse_team_settings,
    team_link_card,
    team_links_list,
    team_settings_card,
    unreadable_card,
)
from cards.unfurl import slot_picker_unfurl, unfurl_notice, unfurl_preview, unfurl_response
from cards.verbs import ALL_VERBS, TIME_ZONE_INPUT, Verb, cancel_reason_input_id, is_verb
from cards.webhooks import webhook_disabled

__all__ = [
    "ALL_VERBS",
    "CALENDAR_INPUTS",
    "FORM_ERROR",
    "PROFILE_CONFLICTS",
    "PROFILE_HOURS",
    "PROFILE_TIME_ZONE",
    "PROFILE_WRITE",
    "TIME_ZONE_INPUT",
    "NotificationKind",
    "Verb",
    "announcement_text",
    "api_key_created",
    "api_key_offer",
    "api_keys_list",
    "booked",
    "booking_url",
    "cancel_reason_input_id",
    "confirm_booking",
    "confirm_reschedule",
    "connect_prompt",
    "consent_blocked",
    "durations_label",
    "escape_markdown",
    "first_run",
    "generic_error",
    "help_card",
    "host_notification",
    "is_verb",
    "link_created",
    "link_inactive",
    "links_list",
    "outlook_move_refused",
    "parse_calendar_choice",
    "parse_profile",
    "parse_settings",
    "parse_team_settings",
    "reconnect_required",
    "reminder_card",
    "request_refused",
    "settings_editor",
    "slot_picker",
    "slot_picker_unfurl",
    "slot_taken",
    "team_booking_url",
    "team_link_card",
    "team_links_list",
    "team_settings_card",
    "unfurl_notice",
    "unfurl_preview",
    "unfurl_response",
    "unreadable_card",
    "upcoming_bookings",
    "utc_iso",
    "webhook_disabled",
    "week_start_of",
]
