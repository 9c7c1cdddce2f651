"""Time-zone names: IANA lookup, and Windows names (as Outlook reports them) mapped to IANA.

The Windows mapping is CLDR's ``windowsZones.xml`` as shipped by tzlocal (``tzlocal.windows_tz``), not
a hand-written table. An unknown name is an explicit :class:`UnknownTimeZone`, never a silent UTC.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import tz_win, win_tz

from scheduling.errors import UnknownTimeZone

_WIN_LOWER = {name.lower(): iana for name, iana in win_tz.items()}


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name; raises UnknownTimeZone (never falls back to UTC)."""
    if not name or name != name.strip() or ".." in name or name.startswith("/"):
        raise UnknownTimeZone(name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise UnknownTimeZone(name) from exc


def is_valid_zone(name: str) -> bool:
    try:
        zone(name)
    except UnknownTimeZone:
        return False
    return True


def windows_to_iana(name: str) -> str:
    """Map a Windows zone name ("Pacific Standard Time") to IANA ("America/Los_Angeles").

    IANA names pass through unchanged (Graph accepts and returns both); "UTC" maps to "UTC".
    """
    key = name.strip()
    if key.upper() in ("UTC", "ETC/UTC", "GMT"):  # before CLDR, which maps Windows "UTC" to "Etc/UTC"
        return "UTC"
    found = win_tz.get(key) or _WIN_LOWER.get(key.lower())
    if found:
        return found
    if "/" in key and is_valid_zone(key):
        return key
    raise UnknownTimeZone(name)


def iana_to_windows(name: str) -> str:
    """Best Windows name for an IANA zone (used when Graph wants a Windows name); raises if none."""
    found = tz_win.get(name) if name else None  # tzlocal's table has an entry for ""
    if found:
        return found
    if name in ("UTC", "Etc/UTC"):
        return "UTC"
    raise UnknownTimeZone(name)
