"""Card actions: ``adaptiveCard/action`` invokes (Action.Execute) and Action.Submit messages, routed by verb.

The edge check (:func:`parse_action`): the verb must be one of ``cards.verbs.ALL_VERBS``, the data must
hold every key ``VERB_DATA`` requires, and each value must have its documented type (ids and dates
as strings, ``version`` / ``offset`` / ``duration`` / ``page`` as integers, ``start`` as a UTC instant,
``tz`` as a known IANA zone). Anything else is a :class:`BadAction`, answered with an error card;
nothing behind the edge ever sees an unknown verb or malformed data.

Execute and its Submit fallback carry the same ``data`` (``cards.verbs``), so both are routed the same
way; only the way the answer travels differs (a replacing card vs. a new message).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from bot import chat, host, picker
from bot.context import Turn
from bot.reply import Reply
from cards import help_card
from cards.verbs import TIME_ZONE_INPUT, VERB_DATA, Verb, is_verb
from scheduling.domain import User
from scheduling.errors import SlotwiseError
from scheduling.links import NewLink
from scheduling.timezones import is_valid_zone

MAX_PAGE = 1000


class BadAction(SlotwiseError):
    """A card action this version of Slotwise can't run (unknown verb, missing or malformed data)."""

    code = "bad_action"


@dataclass(frozen=True, slots=True)
class Action:
    verb: Verb
    data: Mapping[str, Any]

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise BadAction(f"This button is missing its '{key}'. Please use a newer card, or type **help**.")
        return value.strip()

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if self.data.get(key) not in (None, "") else None

    def optional_int(self, key: str, *, minimum: int = 0, maximum: int = 100_000) -> int | None:
        value = self.data.get(key)
        if value in (None, ""):
            return None
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
            raise BadAction(f"This button sent an invalid '{key}'.")
        return value

    def integer(self, key: str, *, minimum: int = 0, maximum: int = 100_000) -> int:
        value = self.optional_int(key, minimum=minimum, maximum=maximum)
        if value is None:
            raise BadAction(f"This button is missing its '{key}'.")
        return value

    def optional_date(self, key: str) -> date | None:
        value = self.optional_text(key)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise BadAction(f"This button sent an invalid date '{key}'.") from None

    def instant(self, key: str = "start") -> datetime:
        value = self.text(key)
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise BadAction(f"This button sent an invalid time '{key}'.") from None
        if parsed.tzinfo is None:
            raise BadAction(f"This button sent a time without a zone in '{key}'.")
        return parsed.astimezone(UTC)

    def zone(self, key: str = "tz") -> str:
        value = self.text(key)
        if not is_valid_zone(value):
            raise BadAction(f"'{value}' is not a time zone I know. Pick one from the list.")
        return value

    def optional_zone(self, key: str = "tz") -> str | None:
        return self.zone(key) if self.data.get(key) not in (None, "") else None


def parse_action(verb: object, data: object) -> Action:
    """The edge check; ``verb`` from Action.Execute (or data['verb'] for Action.Submit)."""
    if not isinstance(data, Mapping):
        data = {}
    if not is_verb(verb):
        raise BadAction("This button isn't supported by this version of Slotwise. Type **help** to see what I "
                        "can do.")
    if data.get("verb") not in (None, verb):
        raise BadAction("This button's data doesn't match its action. Type **help** to start again.")
    missing = sorted(k for k in VERB_DATA[verb].required if data.get(k) in (None, ""))
    if missing:
        raise BadAction(f"This button is missing {', '.join(repr(k) for k in missing)}. Type **help** to start "
                        "again.")
    return Action(verb, data)


def card_action_of(value: object) -> Action:
    """The action inside an ``adaptiveCard/action`` invoke value."""
    action = value.get("action") if isinstance(value, Mapping) else None
    if not isinstance(action, Mapping) or action.get("type") != "Action.Execute":
        raise BadAction("This card action isn't supported. Type **help** to see what I can do.")
    data = action.get("data")
    return parse_action(action.get("verb"), data if isinstance(data, Mapping) else {})


def submit_action_of(value: object) -> Action:
    """The action of an Action.Submit (a message whose ``value`` is the button's data plus inputs)."""
    data = value if isinstance(value, Mapping) else {}
    return parse_action(data.get("verb"), data)


# ------------------------------------------------------------------------------------- handlers

async def _picker_zone(turn: Turn, action: Action, host_user: User) -> str:
    """The zone the card was rendered in, unless this is a refresh: then the viewer's own zone."""
    chosen = action.optional_zone("tz")
    if chosen is None or turn.trigger == "automatic":
        return await turn.viewer_zone(host_user)
    return chosen


async def _slots(turn: Turn, action: Action) -> Reply:
    link, owner = await picker.public_link(turn, action.text("linkId"))
    if action.verb == "slots.timezone":
        tz = action.zone(TIME_ZONE_INPUT)
    else:
        tz = await _picker_zone(turn, action, owner)
    view = picker.PickerView(tz=tz, week_start=action.optional_date("weekStart"), day=action.optional_date("day"),
                             offset=action.optional_int("offset") or 0,
                             duration=action.optional_int("duration", minimum=1, maximum=1440),
                             booking_id=action.optional_text("bookingId"))
    return await picker.picker(turn, link, owner, view)


async def _link_create(turn: Turn, action: Action) -> Reply:
    duration = action.optional_int("duration", minimum=1, maximum=1440) or 30
    return await host.create_link(turn, NewLink(duration=duration))


async def _link_edit(turn: Turn, action: Action) -> Reply:
    _user, link = await host.own_link(turn, action.text("linkId"))
    return host.edit_reply(link)


async def _link_preview(turn: Turn, action: Action) -> Reply:
    user, link = await host.own_link(turn, action.text("linkId"))
    return await picker.picker(turn, link, user, picker.PickerView(tz=await turn.viewer_zone(user)))


async def _link_delete(turn: Turn, action: Action) -> Reply:
    user, link = await host.own_link(turn, action.text("linkId"))
    return await host.delete_link(turn, user, link)


async def _pick(turn: Turn, action: Action) -> Reply:
    return await picker.pick(turn, action.text("linkId"), action.instant(), action.zone(),
                             action.optional_int("duration", minimum=1, maximum=1440),
                             action.optional_text("bookingId"))


async def _confirm(turn: Turn, action: Action) -> Reply:
    return await picker.confirm(turn, action.text("linkId"), action.instant(), action.zone(),
                                action.optional_int("duration", minimum=1, maximum=1440), action.data)


Handler = Callable[[Turn, Action], Awaitable[Reply]]

ROUTES: Mapping[Verb, Handler] = {
    "link.create": _link_create,
    "link.view": lambda turn, a: host.show_link(turn, a.text("linkId")),
    "link.edit": _link_edit,
    "link.save": lambda turn, a: host.save_link(turn, a.text("linkId"), a.integer("version", minimum=1,
                                                                                  maximum=10**9), a.data),
    "link.preview": _link_preview,
    "link.delete": _link_delete,
    "links.list": lambda turn, a: host.list_links(turn, a.optional_int("page", maximum=MAX_PAGE) or 0),
    "slots.week": _slots,
    "slots.day": _slots,
    "slots.timezone": _slots,
    "slots.pick": _pick,
    "booking.confirm": _confirm,
    "booking.reschedule": lambda turn, a: picker.reschedule(turn, a.text("bookingId"), a.optional_zone("tz")),
    "booking.move": lambda turn, a: picker.move(turn, a.text("bookingId"), a.instant(), a.zone()),
    "booking.cancel": lambda turn, a: picker.cancel(turn, a.text("bookingId"), a.text("reasonInputId"), a.data),
    "bookings.upcoming": lambda turn, a: host.upcoming(turn, a.optional_int("page", maximum=MAX_PAGE) or 0),
    "profile.save": lambda turn, a: host.save_profile(turn, a.data),
    "connect": lambda turn, _a: host.connect(turn),
    "command": lambda turn, a: chat.run_command(turn, a.text("text")),
    "help": lambda _turn, _a: _help(),
}


async def _help() -> Reply:
    return Reply(card=help_card())


async def run_action(turn: Turn, action: Action) -> Reply:
    return await ROUTES[action.verb](turn, action)
