"""Zone names as Exchange understands them: Windows names ("Pacific Standard Time") or IANA names.

The emulator stands alone, like Graph: it resolves zones itself (CLDR's Windows table as shipped by
tzlocal, and the IANA database through zoneinfo) instead of borrowing the product's own lookup, so a
bug in Slotwise's zone handling cannot be hidden by the emulator sharing it.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

_WINDOWS = {name.lower(): iana for name, iana in win_tz.items()}
_UTC_NAMES = {"utc", "etc/utc", "gmt", "tzone://microsoft/utc", "coordinated universal time"}


@lru_cache(maxsize=512)
def lookup(name: str) -> ZoneInfo | None:
    """The zone a Windows or IANA name denotes, or None when Exchange would not know it."""
    key = name.strip()
    if not key:
        return None
    if key.lower() in _UTC_NAMES:
        return ZoneInfo("UTC")
    iana = _WINDOWS.get(key.lower())
    if iana is None:
        if "/" not in key or ".." in key or key.startswith("/"):
            return None
        iana = key
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
