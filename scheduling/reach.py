"""How far in time a request may reach: the one bound on every date and instant Slotwise accepts.

Python's calendar ends at year 1 and year 9999, and the slot and booking arithmetic (local midnights,
buffers, the days around a query, a meeting's end) steps past whatever it is given, so a date at either
edge overflows deep in the core. Nothing Slotwise does needs such dates: a booking window reaches at most
:data:`~scheduling.rules.MAX_WINDOW_DAYS` ahead, a page shows this week or a later one. So:

* every adapter checks each date or instant a request names against :func:`reach` (from
  :data:`REACH_BEHIND` before now to :data:`REACH_AHEAD` after it) and refuses anything outside it with
  the parameter's name (:func:`check_instant`, :func:`check_date`; the problems alone, for adapters that
  report every field at once: :func:`instant_problem`, :func:`date_problem`);
* the core clamps every query window into it (:func:`bounded_window`), so even an adapter that forgot
  the check can't reach the overflow;
* dates a host stores in a rule (a fixed booking window) lie in :data:`FIRST_DATE` .. :data:`LAST_DATE`
  (:func:`calendar_date_problem`), far enough from both edges that no arithmetic on them overflows.

Pure: ``now`` (or the caller's local ``today``) is always an argument.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from scheduling.errors import InvalidQuery
from scheduling.intervals import Interval

#: How far back a request may look (a page for last week, a card that sat in a chat for months).
REACH_BEHIND = timedelta(days=366)
#: How far ahead a request may look: beyond any booking window a host can set (a year), with room to spare.
REACH_AHEAD = timedelta(days=5 * 366)
#: The dates a stored rule may name (a fixed booking window's first and last day).
FIRST_DATE = date(2000, 1, 1)
LAST_DATE = date(2099, 12, 31)

REACH_RULE = "Slotwise looks at most a year back and five years ahead."


def reach(now: datetime) -> Interval:
    """The instants a request may name at ``now``: ``[now - REACH_BEHIND, now + REACH_AHEAD]``."""
    return Interval(now - REACH_BEHIND, now + REACH_AHEAD)


def date_reach(today: date) -> tuple[date, date]:
    """The first and last date (in the caller's zone, ``today`` being its date now) a request may name."""
    return today - REACH_BEHIND, today + REACH_AHEAD


def instant_problem(value: datetime, now: datetime, what: str = "That time") -> str | None:
    """Why ``value`` (an aware instant) is out of reach at ``now``, or None."""
    bounds = reach(now)
    if bounds.start <= value <= bounds.end:
        return None
    side = "long ago" if value < bounds.start else "far ahead"
    return (
        f"{what} is too {side}: give a time between {bounds.start.date().isoformat()} and "
        f"{bounds.end.date().isoformat()} (UTC). {REACH_RULE}"
    )


def date_problem(day: date, today: date, what: str = "That date") -> str | None:
    """Why ``day`` is out of reach when it is ``today`` (both in the caller's zone), or None."""
    first, last = date_reach(today)
    if first <= day <= last:
        return None
    side = "long ago" if day < first else "far ahead"
    return f"{what} is too {side}: give a date between {first.isoformat()} and {last.isoformat()}. {REACH_RULE}"


def check_instant(value: datetime, now: datetime, parameter: str) -> datetime:
    """``value`` when it is within reach; InvalidQuery naming ``parameter`` otherwise."""
    problem = instant_problem(value, now, f"'{parameter}'")
    if problem is not None:
        raise InvalidQuery(parameter, problem)
    return value


def check_date(day: date, today: date, parameter: str) -> date:
    """``day`` when it is within reach of ``today``; InvalidQuery naming ``parameter`` otherwise."""
    problem = date_problem(day, today, f"'{parameter}'")
    if problem is not None:
        raise InvalidQuery(parameter, problem)
    return day


def bounded_window(window: Interval, now: datetime) -> Interval:
    """``window`` clamped into :func:`reach` at ``now`` (empty, at the nearer end, when it lies outside).

    What the core asks of the calendar, the store and the slot engine is never wider than this, so no
    step of that arithmetic (a day's midnight, a buffer, the days around a query) can leave the calendar."""
    bounds = reach(now)
    start = min(max(window.start, bounds.start), bounds.end)
    end = max(min(window.end, bounds.end), start)
    return Interval(start, end)


def calendar_date_problem(day: date) -> str | None:
    """Why ``day`` can't be stored in a rule (it lies outside FIRST_DATE .. LAST_DATE), or None."""
    if FIRST_DATE <= day <= LAST_DATE:
        return None
    return f"Use a date between {FIRST_DATE.isoformat()} and {LAST_DATE.isoformat()}."
