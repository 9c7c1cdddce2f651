"""The booking store against a plain-Python model of the overlap invariant, over random operations.

Each step (reserve, hold, release a hold, cancel, move, let time pass) is applied to the store and to
the model; the store must accept exactly what the model accepts. The model is the specification in
``scheduling.stores``: holding entries of one host never overlap by their padded intervals, holds stop
counting when they expire, cancelled bookings free their time, a move does not collide with itself.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from scheduling.domain import User
from scheduling.errors import Conflict, SlotUnavailable
from scheduling.intervals import Interval
from storage.repositories import Repositories
from tests.storage.helpers import FakeClock, at, booking, make_link, make_user

STEPS = 100


@dataclass
class Entry:
    hosts: frozenset[str]
    start: datetime
    end: datetime
    before: int
    after: int
    expires: datetime | None = None  # holds only

    @property
    def padded(self) -> tuple[datetime, datetime]:
        return self.start - timedelta(minutes=self.before), self.end + timedelta(minutes=self.after)


def clashes(new: Entry, entries: dict[str, Entry], now: datetime, ignore: str | None = None) -> bool:
    lo, hi = new.padded
    if lo >= hi:
        return False
    for key, old in entries.items():
        if key == ignore or not (new.hosts & old.hosts):
            continue
        if old.expires is not None and old.expires <= now:
            continue
        o_lo, o_hi = old.padded
        if o_lo < hi and lo < o_hi:
            return True
    return False


@pytest.mark.parametrize("seed", [2024])
async def test_store_accepts_exactly_what_the_model_accepts(repos: Repositories, clock: FakeClock, seed: int) -> None:
    rnd = random.Random(seed)
    users: list[User] = [await make_user(repos, f"h{i}@contoso.com") for i in range(3)]
    link = await make_link(repos, users[0])
    model: dict[str, Entry] = {}  # booking ids and hold ids -> what they hold
    outcomes = {"accepted": 0, "refused": 0}

    def random_entry(expires: datetime | None = None) -> Entry:
        hosts = frozenset(u.id for u in rnd.sample(users, rnd.choice([1, 1, 1, 2])))
        start = at(9) + timedelta(minutes=5 * rnd.randrange(0, 60))
        return Entry(
            hosts,
            start,
            start + timedelta(minutes=rnd.choice([5, 15, 30, 45, 60])),
            rnd.choice([0, 0, 5, 10]),
            rnd.choice([0, 0, 5, 15]),
            expires,
        )

    for step in range(STEPS):
        now = clock.now_value
        action = rnd.choices(["reserve", "hold", "release_hold", "cancel", "move", "tick"], weights=[8, 3, 1, 2, 2, 1])[
            0
        ]
        if action in ("reserve", "hold"):
            entry = random_entry(now + timedelta(minutes=rnd.choice([1, 5, 20])) if action == "hold" else None)
            expected = not clashes(entry, model, now)
            host_users = [u for u in users if u.id in entry.hosts]
            key = f"{action}-{step}"
            try:
                if action == "hold":
                    assert entry.expires is not None  # a hold always expires
                    await repos.bookings.place_hold(
                        key,
                        [u.id for u in host_users],
                        entry.start,
                        entry.end,
                        entry.before,
                        entry.after,
                        entry.expires,
                    )
                else:
                    minutes = int((entry.end - entry.start).total_seconds() // 60)
                    await repos.bookings.reserve(
                        booking(
                            link,
                            host_users,
                            entry.start,
                            minutes,
                            before=entry.before,
                            after=entry.after,
                            booking_id=key,
                        )
                    )
                accepted = True
            except SlotUnavailable:
                accepted = False
            assert accepted == expected, (step, action, entry)
            outcomes["accepted" if accepted else "refused"] += 1
            if accepted:
                # expired holds of these hosts are gone from the store now; mirror that
                for gone in [
                    k for k, e in model.items() if e.expires is not None and e.expires <= now and e.hosts & entry.hosts
                ]:
                    del model[gone]
                model[key] = entry
        elif action == "release_hold":
            holds = [k for k, e in model.items() if e.expires is not None]
            if holds:
                victim = rnd.choice(holds)
                await repos.bookings.release_hold(victim)
                del model[victim]
        elif action == "cancel":
            bookings = [k for k, e in model.items() if e.expires is None]
            if bookings:
                victim = rnd.choice(bookings)
                await repos.bookings.cancel(victim, reason="model")
                del model[victim]
        elif action == "move":
            bookings = [k for k, e in model.items() if e.expires is None]
            if bookings:
                key = rnd.choice(bookings)
                old = model[key]
                current = await repos.bookings.get(key)
                assert current is not None
                if current.status.value == "pending":
                    await repos.bookings.confirm(
                        key, graph_event_id=f"evt-{key}", ical_uid=None, join_url=None, join_url_missing=False
                    )
                    current = await repos.bookings.get(key)
                    assert current is not None
                shift = timedelta(minutes=5 * rnd.randrange(-6, 7))
                moved = Entry(old.hosts, old.start + shift, old.end + shift, old.before, old.after)
                expected = not clashes(moved, model, now, ignore=key)
                try:
                    await repos.bookings.move(key, start=moved.start, end=moved.end, expected_version=current.version)
                    accepted = True
                except SlotUnavailable:
                    accepted = False
                assert accepted == expected, (step, action, key, moved)
                if accepted:
                    model[key] = moved
                with pytest.raises(Conflict):  # the version we used is stale now (or was refused: same)
                    await repos.bookings.move(
                        key, start=moved.start, end=moved.end, expected_version=current.version - 1
                    )
        else:
            clock.advance(minutes=rnd.choice([1, 3, 10]))

    # The store's view agrees with the model's at the end.
    now = clock.now_value
    found = await repos.bookings.host_bookings([u.id for u in users], Interval(at(0), at(23, 59)))
    for user in users:
        live = sorted(
            (e.start, e.end) for e in model.values() if user.id in e.hosts and (e.expires is None or e.expires > now)
        )
        stored = sorted((b.start, b.end) for b in found[user.id] if b.expires_at is None or b.expires_at > now)
        assert stored == live
    assert outcomes["accepted"] > 10 and outcomes["refused"] > 10, outcomes
