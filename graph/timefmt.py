"""Graph's date-time shapes, both ways, at the adapter boundary.

* ``dateTimeTimeZone`` (``{"dateTime": "2019-03-15T12:00:00.0000000", "timeZone": "Pacific Standard Time"}``):
  Graph returns 7 fractional digits and no offset; the zone may be Windows or IANA. :func:`parse_dtz`
  turns it into an aware UTC datetime; :func:`to_dtz` writes a UTC instant as wall time in an IANA zone.
* Query parameters (``startDateTime``/``endDateTime``) are ISO 8601 with an explicit ``Z``
  (:func:`iso_z`); a value without an offset would be read as UTC by Graph anyway.
* Working-hours times (``"08:00:00.0000000"``) become minutes after midnight (:func:`minutes_of_day`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from scheduling.timezones import windows_to_iana, zone

_DT = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?\s*(Z|[+-]\d{2}:?\d{2})?$")


def iana_zone_name(name: str | None) -> str:
    """IANA name for a Graph zone (Windows or IANA); empty means UTC (Graph's own default)."""
    if not name or not name.strip():
        return "UTC"
    return windows_to_iana(name)


def parse_graph_datetime(text: str, zone_name: str | None = "UTC") -> datetime:
    """Parse Graph's ``dateTime`` (any number of fractional digits, optional offset) as UTC.

    Without an offset the value is wall time in ``zone_name`` (Windows or IANA)."""
    m = _DT.match(text.strip())
    if not m:
        raise ValueError(f"not a Graph date-time: {text!r}")
    year, month, day, hour, minute = (int(m.group(i)) for i in range(1, 6))
    second = int(m.group(6) or 0)
    frac = (m.group(7) or "0")[:6].ljust(6, "0")
    naive = datetime(year, month, day, hour, minute, second, int(frac))  # noqa: DTZ001 - zone applied below
    offset = m.group(8)
    if offset:
        if offset == "Z":
            return naive.replace(tzinfo=UTC)
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return (naive - sign * delta).replace(tzinfo=UTC)
    tz = zone(iana_zone_name(zone_name))
    return naive.replace(tzinfo=tz).astimezone(UTC)


def parse_dtz(value: Mapping[str, Any] | None) -> datetime:
    """A Graph ``dateTimeTimeZone`` object as an aware UTC datetime."""
    if not value or not value.get("dateTime"):
        raise ValueError(f"missing dateTimeTimeZone: {value!r}")
    return parse_graph_datetime(str(value["dateTime"]), value.get("timeZone"))


def wall_date(value: Mapping[str, Any]) -> date:
    """The calendar date written in a ``dateTimeTimeZone`` (used for all-day events, which are dates)."""
    m = _DT.match(str(value.get("dateTime", "")).strip())
    if not m:
        raise ValueError(f"missing dateTimeTimeZone: {value!r}")
    return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def to_dtz(instant: datetime, zone_name: str) -> dict[str, str]:
    """``{"dateTime": <wall time in zone>, "timeZone": zone_name}`` for an aware instant."""
    if instant.utcoffset() is None:
        raise ValueError("Graph times must be timezone-aware")
    local = instant.astimezone(zone(iana_zone_name(zone_name)))
    return {"dateTime": local.replace(tzinfo=None).isoformat(timespec="seconds"), "timeZone": zone_name}


def iso_z(instant: datetime) -> str:
    """``2026-01-05T09:00:00Z`` for an aware instant (query parameters)."""
    if instant.utcoffset() is None:
        raise ValueError("Graph times must be timezone-aware")
    utc = instant.astimezone(UTC)
    spec = "seconds" if not utc.microsecond else "microseconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def minutes_of_day(text: str) -> int:
    """``"08:30:00.0000000"`` -> 510; ``"00:00:00"`` as an end time is left as 0 (the caller decides)."""
    parts = text.strip().split(":")
    if len(parts) < 2:
        raise ValueError(f"not a time of day: {text!r}")
    hours, minutes = int(parts[0]), int(parts[1])
    if not (0 <= hours <= 24 and 0 <= minutes < 60):
        raise ValueError(f"not a time of day: {text!r}")
    return hours * 60 + minutes
