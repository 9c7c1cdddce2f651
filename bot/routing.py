"""Card actions: ``adaptiveCard/action`` invokes (Action.Execute) and Action.Submit messages, routed by verb.

The edge check is :func:`parse_action`: the data is validated into its verb's model (``bot.actions``, one
model per verb of ``cards.verbs``, discriminated on ``verb``), so an unknown verb, a missing key or a
malformed value (a date at the end of the calendar, ``true`` for a page number, a zone that doesn't exist)
is a :class:`BadAction`, answered with the ``request_refused`` card; nothing behind the edge ever sees an
unknown verb or untyped data.

Execute and its Submit fallback carry the same ``data`` (``cards.verbs``), so both are routed the same
way; only the way the answer travels differs (a replacing card vs. a new message).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from bot import api_keys, chat, host, picker, team
from bot.actions import (
    AnyAction,
    ApiKeyRevoke,
    BadAction,
    BookingCancel,
    BookingConfirm,
    BookingMove,
    BookingReschedule,
    BookingsUpcoming,
    LinkCreate,
    LinkDelete,
    LinkEdit,
    LinkPreview,
    LinkSave,
    LinksList,
    LinkView,
    RunCommand,
    SlotsDay,
    SlotsPick,
    SlotsTimezone,
    SlotsWeek,
    TeamDelete,
    TeamEdit,
    TeamJoin,
    TeamLeave,
    TeamPreview,
    TeamSave,
    TeamView,
    parse_data,
)
from bot.context import Turn
from bot.reply import Reply
from cards import Verb, help_card
from scheduling.domain import User
from scheduling.links import NewLink

__all__ = ["ROUTES", "Action", "BadAction", "card_action_of", "parse_action", "run_action", "submit_action_of"]

A = TypeVar("A")


@dataclass(frozen=True, slots=True)
class Action:
    """A card action that passed the edge: its verb, its typed data, and the data as sent (card inputs
    included) for the handlers that read inputs."""

    verb: Verb
    args: AnyAction
    data: Mapping[str, Any]

    def of(self, kind: type[A]) -> A:
        """The typed data, as the model ``kind`` its verb has (ROUTES pairs each verb with its handler)."""
        if not isinstance(self.args, kind):
            raise BadAction("This button's data doesn't fit its action. Type **help** to start again.")
        return self.args


def parse_action(verb: object, data: object, now: datetime | None = None) -> Action:
    """The edge check; ``verb`` from Action.Execute (or data['verb'] for Action.Submit); ``now`` bounds the
    instants a button may carry (scheduling.reach)."""
    args = parse_data(verb, data, now)
    raw: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
    return Action(args.verb, args, raw)


def card_action_of(value: object, now: datetime | None = None) -> Action:
    """The action inside an ``adaptiveCard/action`` invoke value."""
    action = value.get("action") if isinstance(value, Mapping) else None
    if not isinstance(action, Mapping) or action.get("type") != "Action.Execute":
        raise BadAction("This card action isn't supported. Type **help** to see what I can do.")
    data = action.get("data")
    return parse_action(action.get("verb"), data if isinstance(data, Mapping) else {}, now)


def submit_action_of(value: object, now: datetime | None = None) -> Action:
    """The action of an Action.Submit (a message whose ``value`` is the button's data plus inputs)."""
    data = value if isinstance(value, Mapping) else {}
    return parse_action(data.get("verb"), data, now)


# ------------------------------------------------------------------------------------- handlers


async def _picker_zone(turn: Turn, chosen: str | None, host_user: User) -> str:
    """The zone the card was rendered in, unless this is a refresh: then the viewer's own zone."""
    if chosen is None or turn.trigger == "automatic":
        return await turn.viewer_zone(host_user)
    return chosen


async def _slots(turn: Turn, action: Action) -> Reply:
    args = action.args
    if not isinstance(args, SlotsWeek | SlotsDay | SlotsTimezone):
        raise BadAction("This button's data doesn't fit its action. Type **help** to start again.")
    link, owner = await picker.public_link(turn, args.link_id)
    if isinstance(args, SlotsTimezone):
        tz, offset = args.chosen_zone, 0
    else:
        tz, offset = await _picker_zone(turn, args.tz, owner), args.offset or 0
    view = picker.PickerView(
        tz=tz,
        week_start=args.week_start,
        day=args.day,
        offset=offset,
        duration=args.duration,
        booking_id=args.booking_id,
    )
    return await picker.picker(turn, link, owner, view)


async def _link_create(turn: Turn, action: Action) -> Reply:
    return await host.create_link(turn, NewLink(duration=action.of(LinkCreate).duration or 30))


async def _link_edit(turn: Turn, action: Action) -> Reply:
    _user, link = await host.own_link(turn, action.of(LinkEdit).link_id)
    return host.edit_reply(link)


async def _link_preview(turn: Turn, action: Action) -> Reply:
    user, link = await host.own_link(turn, action.of(LinkPreview).link_id)
    return await picker.picker(turn, link, user, picker.PickerView(tz=await turn.viewer_zone(user)))


async def _link_delete(turn: Turn, action: Action) -> Reply:
    user, link = await host.own_link(turn, action.of(LinkDelete).link_id)
    return await host.delete_link(turn, user, link)


async def _link_save(turn: Turn, action: Action) -> Reply:
    args = action.of(LinkSave)
    return await host.save_link(turn, args.link_id, args.version, action.data)


async def _pick(turn: Turn, action: Action) -> Reply:
    args = action.of(SlotsPick)
    return await picker.pick(turn, args.link_id, args.start, args.tz, args.duration, args.booking_id)


async def _confirm(turn: Turn, action: Action) -> Reply:
    args = action.of(BookingConfirm)
    return await picker.confirm(turn, args.link_id, args.start, args.tz, args.duration, action.data)


async def _reschedule(turn: Turn, action: Action) -> Reply:
    args = action.of(BookingReschedule)
    return await picker.reschedule(turn, args.booking_id, args.tz)


async def _move(turn: Turn, action: Action) -> Reply:
    args = action.of(BookingMove)
    return await picker.move(turn, args.booking_id, args.start, args.tz)


async def _cancel(turn: Turn, action: Action) -> Reply:
    args = action.of(BookingCancel)
    return await picker.cancel(turn, args.booking_id, args.reason_input_id, action.data)


async def _help() -> Reply:
    return Reply(card=help_card())


Handler = Callable[[Turn, Action], Awaitable[Reply]]

ROUTES: Mapping[Verb, Handler] = {
    "link.create": _link_create,
    "link.view": lambda turn, a: host.show_link(turn, a.of(LinkView).link_id),
    "link.edit": _link_edit,
    "link.save": _link_save,
    "link.preview": _link_preview,
    "link.delete": _link_delete,
    "links.list": lambda turn, a: host.list_links(turn, a.of(LinksList).page or 0),
    "slots.week": _slots,
    "slots.day": _slots,
    "slots.timezone": _slots,
    "slots.pick": _pick,
    "booking.confirm": _confirm,
    "booking.reschedule": _reschedule,
    "booking.move": _move,
    "booking.cancel": _cancel,
    "bookings.upcoming": lambda turn, a: host.upcoming(turn, a.of(BookingsUpcoming).page or 0),
    "profile.save": lambda turn, a: host.save_profile(turn, a.data),
    "connect": lambda turn, _a: host.connect(turn),
    "command": lambda turn, a: chat.run_command(turn, a.of(RunCommand).text),
    "apikey.create": lambda turn, _a: api_keys.create_api_key(turn),
    "apikeys.list": lambda turn, _a: api_keys.list_api_keys(turn),
    "apikey.revoke": lambda turn, a: api_keys.revoke_api_key(turn, a.of(ApiKeyRevoke).key_id),
    "help": lambda _turn, _a: _help(),
    "team.view": lambda turn, a: team.view(turn, a.of(TeamView).link_id),
    "team.join": lambda turn, a: team.join(turn, a.of(TeamJoin).link_id),
    "team.leave": lambda turn, a: team.leave(turn, a.of(TeamLeave).link_id),
    "team.edit": lambda turn, a: team.edit(turn, a.of(TeamEdit).link_id),
    "team.save": lambda turn, a: team.save(turn, a.of(TeamSave).link_id, a.of(TeamSave).version, a.data),
    "team.preview": lambda turn, a: team.preview(turn, a.of(TeamPreview).link_id),
    "team.delete": lambda turn, a: team.delete(turn, a.of(TeamDelete).link_id),
}


async def run_action(turn: Turn, action: Action) -> Reply:
    return await ROUTES[action.verb](turn, action)
