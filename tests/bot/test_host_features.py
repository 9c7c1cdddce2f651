"""Issue 16 §4 through the whole app: the host's profile card lists their calendars from Graph (their own and
those shared with them) and saves which ones count and which one bookings go into, refusing calendars they can't
see or write; and the reminder before a booked meeting reaches the host's chat with the invitee, their notes and
the Join button, unless the booking was cancelled or moved meanwhile."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app import BACKGROUND, REMINDER_JOB, SERVICES
from cards.format import when_label
from scheduling.delivery import Outcome
from scheduling.domain import Booking, User
from scheduling.intervals import Interval
from scheduling.reminders import ReminderService
from tests.bot.harness import DANA, MALLORY, Bot, Sent
from tests.bot.test_booking import book, shared_picker
from tests.cards.checks import execute_by_title, input_by_id, nodes, texts

MEGAN = "megan@contoso.example"
CONFLICTS, WRITE = "profile.conflict_calendars", "profile.write_calendar"


def adjust_form(card: dict[str, Any]) -> dict[str, Any]:
    form: dict[str, Any] = next(a for a in card["actions"] if a.get("title") == "Adjust")["card"]
    return form


def choices(form: dict[str, Any], input_id: str) -> dict[str, str]:
    """title -> calendar id of a ChoiceSet."""
    return {c["title"]: c["value"] for c in input_by_id(form, input_id)["choices"]}


async def dana(bot: Bot) -> User:
    user: User | None = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    assert user is not None
    return user


async def calendars_of_dana(bot: Bot) -> dict[str, str]:
    """Dana connects; her mailbox gets a second calendar, Megan shares her rota (can edit) and her team calendar
    (read-only) with her. Returns name -> calendar id."""
    await bot.card(DANA, "connect")
    state = bot.emulator
    if state.get_user(MEGAN) is None:
        state.add_user(upn=MEGAN, display_name="Megan Bowen", tenant_id=state.get_user(DANA.email).tenant_id)  # type: ignore[union-attr]
    return {
        "Calendar": state.default_calendar(DANA.email).id,
        "Interviews": state.add_calendar(DANA.email, "Interviews")["id"],
        "Rota": state.add_calendar(DANA.email, "Rota", can_edit=True, owner_upn=MEGAN)["id"],
        "Team": state.add_calendar(DANA.email, "Team", can_edit=False, owner_upn=MEGAN)["id"],
    }


async def test_the_profile_card_lists_own_and_shared_calendars_and_saves_the_choice(bot: Bot) -> None:
    ids = await calendars_of_dana(bot)
    card = await bot.card(DANA, "connect")
    facts = {f["title"]: f["value"] for fs in nodes(card, "FactSet") for f in fs["facts"]}
    assert facts["Busy time from"] == "Calendar (main)" and facts["New bookings go to"] == "Calendar (main)"
    form = adjust_form(card)
    assert choices(form, CONFLICTS) == {
        "Calendar (main)": ids["Calendar"],
        "Interviews": ids["Interviews"],
        "Rota (shared by Megan Bowen)": ids["Rota"],
        "Team (shared by Megan Bowen, read-only)": ids["Team"],
    }
    assert set(choices(form, WRITE).values()) == {ids["Calendar"], ids["Interviews"], ids["Rota"]}  # writable only
    assert input_by_id(form, CONFLICTS)["value"] == ids["Calendar"]  # the default: the main calendar
    assert any("within about 30 seconds" in t for t in texts(form))

    chosen = f"{ids['Calendar']},{ids['Team']},{ids['Interviews']}"
    saved = await bot.execute(
        DANA,
        execute_by_title(form, "Save"),
        {
            "profile.time_zone": "Europe/London",
            "profile.hours": "Mon-Fri 09:00-17:00",
            CONFLICTS: chosen,
            WRITE: ids["Rota"],
        },
    )
    assert texts(saved)[0] == "Saved"
    user = await dana(bot)
    assert user.conflict_calendar_ids == (ids["Calendar"], ids["Team"], ids["Interviews"])
    assert user.write_calendar_id == ids["Rota"]
    again = adjust_form(await bot.card(DANA, "connect"))
    assert input_by_id(again, WRITE)["value"] == ids["Rota"]

    back = await bot.execute(
        DANA,
        execute_by_title(again, "Save"),
        {"profile.time_zone": "Europe/London", "profile.hours": "Mon-Fri 09:00-17:00", CONFLICTS: ids["Calendar"]},
    )
    assert texts(back)[0] == "Saved"
    user = await dana(bot)  # the main calendar alone is the mailbox's free/busy; the write choice was kept
    assert (user.conflict_calendar_ids, user.write_calendar_id) == ((), ids["Rota"])


async def test_a_calendar_the_host_cant_see_or_write_is_refused_and_nothing_is_saved(bot: Bot) -> None:
    ids = await calendars_of_dana(bot)
    await bot.card(MALLORY, "connect")
    mallorys = bot.emulator.default_calendar(MALLORY.email).id  # exists, but is not shared with Dana
    before = await dana(bot)
    form = adjust_form(await bot.card(DANA, "connect"))
    refused = await bot.execute(
        DANA,
        execute_by_title(form, "Save"),
        {
            "profile.time_zone": "America/New_York",  # valid, and still not saved: all or nothing
            "profile.hours": "Mon-Fri 09:00-17:00",
            CONFLICTS: f"{ids['Calendar']},{mallorys}",
            WRITE: ids["Team"],  # shared read-only
        },
    )
    shown = texts(refused)
    assert shown[0] == "Nothing was saved yet"
    assert any(t.startswith("Busy-time calendars: One of the chosen calendars isn't one you can see") for t in shown)
    assert any(t.startswith("Calendar for new bookings: You can't add meetings to") for t in shown)
    assert await dana(bot) == before


# --------------------------------------------------------------------------- reminders


@dataclass
class At:
    instant: datetime

    def now(self) -> datetime:
        return self.instant


def reminders(bot: Bot, now: datetime) -> ReminderService:
    repos = bot.repos
    return ReminderService(reminders=repos.reminders, event_types=repos.event_types, users=repos.users, clock=At(now))


def reminder_messages(bot: Bot) -> list[Sent]:
    return [
        s for s in bot.connector.proactive(DANA.chat, bot.turn_ids) if s.cards and texts(s.cards[0])[0] == "Reminder"
    ]


async def only_booking(bot: Bot) -> Booking:
    bookings, _links = await bot.app[SERVICES].booking.upcoming(await dana(bot))
    [found] = bookings
    return found


async def test_the_host_gets_one_reminder_card_with_the_invitee_notes_and_join(bot: Bot) -> None:
    await book(bot, await shared_picker(bot), notes="Bring the **Q3** numbers")
    booking = await only_booking(bot)
    await bot.delivery.run_once()  # the "new booking" notice goes first
    early = await reminders(bot, booking.start - timedelta(minutes=16)).run()
    assert early.enqueued == []
    report = await reminders(bot, booking.start - timedelta(minutes=15)).run()
    assert report.enqueued == [booking.id]
    assert (await reminders(bot, booking.start - timedelta(minutes=14)).run()).enqueued == []  # once
    await bot.delivery.run_once()
    [sent] = reminder_messages(bot)
    card = sent.cards[0]
    facts = {f["title"]: f["value"] for fs in nodes(card, "FactSet") for f in fs["facts"]}
    assert facts["Invitee"] == r"Ivan Invitee \<ivan@fabrikam.example>"  # escaped for Markdown
    assert facts["Notes"] == r"Bring the \*\*Q3\*\* numbers"  # escaped, as typed
    assert facts["Meeting"] == "Intro"
    join = [a for a in card["actions"] if a["type"] == "Action.OpenUrl"]
    assert [a["title"] for a in join] == ["Join Teams meeting"] and join[0]["url"] == booking.join_url
    assert sent.body["conversation"]["id"] == DANA.chat  # the host's own chat


async def test_a_reminder_queued_before_a_cancel_or_a_move_is_not_sent(bot: Bot) -> None:
    await book(bot, await shared_picker(bot))
    booking = await only_booking(bot)
    await bot.delivery.run_once()
    assert (await reminders(bot, booking.start - timedelta(minutes=10)).run()).enqueued == [booking.id]
    service = bot.app[SERVICES].booking
    await service.cancel(booking, "Something came up", "host")  # before the reminder is delivered
    report = await bot.delivery.run_once()
    kinds = {a.kind: a.outcome for a in report.attempts}
    assert kinds["booking.reminder"] is Outcome.OBSOLETE
    assert reminder_messages(bot) == []


async def test_a_moved_booking_is_reminded_for_its_new_time_only(bot: Bot) -> None:
    picker = await shared_picker(bot)
    await book(bot, picker)
    booking = await only_booking(bot)
    await bot.delivery.run_once()
    assert (await reminders(bot, booking.start - timedelta(minutes=10)).run()).enqueued == [booking.id]
    service = bot.app[SERVICES].booking
    later = booking.start + timedelta(days=1)
    link = await service.link_of(booking)
    slots = await service.slots(link, _week(later))
    new_start = next(s.start for s in slots if s.start >= later)
    moved = await service.reschedule(booking, new_start, "host")
    report = await bot.delivery.run_once()
    assert {a.kind: a.outcome for a in report.attempts}["booking.reminder"] is Outcome.OBSOLETE
    assert (await reminders(bot, moved.start - timedelta(minutes=15)).run()).enqueued == [booking.id]
    await bot.delivery.run_once()
    [sent] = reminder_messages(bot)
    facts = {f["title"]: f["value"] for fs in nodes(sent.cards[0], "FactSet") for f in fs["facts"]}
    host = await dana(bot)
    assert facts["When"].startswith(when_label(moved.start, moved.end, host.time_zone))


def _week(instant: datetime) -> Interval:
    start = instant.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return Interval(start, start + timedelta(days=7))


async def test_the_reminder_job_is_registered_to_run_on_one_replica_at_a_time(bot: Bot) -> None:
    jobs = bot.app[BACKGROUND]
    assert REMINDER_JOB in jobs.jobs
    assert jobs._jobs[REMINDER_JOB].exclusive and jobs._jobs[REMINDER_JOB].interval == 30.0
