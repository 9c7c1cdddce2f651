"""Typed card actions: the ``data`` of every Action.Execute / Action.Submit, one model per verb.

``cards.verbs`` is the contract (which verbs exist, which keys each carries: ``VERB_DATA``); this module
is its typed form at the bot's edge. :data:`ACTION_DATA` is a union of one model per verb, discriminated
on ``verb``: an unknown verb, a missing key or a malformed value is refused here, once, with a
:class:`BadAction` (answered with the ``request_refused`` card); nothing behind the edge sees an
untyped value.

Types: ids and command text are non-empty strings; ``version`` / ``offset`` / ``duration`` / ``page``
whole numbers within bounds (``"24"`` is read as 24, ``true`` is not a number); ``start`` an ISO 8601
instant with its offset, within the reach of :mod:`scheduling.reach` (``context={"now": ...}``); dates
ISO ``YYYY-MM-DD`` in the calendar Slotwise works in; ``tz`` a known IANA zone. An optional key sent
empty counts as absent (a card input left blank). Keys no model names are card inputs Teams merged into
``data``; they are kept (``model_extra``) for the handlers that read inputs (the settings form, the
booking form, a cancellation reason).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from cards import TIME_ZONE_INPUT, Verb, is_verb
from scheduling.errors import SlotwiseError
from scheduling.reach import FIRST_DATE, LAST_DATE, instant_problem
from scheduling.rules import MAX_DURATION, MIN_DURATION
from scheduling.timezones import is_valid_zone

MAX_PAGE = 1000
MAX_OFFSET = 100_000
MAX_VERSION = 10**9
MAX_ID = 200
MAX_COMMAND = 1000
AGAIN = "Type **help** to start again."


class BadAction(SlotwiseError):
    """A card action this version of Slotwise can't run (unknown verb, missing or malformed data)."""

    code = "bad_action"


def _name(info: ValidationInfo) -> str:
    return to_camel(info.field_name or "value")


def _blank(value: object) -> object:
    """An optional key sent empty (a blank input) is absent."""
    return None if value == "" else value


def _text(limit: int) -> Any:
    def check(value: object, info: ValidationInfo) -> str:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise PydanticCustomError("missing", "missing")
        if not isinstance(value, str) or len(value.strip()) > limit:
            raise PydanticCustomError("bad_action", "This button sent an invalid '{name}'.", {"name": _name(info)})
        return value.strip()

    return BeforeValidator(check)


def _whole(minimum: int, maximum: int) -> Any:
    def check(value: object, info: ValidationInfo) -> int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value.strip()) <= 12:
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise PydanticCustomError("bad_action", "This button sent an invalid '{name}'.", {"name": _name(info)})
        return value

    return BeforeValidator(check)


def _instant(value: object, info: ValidationInfo) -> datetime:
    name = _name(info)
    invalid = PydanticCustomError("bad_action", "This button sent an invalid time '{name}'.", {"name": name})
    if not isinstance(value, str) or not value.strip():
        raise invalid
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise invalid from None
    if parsed.tzinfo is None:
        raise PydanticCustomError("bad_action", "This button sent a time without a zone in '{name}'.", {"name": name})
    try:
        instant = parsed.astimezone(UTC)
    except OverflowError:  # before year 1 or after 9999 once in UTC
        raise invalid from None
    if not FIRST_DATE <= instant.date() <= LAST_DATE:
        raise invalid
    now = info.context.get("now") if isinstance(info.context, Mapping) else None
    if isinstance(now, datetime) and (problem := instant_problem(instant, now, "This button's time")) is not None:
        raise PydanticCustomError("bad_action", problem)
    return instant


def _day(value: object, info: ValidationInfo) -> date:
    invalid = PydanticCustomError("bad_action", "This button sent an invalid date '{name}'.", {"name": _name(info)})
    if not isinstance(value, str):
        raise invalid
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise invalid from None
    if not FIRST_DATE <= day <= LAST_DATE:
        raise invalid
    return day


def _zone(value: object) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise PydanticCustomError("missing", "missing")
    if not isinstance(value, str) or not is_valid_zone(value.strip()):
        raise PydanticCustomError(
            "bad_action",
            "'{value}' is not a time zone I know. Pick one from the list.",
            {"value": value.strip()[:60] if isinstance(value, str) else value},
        )
    return value.strip()


Id = Annotated[str, _text(MAX_ID)]
Instant = Annotated[datetime, BeforeValidator(_instant)]
Day = Annotated[date, BeforeValidator(_day)]
Zone = Annotated[str, BeforeValidator(_zone)]
Duration = Annotated[int, _whole(MIN_DURATION, MAX_DURATION)]
Page = Annotated[int, _whole(0, MAX_PAGE)]
Offset = Annotated[int, _whole(0, MAX_OFFSET)]
Version = Annotated[int, _whole(1, MAX_VERSION)]
Command = Annotated[str, _text(MAX_COMMAND)]
OptionalId = Annotated[Id | None, BeforeValidator(_blank)]
OptionalDay = Annotated[Day | None, BeforeValidator(_blank)]
OptionalZone = Annotated[Zone | None, BeforeValidator(_blank)]
OptionalDuration = Annotated[Duration | None, BeforeValidator(_blank)]
OptionalPage = Annotated[Page | None, BeforeValidator(_blank)]
OptionalOffset = Annotated[Offset | None, BeforeValidator(_blank)]


class ActionData(BaseModel):
    """Base of the per-verb models: camelCase keys as the cards write them; card inputs kept as extras."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="allow")

    @property
    def inputs(self) -> Mapping[str, Any]:
        """The card inputs Teams merged into the data (every key no field names)."""
        return self.model_extra or {}


class LinkCreate(ActionData):
    verb: Literal["link.create"]
    duration: OptionalDuration = None


class LinkView(ActionData):
    verb: Literal["link.view"]
    link_id: Id


class LinkEdit(ActionData):
    verb: Literal["link.edit"]
    link_id: Id


class LinkSave(ActionData):
    verb: Literal["link.save"]
    link_id: Id
    version: Version


class LinkPreview(ActionData):
    verb: Literal["link.preview"]
    link_id: Id


class LinkDelete(ActionData):
    verb: Literal["link.delete"]
    link_id: Id


class LinksList(ActionData):
    verb: Literal["links.list"]
    page: OptionalPage = None


class SlotsWeek(ActionData):
    verb: Literal["slots.week"]
    link_id: Id
    tz: Zone
    week_start: OptionalDay = None
    day: OptionalDay = None
    offset: OptionalOffset = None
    duration: OptionalDuration = None
    booking_id: OptionalId = None


class SlotsDay(ActionData):
    verb: Literal["slots.day"]
    link_id: Id
    tz: Zone
    week_start: Day
    day: Day
    offset: OptionalOffset = None
    duration: OptionalDuration = None
    booking_id: OptionalId = None


class SlotsTimezone(ActionData):
    verb: Literal["slots.timezone"]
    link_id: Id
    chosen_zone: Zone = Field(alias=TIME_ZONE_INPUT)  # the picker's zone list, submitted with the button
    week_start: OptionalDay = None
    day: OptionalDay = None
    duration: OptionalDuration = None
    booking_id: OptionalId = None


class SlotsPick(ActionData):
    verb: Literal["slots.pick"]
    link_id: Id
    start: Instant
    tz: Zone
    duration: Duration
    booking_id: OptionalId = None


class BookingConfirm(ActionData):
    verb: Literal["booking.confirm"]
    link_id: Id
    start: Instant
    tz: Zone
    duration: Duration


class BookingReschedule(ActionData):
    verb: Literal["booking.reschedule"]
    booking_id: Id
    tz: OptionalZone = None


class BookingMove(ActionData):
    verb: Literal["booking.move"]
    booking_id: Id
    start: Instant
    tz: Zone


class BookingCancel(ActionData):
    verb: Literal["booking.cancel"]
    booking_id: Id
    reason_input_id: Id


class BookingsUpcoming(ActionData):
    verb: Literal["bookings.upcoming"]
    page: OptionalPage = None


class ProfileSave(ActionData):
    verb: Literal["profile.save"]


class Connect(ActionData):
    verb: Literal["connect"]


class RunCommand(ActionData):
    verb: Literal["command"]
    text: Command


class Help(ActionData):
    verb: Literal["help"]


class ApiKeyCreate(ActionData):
    verb: Literal["apikey.create"]


class ApiKeysList(ActionData):
    verb: Literal["apikeys.list"]


class ApiKeyRevoke(ActionData):
    verb: Literal["apikey.revoke"]
    key_id: Id


class TeamView(ActionData):
    verb: Literal["team.view"]
    link_id: Id


class TeamJoin(ActionData):
    verb: Literal["team.join"]
    link_id: Id


class TeamLeave(ActionData):
    verb: Literal["team.leave"]
    link_id: Id


class TeamEdit(ActionData):
    verb: Literal["team.edit"]
    link_id: Id


class TeamSave(ActionData):
    verb: Literal["team.save"]
    link_id: Id
    version: Version


class TeamPreview(ActionData):
    verb: Literal["team.preview"]
    link_id: Id


class TeamDelete(ActionData):
    verb: Literal["team.delete"]
    link_id: Id


AnyAction = Annotated[
    LinkCreate
    | LinkView
    | LinkEdit
    | LinkSave
    | LinkPreview
    | LinkDelete
    | LinksList
    | SlotsWeek
    | SlotsDay
    | SlotsTimezone
    | SlotsPick
    | BookingConfirm
    | BookingReschedule
    | BookingMove
    | BookingCancel
    | BookingsUpcoming
    | ProfileSave
    | Connect
    | RunCommand
    | ApiKeyCreate
    | ApiKeysList
    | ApiKeyRevoke
    | Help
    | TeamView
    | TeamJoin
    | TeamLeave
    | TeamEdit
    | TeamSave
    | TeamPreview
    | TeamDelete,
    Field(discriminator="verb"),
]
#: Validates any action's data (with ``verb`` in it) into its verb's model.
ACTION_DATA: TypeAdapter[AnyAction] = TypeAdapter(AnyAction)


def _refusal(exc: ValidationError) -> BadAction:
    errors = exc.errors(include_url=False)
    missing = [str(e["loc"][-1]) for e in errors if e["type"] == "missing" and len(e["loc"]) >= 2]
    if missing:
        listed = ", ".join(repr(k) for k in dict.fromkeys(missing))
        return BadAction(f"This button is missing {listed}. {AGAIN}")
    first = errors[0]
    if first["type"] == "bad_action":
        return BadAction(str(first["msg"]))
    key = first["loc"][-1] if len(first["loc"]) >= 2 else "data"
    return BadAction(f"This button sent an invalid '{key}'. {AGAIN}")


def parse_data(verb: object, data: object, now: datetime | None = None) -> AnyAction:
    """The typed data of an action with ``verb`` (Action.Execute's verb, or ``data['verb']`` for a Submit);
    BadAction when the verb is unknown, ``data`` names another verb, or a key is missing or malformed.
    ``now`` bounds instants to the reach around it."""
    fields: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
    if not is_verb(verb):
        raise BadAction("This button isn't supported by this version of Slotwise. Type **help** to see what I can do.")
    if fields.get("verb") not in (None, verb):
        raise BadAction(f"This button's data doesn't match its action. {AGAIN}")
    try:
        return ACTION_DATA.validate_python({**fields, "verb": verb}, context={"now": now} if now else None)
    except ValidationError as exc:
        raise _refusal(exc) from None


def verb_of(model: ActionData) -> Verb:
    verb: Verb = getattr(model, "verb")  # noqa: B009  (every concrete model has one; the base class does not)
    return verb
