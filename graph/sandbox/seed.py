"""Demo data: a few people in different zones with realistic calendars, deterministic for a given ``now``.

``seed_demo`` creates five colleagues in one tenant, with object ids derived from tenant and UPN
(``demo_user_id``: the same people on every run), chosen to exercise the hard cases: a mailbox that
reports a Windows zone ("Pacific Standard Time"), one with an IANA zone ("Europe/London"), a half-hour
offset ("India Standard Time"), one whose working hours use a ``customTimeZone``, and a southern
hemisphere zone with a four-day week. Calendars hold recurring meetings (daily standup, weekly 1:1), a
tentative meeting, an out-of-office day, all-day events, a private appointment, a Teams meeting, an
invitation from a colleague, and shared calendars. ``seed_mailbox`` adds a few weeks of ordinary
meetings to any mailbox (used for users created on the fly in sandbox mode).
"""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

from graph.sandbox.model import EmUser
from graph.sandbox.state import EmulatorState

DOMAIN = "contoso.example"
SANDBOX_TENANT_ID = "c0a7b1e5-5a0d-4b0c-9d1e-5a0db0c5a0d1"  # sandbox mode's tenant, the same on every run
DEMO_NAMESPACE = uuid.UUID("5a0d0b0c-de70-4e0c-8a1d-5a0db0c5a0d1")
SUBJECTS = (
    "Project sync",
    "Design review",
    "Customer call",
    "Hiring loop",
    "Budget check-in",
    "Roadmap planning",
    "Incident retro",
    "Vendor demo",
    "Coffee chat",
    "Sprint planning",
    "Data review",
    "Onboarding session",
)
ROOMS = ("Room 2.14", "Room 3.01", "Cafe", "", "", "")
DIEGO_CUSTOM_ZONE = {
    "bias": 300,
    "name": "Customized Time Zone",
    "standardOffset": {"time": "02:00:00.0000000", "dayOccurrence": 1, "dayOfWeek": "sunday", "month": 11, "year": 0},
    "daylightOffset": {
        "time": "02:00:00.0000000",
        "dayOccurrence": 2,
        "dayOfWeek": "sunday",
        "month": 3,
        "year": 0,
        "daylightBias": -60,
    },
}
PEOPLE: tuple[dict[str, Any], ...] = (
    {
        "upn": f"adele@{DOMAIN}",
        "display_name": "Adele Vance",
        "time_zone": "Pacific Standard Time",
        "working_start": "08:00:00",
        "working_end": "17:00:00",
    },
    {
        "upn": f"megan@{DOMAIN}",
        "display_name": "Megan Bowen",
        "time_zone": "Europe/London",
        "working_start": "09:00:00",
        "working_end": "17:30:00",
    },
    {
        "upn": f"priya@{DOMAIN}",
        "display_name": "Priya Raman",
        "time_zone": "India Standard Time",
        "working_start": "09:30:00",
        "working_end": "18:00:00",
    },
    {
        "upn": f"diego@{DOMAIN}",
        "display_name": "Diego Siciliani",
        "time_zone": "Eastern Standard Time",
        "working_start": "08:30:00",
        "working_end": "16:30:00",
        "working_time_zone": DIEGO_CUSTOM_ZONE,
    },
    {
        "upn": f"lee@{DOMAIN}",
        "display_name": "Lee Gu",
        "time_zone": "AUS Eastern Standard Time",
        "working_days": ("monday", "tuesday", "wednesday", "thursday"),
        "working_start": "09:00:00",
        "working_end": "15:00:00",
    },
)


def demo_user_id(tenant_id: str, upn: str) -> str:
    """A demo person's object id: the same for the same tenant and UPN on every run, so an app that keeps
    its own records of people (Slotwise's users) finds the same person again after a fresh seed."""
    return str(uuid.uuid5(DEMO_NAMESPACE, f"{tenant_id.lower()}/{upn.lower()}"))


def _minutes(text: str) -> int:
    h, m, *_ = (int(p) for p in text.split(".")[0].split(":"))
    return h * 60 + m


def _week_start(user: EmUser, now: datetime) -> date:
    today = now.astimezone(user.mailbox_zone()).date()
    return today - timedelta(days=today.weekday())


def _at(user: EmUser, day: date, minutes: int) -> datetime:
    return datetime.combine(day, time(minutes // 60, minutes % 60), user.mailbox_zone())


def _zone_name(user: EmUser) -> str:
    return user.time_zone if user.time_zone.strip() else "UTC"


def seed_mailbox(
    state: EmulatorState, user: EmUser, now: datetime, weeks: int = 4, rng_seed: int | str = 0
) -> list[dict[str, Any]]:
    """A week of history and ``weeks`` weeks ahead of ordinary meetings in the user's working hours,
    plus a weekly team sync. The same ``now`` and ``rng_seed`` always give the same calendar."""
    rng = random.Random(f"{rng_seed}:{user.upn.lower()}:{_week_start(user, now).isoformat()}")
    zone_name = _zone_name(user)
    work_start, work_end = _minutes(user.working_start), _minutes(user.working_end)
    if work_end <= work_start:
        work_start, work_end = 9 * 60, 17 * 60
    first = _week_start(user, now) - timedelta(days=7)
    created = []
    sync_day = first + timedelta(days=2)
    sync_start = min(work_start + 120, work_end - 30)
    created.append(
        state.add_event(
            user.id,
            "Weekly team sync",
            _at(user, sync_day, sync_start),
            _at(user, sync_day, sync_start + 30),
            time_zone=zone_name,
            location="Room 2.14",
            recurrence={
                "pattern": {
                    "type": "weekly",
                    "interval": 1,
                    "daysOfWeek": [sync_day.strftime("%A").lower()],
                    "firstDayOfWeek": "sunday",
                },
                "range": {"type": "noEnd", "startDate": sync_day.isoformat()},
            },
        )
    )
    for offset in range((weeks + 1) * 7):
        day = first + timedelta(days=offset)
        if day.strftime("%A").lower() not in user.working_days:
            continue
        taken: list[tuple[int, int]] = [(sync_start, sync_start + 30)] if day.weekday() == sync_day.weekday() else []
        for _ in range(rng.choice((1, 2, 2, 3, 3, 4))):
            length = rng.choice((30, 30, 45, 60, 60, 90))
            slots = (work_end - work_start - length) // 30
            if slots < 0:
                continue
            start = work_start + 30 * rng.randint(0, slots)
            if any(start < e and start + length > s for s, e in taken):
                continue
            taken.append((start, start + length))
            show_as = rng.choices(("busy", "tentative", "free", "workingElsewhere"), (80, 12, 4, 4))[0]
            created.append(
                state.add_event(
                    user.id,
                    rng.choice(SUBJECTS),
                    _at(user, day, start),
                    _at(user, day, start + length),
                    show_as=show_as,
                    time_zone=zone_name,
                    location=rng.choice(ROOMS) or None,
                    sensitivity="private" if rng.random() < 0.05 else "normal",
                    is_online_meeting=rng.random() < 0.3,
                )
            )
    return created


def _weekly(day: date, *days: str) -> dict[str, Any]:
    return {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": list(days), "firstDayOfWeek": "sunday"},
        "range": {"type": "noEnd", "startDate": day.isoformat()},
    }


def seed_demo(state: EmulatorState, now: datetime) -> list[EmUser]:
    """Create (once) the demo colleagues and their calendars; returns them, Adele first."""
    existing = state.get_user(PEOPLE[0]["upn"])
    if existing is not None:
        return [state.user(p["upn"]) for p in PEOPLE]
    people = [
        state.add_user(**person, user_id=demo_user_id(state.default_tenant_id, person["upn"])) for person in PEOPLE
    ]
    adele, megan, priya, diego, _lee = people
    aw, mw, pw, dw = (_week_start(u, now) for u in (adele, megan, priya, diego))
    pst = "Pacific Standard Time"
    d = timedelta

    # Adele (Windows zone name): recurring standup and 1:1, tentative, private, Teams, OOF, all-day.
    standup_first = aw - d(days=7)
    state.add_event(
        adele.id,
        "Daily standup",
        _at(adele, standup_first, 9 * 60),
        _at(adele, standup_first, 555),
        time_zone=pst,
        attendees=[megan.upn, diego.upn],
        is_online_meeting=True,
        recurrence=_weekly(standup_first, "monday", "tuesday", "wednesday", "thursday", "friday"),
    )
    one_on_one = aw - d(days=6)
    state.add_event(
        adele.id,
        "1:1 Adele / Megan",
        _at(adele, one_on_one, 600),
        _at(adele, one_on_one, 630),
        time_zone=pst,
        attendees=[(megan.display_name, megan.upn)],
        recurrence=_weekly(one_on_one, "tuesday"),
    )
    state.add_event(
        megan.id,
        "1:1 Adele / Megan",
        _at(adele, one_on_one, 600),
        _at(adele, one_on_one, 630),
        time_zone=pst,
        organizer=adele.upn,
        show_as="busy",
        recurrence=_weekly(one_on_one, "tuesday"),
    )
    state.add_event(
        adele.id,
        "Architecture review",
        _at(adele, aw + d(days=3), 13 * 60),
        _at(adele, aw + d(days=3), 14 * 60),
        show_as="tentative",
        time_zone=pst,
        location="Room 3.01",
        organizer=priya.upn,
    )
    state.add_event(
        adele.id,
        "Doctor's appointment",
        _at(adele, aw + d(days=7), 15 * 60),
        _at(adele, aw + d(days=7), 16 * 60),
        time_zone=pst,
        sensitivity="private",
    )
    state.add_event(
        adele.id,
        "Customer call: Fabrikam",
        _at(adele, aw + d(days=1), 14 * 60),
        _at(adele, aw + d(days=1), 14 * 60 + 45),
        time_zone=pst,
        is_online_meeting=True,
        attendees=[("Kim Akers", "kim@fabrikam.example")],
    )
    state.add_event(
        adele.id, "Out of office", aw + d(days=11), aw + d(days=12), show_as="oof", is_all_day=True, time_zone=pst
    )
    state.add_event(
        adele.id,
        "Quarterly planning",
        aw + d(days=16),
        aw + d(days=17),
        is_all_day=True,
        time_zone=pst,
        location="Offsite",
    )

    # Megan (IANA zone): a team holidays calendar shared with Adele, and Adele's calendar shared with her.
    state.add_calendar(adele.id, "Team holidays", can_edit=False, owner_upn=megan.upn)
    holidays = next(c for c in state.calendars.values() if c.owner_id == megan.id and c.name == "Team holidays")
    state.add_event(
        megan.id,
        "Lee on leave",
        mw + d(days=8),
        mw + d(days=10),
        is_all_day=True,
        show_as="free",
        time_zone="Europe/London",
        calendar_id=holidays.id,
    )
    state.add_event(
        megan.id,
        "Bank holiday",
        mw + d(days=14),
        mw + d(days=15),
        is_all_day=True,
        show_as="oof",
        time_zone="Europe/London",
    )
    state.add_calendar(megan.id, "Calendar", can_edit=False, owner_upn=adele.upn)
    state.add_event(
        megan.id,
        "Interview panel",
        _at(megan, mw + d(days=2), 14 * 60),
        _at(megan, mw + d(days=2), 15 * 60 + 30),
        time_zone="Europe/London",
    )

    # Priya (half-hour offset): a daily check-in and a Friday sprint review.
    state.add_event(
        priya.id,
        "Team check-in",
        _at(priya, pw, 10 * 60),
        _at(priya, pw, 10 * 60 + 15),
        time_zone="India Standard Time",
        recurrence={
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "numbered", "startDate": pw.isoformat(), "numberOfOccurrences": 40},
        },
    )
    state.add_event(
        priya.id,
        "Sprint review",
        _at(priya, pw + d(days=4), 16 * 60),
        _at(priya, pw + d(days=4), 17 * 60),
        time_zone="India Standard Time",
        recurrence={
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["friday"]},
            "range": {
                "type": "endDate",
                "startDate": (pw + d(days=4)).isoformat(),
                "endDate": (pw + d(days=60)).isoformat(),
            },
        },
    )

    # Diego (custom working-hours zone): working from the client site on Wednesdays.
    state.add_event(
        diego.id,
        "At client site",
        _at(diego, dw + d(days=2), 8 * 60 + 30),
        _at(diego, dw + d(days=2), 16 * 60 + 30),
        show_as="workingElsewhere",
        time_zone="Eastern Standard Time",
        recurrence=_weekly(dw + d(days=2), "wednesday"),
    )

    for index, person in enumerate(people):
        seed_mailbox(state, person, now, weeks=4, rng_seed=index)
    return people
