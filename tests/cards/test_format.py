"""Escaping of user text, human formatting of rules and times, and the inverse parsers."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cards.elements import clip, escape_markdown, plain, user_text
from cards.format import (
    caps_label,
    durations_label,
    location_label,
    minutes_label,
    minutes_value,
    offset_label,
    parse_day_ranges,
    parse_minutes,
    parse_weekly_hours,
    ranges_label,
    statuses_label,
    utc_iso,
    weekly_summary,
    when_label,
    window_label,
)
from scheduling.ports import Location, LocationKind
from scheduling.rules import BookingWindow, BusyStatus, DayRanges, LocalRange
from tests.cards.checks import unescape
from tests.cards.data import utc
from tests.scheduling.strategies import props

# --------------------------------------------------------------------------- escaping


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("*Bob*", r"\*Bob\*"),
        ("**bold**", r"\*\*bold\*\*"),
        ("[x](http://evil)", r"\[x\](http://evil)"),
        ("[link](javascript:alert(1))", r"\[link\](javascript:alert(1))"),
        ("<script>alert(1)</script>", r"\<script>alert(1)\</script>"),
        ("snake_case_name", r"snake\_case\_name"),
        ("~~gone~~ `code`", r"\~\~gone\~\~ \`code\`"),
        ("# Heading", r"\# Heading"),
        ("- not a list", r"\- not a list"),
        ("+ neither", r"\+ neither"),
        ("> quote", r"\> quote"),
        ("1. first", r"1\. first"),
        ("2) second", r"2\) second"),
        ("{{DATE(2017-02-14T06:08:39Z, SHORT)}}", r"\{\{DATE(2017-02-14T06:08:39Z, SHORT)\}\}"),
        ("back\\slash", r"back\\slash"),
        ("O'Brien & Søn — café 🎉", "O'Brien & Søn — café 🎉"),
        ("a - b > c 3.5", "a - b > c 3.5"),
        ("Tom\n\nJones\t\r\n x", "Tom Jones x"),
        ("\u202eevil\u202c\u200b", "evil"),
    ],
)
def test_escape_markdown(raw: str, escaped: str) -> None:
    assert escape_markdown(raw) == escaped


def test_multiline_escaping_keeps_lines_as_paragraphs() -> None:
    assert escape_markdown("- one\r\n\r\n2. two\n  # three  ", multiline=True) == "\\- one\n\n2\\. two\n\n\\# three"


@props(200)
@given(st.text())
def test_escaping_keeps_the_text_and_removes_markup(raw: str) -> None:
    escaped = escape_markdown(raw)
    # what a CommonMark renderer shows: the text itself, whitespace collapsed, control characters gone
    lines = raw.replace("\r", "\n")
    expected = " ".join("".join(ch for ch in lines if ch in "\n\t" or ch == "\u200d" or not _is_control(ch)).split())
    assert unescape(escaped) == expected
    # no markup character is left unescaped
    for i, ch in enumerate(escaped):
        if ch in "*_`~[]<{}":
            assert i > 0 and escaped[i - 1] == "\\", (raw, escaped)


def _is_control(ch: str) -> bool:
    import unicodedata

    return unicodedata.category(ch) in ("Cc", "Cf")


def test_clip_plain_and_user_text() -> None:
    assert clip("abcdef", 4) == "abc…"
    assert clip("  abc  ", 4) == "abc"
    assert plain("  Company\n name *x* ", 50) == "Company name *x*"
    assert user_text("x" * 300, 10) == "x" * 9 + "…"
    assert user_text("   ") == "—"
    assert user_text("", empty="Untitled link") == "Untitled link"


# --------------------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("minutes", "label", "value"),
    [
        (0, "none", "0"),
        (5, "5 min", "5m"),
        (60, "1 h", "1h"),
        (90, "1 h 30 min", "1h 30m"),
        (1440, "1 day", "1d"),
        (2880 + 75, "2 days 1 h 15 min", "2d 1h 15m"),
    ],
)
def test_minutes(minutes: int, label: str, value: str) -> None:
    assert minutes_label(minutes) == label
    assert minutes_value(minutes) == value
    assert parse_minutes(value) == minutes


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("45", 45),
        ("45m", 45),
        ("45 min", 45),
        ("1h", 60),
        ("1.5 h", 90),
        ("1,5h", 90),
        ("1h30", 90),
        ("1 hour and 30 minutes", 90),
        ("2 days", 2880),
        ("0", 0),
    ],
)
def test_parse_minutes(text: str, minutes: int) -> None:
    assert parse_minutes(text) == minutes


@pytest.mark.parametrize("text", ["", "soon", "-5", "1h x", "5 weeks", "0.5m", "1..5h"])
def test_parse_minutes_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_minutes(text)


def test_labels() -> None:
    assert durations_label((30,)) == "30 min"
    assert durations_label((15, 30, 45)) == "15, 30 or 45 min"
    assert durations_label((60, 120)) == "1 or 2 h"
    assert caps_label(None, None) == "no limit"
    assert caps_label(3, 10) == "at most 3 a day and 10 a week"
    assert statuses_label({BusyStatus.OOF, BusyStatus.BUSY}) == "Busy, Out of office"
    assert window_label(BookingWindow(rolling_days=1)) == "the next 1 day"
    fixed = BookingWindow.fixed(date(2027, 1, 4), date(2027, 3, 31))
    assert window_label(fixed) == "Mon 4 Jan 2027 \u2013 Wed 31 Mar 2027"
    assert location_label(Location()) == "Microsoft Teams meeting"
    assert location_label(Location(LocationKind.PHONE, "+1 555 0100")) == "Phone call: +1 555 0100"
    assert location_label(Location(LocationKind.CUSTOM, "Zoom")) == "Zoom"
    assert location_label(Location(LocationKind.IN_PERSON, "  ")) == "In person"


def test_times_and_zones() -> None:
    start = utc(2026, 12, 8, 14, 30)
    assert offset_label(start, "Asia/Kolkata") == "UTC+05:30"
    assert offset_label(start, "America/St_Johns") == "UTC-03:30"
    assert offset_label(start, "Europe/London") == "UTC"
    assert when_label(start, utc(2026, 12, 8, 15), "Asia/Kolkata") == "Tue 8 Dec 2026, 20:00\u201320:30"
    assert (
        when_label(utc(2026, 12, 8, 18), utc(2026, 12, 8, 18, 30), "Asia/Kolkata") == "Tue 8 Dec 2026, 23:30\u201300:00"
    )
    assert (
        when_label(utc(2026, 12, 8, 18), utc(2026, 12, 8, 19), "Asia/Kolkata")
        == "Tue 8 Dec 2026 23:30 \u2013 Wed 9 Dec 2026 00:30"
    )
    assert utc_iso(start) == "2026-12-08T14:30:00Z"


# --------------------------------------------------------------------------- weekly hours


def test_weekly_summary_groups_days() -> None:
    nine_five = (LocalRange(540, 1020),)
    weekly: list[DayRanges] = [nine_five] * 5 + [(LocalRange(600, 720),), ()]
    assert weekly_summary(weekly) == "Mon\u2013Fri 09:00\u201317:00; Sat 10:00\u201312:00"
    odd: list[DayRanges] = [nine_five, (), nine_five, (), nine_five, (), ()]
    assert weekly_summary(odd) == "Mon, Wed, Fri 09:00\u201317:00"
    assert weekly_summary([()] * 7) == "no working hours"
    assert ranges_label((LocalRange(780, 1020), LocalRange(540, 720))) == "09:00\u201312:00, 13:00\u201317:00"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Mon-Fri", "needs hours"),
        ("09:00-17:00", "start with weekdays"),
        ("Funday 09:00-10:00", "Funday"),
        ("Mon 09:00-10:00; mon 11:00-12:00", "more than once"),
        ("Mon 9", "time range"),
    ],
)
def test_parse_weekly_hours_rejects(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_weekly_hours(text)


def test_parse_day_ranges() -> None:
    assert parse_day_ranges(" Off ") == ()
    assert parse_day_ranges("9:00 \u2013 12:00; 13:00—17:30") == (LocalRange(540, 720), LocalRange(780, 1050))
    with pytest.raises(ValueError, match="25:00"):
        parse_day_ranges("25:00-26:00")


_range = (
    st.tuples(st.integers(0, 47), st.integers(1, 48))
    .filter(lambda t: t[0] < t[1])
    .map(lambda t: LocalRange(t[0] * 30, t[1] * 30))
)


@props(200)
@given(st.lists(st.lists(_range, max_size=3, unique=True).map(lambda rs: tuple(sorted(rs))), min_size=7, max_size=7))
def test_weekly_summary_parses_back(days: list[DayRanges]) -> None:
    assert list(parse_weekly_hours(weekly_summary(days))) == days
