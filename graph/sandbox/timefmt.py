"""Graph's date-time wire formats, read and written the way Graph does.

* ``dateTimeTimeZone`` out: ``{"dateTime": "2026-12-01T14:00:00.0000000", "timeZone": "<as asked>"}``:
  seven fractional digits, no offset, the zone name echoed exactly as the client spelled it (Windows or
  IANA). In: any number of fractional digits; an explicit offset, if present, wins over ``timeZone``.
* Zone names are resolved with :mod:`graph.sandbox.zones` (CLDR's Windows table as shipped by tzlocal);
  an unknown or empty name is a 400 ``TimeZoneNotSupportedException``.
* Query instants (``startDateTime=2019-11-08T19:00:00-08:00``): the offset is honoured, none means UTC.
* Timestamps (``createdDateTime``): UTC with seven fractional digits and ``Z``.
* ``Prefer`` headers: ``outlook.timezone="..."``, ``odata.maxpagesize=N``, ``outlook.body-content-type``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from graph.sandbox.errors import GraphError, invalid_parameter, time_zone_not_supported
from graph.sandbox.zones import lookup

_DT = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)


def resolve_zone(name: object) -> ZoneInfo:
    """The zone for a Graph ``timeZone`` value (Windows or IANA); 400 TimeZoneNotSupportedException."""
    if not isinstance(name, str) or not name.strip():
        raise time_zone_not_supported("" if name is None else str(name))
    found = lookup(name)
    if found is None:
        raise time_zone_not_supported(name)
    return found


def parse_wall(text: object) -> tuple[datetime, timedelta | None]:
    """Parse a Graph ``dateTime``: naive wall time plus the explicit UTC offset if one was written."""
    if not isinstance(text, str):
        raise GraphError(400, "ErrorInvalidRequest", f"Cannot convert the literal '{text}' to DateTime.")
    m = _DT.match(text.strip())
    if not m:
        raise GraphError(400, "ErrorInvalidRequest", f"Cannot convert the literal '{text}' to DateTime.")
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    hour, minute, second = int(m.group(4) or 0), int(m.group(5) or 0), int(m.group(6) or 0)
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    try:
        naive = datetime(year, month, day, hour, minute, second, micro)  # noqa: DTZ001 - zone applied by caller
    except ValueError as exc:
        raise GraphError(400, "ErrorInvalidRequest", f"Cannot convert the literal '{text}' to DateTime.") from exc
    offset_text = m.group(8)
    if not offset_text:
        return naive, None
    if offset_text in ("Z", "z"):
        return naive, timedelta(0)
    sign = 1 if offset_text[0] == "+" else -1
    digits = offset_text[1:].replace(":", "")
    return naive, sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))


def localize(naive: datetime, tz: ZoneInfo) -> datetime:
    """Wall time in ``tz`` to an aware UTC instant.

    A wall time in a DST gap takes the offset from before the gap, so it lands after the gap (02:30 on
    a spring-forward day becomes 03:30), as Outlook does; a repeated wall time takes the first one.
    """
    return naive.replace(tzinfo=tz).astimezone(UTC)


def parse_dttz(value: object, *, field: str) -> tuple[datetime, str, datetime]:
    """A request ``dateTimeTimeZone`` -> (aware UTC instant, zone name as given, naive wall time)."""
    if not isinstance(value, dict) or "dateTime" not in value:
        raise GraphError(
            400,
            "ErrorInvalidRequest",
            f"The '{field}' property must be a dateTimeTimeZone with 'dateTime' and 'timeZone'.",
        )
    zone_name = value.get("timeZone")
    if zone_name is None:
        zone_name = "UTC"
    tz = resolve_zone(zone_name)
    naive, offset = parse_wall(value.get("dateTime"))
    if offset is not None:
        instant = (naive - offset).replace(tzinfo=UTC)
        return instant, str(zone_name), instant.astimezone(tz).replace(tzinfo=None)
    return localize(naive, tz), str(zone_name), naive


def parse_query_instant(name: str, text: str | None) -> datetime:
    """``startDateTime``/``endDateTime`` query values: offset honoured, no offset read as UTC."""
    if text is None or not text.strip():
        raise invalid_parameter(
            "This request requires a time window specified by the query string "
            "parameters StartDateTime and EndDateTime."
        )
    try:
        naive, offset = parse_wall(text)
    except GraphError as exc:
        raise invalid_parameter(f"The value '{text}' of parameter '{name}' is invalid.") from exc
    return (naive - (offset or timedelta(0))).replace(tzinfo=UTC)


def fmt_wall(naive: datetime) -> str:
    """``2026-12-01T14:00:00.0000000``."""
    return f"{naive:%Y-%m-%dT%H:%M:%S}.{naive.microsecond:06d}0"


def to_dttz(instant: datetime, zone_name: str) -> dict[str, str]:
    """An aware instant as Graph writes it in ``zone_name`` (the name is echoed verbatim)."""
    local = instant.astimezone(resolve_zone(zone_name)).replace(tzinfo=None)
    return {"dateTime": fmt_wall(local), "timeZone": zone_name}


def floating_dttz(day: date, zone_name: str) -> dict[str, str]:
    """All-day events are floating: midnight of the date, in whatever zone the response uses."""
    return {"dateTime": fmt_wall(datetime.combine(day, time())), "timeZone": zone_name}


def fmt_stamp(instant: datetime) -> str:
    """``2026-01-05T11:00:00.1234567Z`` (createdDateTime, lastModifiedDateTime, originalStart)."""
    return fmt_wall(instant.astimezone(UTC).replace(tzinfo=None)) + "Z"


def fmt_sub_stamp(instant: datetime) -> str:
    """Subscription timestamps: ``2016-03-19T22:11:09.952Z`` style (milliseconds)."""
    utc = instant.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def fmt_error_date(instant: datetime) -> str:
    """``innerError.date``: ``2025-02-13T10:17:05``."""
    return f"{instant.astimezone(UTC):%Y-%m-%dT%H:%M:%S}"


def fmt_time_of_day(text: str) -> str:
    """``"08:00"`` / ``"08:00:00"`` -> ``"08:00:00.0000000"``."""
    parts = [int(p) for p in text.split(".")[0].split(":")]
    while len(parts) < 3:
        parts.append(0)
    return f"{parts[0]:02d}:{parts[1]:02d}:{parts[2]:02d}.0000000"


_PREF = re.compile(r'\s*([A-Za-z0-9_.\-]+)\s*(?:=\s*("([^"]*)"|[^,;]*))?')


def parse_prefer(values: Iterable[str]) -> dict[str, str]:
    """All ``Prefer`` header values as ``{name_lower: value}`` (several headers or comma lists)."""
    prefs: dict[str, str] = {}
    for header in values:
        for item in _split_prefer(header):
            m = _PREF.match(item)
            if not m or not m.group(1):
                continue
            value = m.group(3) if m.group(3) is not None else (m.group(2) or "").strip()
            prefs[m.group(1).lower()] = value
    return prefs


def _split_prefer(header: str) -> list[str]:
    items: list[str] = []
    buf: list[str] = []
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            items.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    items.append("".join(buf))
    return [i for i in items if i.strip()]
