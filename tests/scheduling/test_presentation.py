"""Presenting slots to a viewer: grouping by the viewer's local date and labelling in their zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduling.errors import UnknownTimeZone
from scheduling.presentation import LocalDay, group_by_local_date, local_time_label
from scheduling.slots import Slot
from scheduling.team import TeamSlot
from tests.scheduling.strategies import ZONES, props, utc


def slot(start: datetime, minutes: int = 30) -> Slot:
    return Slot(start, start + timedelta(minutes=minutes))


A, B, C = slot(utc(2027, 1, 4, 10)), slot(utc(2027, 1, 4, 22)), slot(utc(2027, 1, 5, 2))


@pytest.mark.parametrize(
    ("viewer", "expected"),
    [
        pytest.param("UTC", [(date(2027, 1, 4), (A, B)), (date(2027, 1, 5), (C,))], id="utc"),
        # +13 in January: 10:00Z is 23:00 on the 4th; 22:00Z and 02:00Z fall on the 5th.
        pytest.param("Pacific/Auckland", [(date(2027, 1, 4), (A,)), (date(2027, 1, 5), (B, C))], id="auckland"),
        # -8: all three are on the 4th.
        pytest.param("America/Los_Angeles", [(date(2027, 1, 4), (A, B, C))], id="los-angeles"),
        # +14 / -11: 25 hours apart, so the same instant sits on different dates.
        pytest.param("Pacific/Kiritimati", [(date(2027, 1, 5), (A, B, C))], id="kiritimati"),
        pytest.param("Pacific/Pago_Pago", [(date(2027, 1, 3), (A,)), (date(2027, 1, 4), (B, C))], id="pago-pago"),
    ],
)
def test_grouping_across_the_date_line(viewer: str, expected: list[tuple[date, tuple[Slot, ...]]]) -> None:
    got = group_by_local_date([A, B, C], viewer)
    assert [(g.day, g.slots) for g in got] == expected
    assert all(isinstance(g, LocalDay) for g in got)


def test_input_order_does_not_matter() -> None:
    assert group_by_local_date([C, A, B], "UTC") == group_by_local_date([A, B, C], "UTC")


def test_equal_starts_keep_their_input_order() -> None:
    first = TeamSlot(utc(2027, 1, 4, 10), utc(2027, 1, 4, 10, 30), ("b",))
    second = TeamSlot(utc(2027, 1, 4, 10), utc(2027, 1, 4, 10, 30), ("a",))
    groups = group_by_local_date([second, first, TeamSlot(utc(2027, 1, 4, 9), utc(2027, 1, 4, 9, 30), ("c",))], "UTC")
    assert [s.hosts for s in groups[0].slots] == [("c",), ("a",), ("b",)]


def test_empty_and_generators() -> None:
    assert group_by_local_date([], "Europe/London") == []
    assert group_by_local_date((s for s in [A]), "UTC") == [LocalDay(date(2027, 1, 4), (A,))]


def test_unknown_viewer_zone_is_an_error() -> None:
    with pytest.raises(UnknownTimeZone):
        group_by_local_date([A], "Mars/Base")
    with pytest.raises(UnknownTimeZone):
        local_time_label(A.start, "Pacific Standard Time")


def test_grouping_around_a_dst_change() -> None:
    # New York, 7 November 2027: 01:30 EDT and 01:30 EST are both on the 7th, in start order.
    first, second = slot(utc(2027, 11, 7, 5, 30)), slot(utc(2027, 11, 7, 6, 30))
    (day,) = group_by_local_date([second, first], "America/New_York")
    assert day.day == date(2027, 11, 7) and day.slots == (first, second)
    assert local_time_label(first.start, "America/New_York") == local_time_label(second.start, "America/New_York")


@pytest.mark.parametrize(
    ("instant", "zone", "plain", "dated"),
    [
        (utc(2026, 12, 1, 14, 30), "UTC", "14:30", "Tue 1 Dec 14:30"),
        (utc(2026, 12, 1, 14, 30), "Europe/London", "14:30", "Tue 1 Dec 14:30"),
        (utc(2026, 12, 1, 14, 30), "America/New_York", "09:30", "Tue 1 Dec 09:30"),
        (utc(2026, 12, 1, 14, 30), "Pacific/Auckland", "03:30", "Wed 2 Dec 03:30"),
        (utc(2026, 12, 1, 14, 30), "Asia/Kolkata", "20:00", "Tue 1 Dec 20:00"),
        (utc(2027, 7, 4, 0, 5), "America/Los_Angeles", "17:05", "Sat 3 Jul 17:05"),
        (utc(2027, 3, 28, 1), "Europe/London", "02:00", "Sun 28 Mar 02:00"),
        (datetime(2027, 1, 4, 9, tzinfo=UTC).astimezone(ZoneInfo("Asia/Tokyo")), "UTC", "09:00", "Mon 4 Jan 09:00"),
    ],
)
def test_local_time_label(instant: datetime, zone: str, plain: str, dated: str) -> None:
    assert local_time_label(instant, zone) == plain
    assert local_time_label(instant, zone, with_date=True) == dated


@props(100)
@given(
    st.lists(st.integers(0, 14 * 24 * 4).map(lambda q: slot(utc(2027, 3, 1) + timedelta(minutes=15 * q))), max_size=30),
    st.sampled_from((*ZONES, "Pacific/Auckland", "America/Los_Angeles", "Pacific/Kiritimati", "Pacific/Pago_Pago")),
)
def test_grouping_partitions_the_slots_in_order(slots: list[Slot], viewer: str) -> None:
    tz = ZoneInfo(viewer)
    groups = group_by_local_date(slots, viewer)
    assert [s for g in groups for s in g.slots] == sorted(slots, key=lambda s: s.start)
    assert [g.day for g in groups] == sorted({s.start.astimezone(tz).date() for s in slots})
    for g in groups:
        assert g.slots and all(s.start.astimezone(tz).date() == g.day for s in g.slots)
