"""Time-zone names: IANA lookup and the Windows -> IANA mapping (CLDR via tzlocal)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from scheduling.errors import InvalidRule, UnknownTimeZone
from scheduling.timezones import iana_to_windows, is_valid_zone, windows_to_iana, zone


@pytest.mark.parametrize(
    ("windows", "iana"),
    [
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("Eastern Standard Time", "America/New_York"),
        ("GMT Standard Time", "Europe/London"),
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("Romance Standard Time", "Europe/Paris"),
        ("AUS Eastern Standard Time", "Australia/Sydney"),
        ("Tokyo Standard Time", "Asia/Tokyo"),
        ("New Zealand Standard Time", "Pacific/Auckland"),
        ("UTC-08", "Etc/GMT+8"),
    ],
)
def test_windows_names_map_to_iana(windows: str, iana: str) -> None:
    assert windows_to_iana(windows) == iana
    assert is_valid_zone(windows_to_iana(windows))


def test_india_maps_to_a_zone_for_kolkata() -> None:
    # CLDR still spells it Asia/Calcutta; it must be a zone that behaves like Asia/Kolkata.
    name = windows_to_iana("India Standard Time")
    assert name in ("Asia/Calcutta", "Asia/Kolkata")
    assert (
        datetime(2027, 1, 4, tzinfo=zone(name)).utcoffset()
        == datetime(2027, 1, 4, tzinfo=ZoneInfo("Asia/Kolkata")).utcoffset()
    )


@pytest.mark.parametrize(
    "spelling", ["pacific standard time", "PACIFIC STANDARD TIME", "Pacific standard Time", "  Pacific Standard Time  "]
)
def test_windows_names_are_case_insensitive_and_trimmed(spelling: str) -> None:
    assert windows_to_iana(spelling) == "America/Los_Angeles"


@pytest.mark.parametrize(
    "iana",
    [
        "Europe/London",
        "America/New_York",
        "Asia/Kolkata",
        "Australia/Sydney",
        "America/Argentina/Buenos_Aires",
        "Etc/GMT+8",
    ],
)
def test_iana_names_pass_through_unchanged(iana: str) -> None:
    assert windows_to_iana(iana) == iana


@pytest.mark.parametrize("name", ["UTC", "utc", "Etc/UTC", "GMT"])
def test_utc_maps_to_utc(name: str) -> None:
    assert windows_to_iana(name) == "UTC"


@pytest.mark.parametrize(
    "name", ["Mars Standard Time", "Pacific Standard", "", "   ", "Not/AZone", "Europe/Londn", "europe/london"]
)
def test_unknown_names_are_an_explicit_error_never_utc(name: str) -> None:
    with pytest.raises(UnknownTimeZone) as info:
        windows_to_iana(name)
    assert info.value.name == name
    assert info.value.field == "time_zone"
    assert isinstance(info.value, InvalidRule)
    assert "not a time zone we know" in info.value.message and "IANA" in info.value.message


@pytest.mark.parametrize(
    ("iana", "windows"),
    [
        ("America/Los_Angeles", "Pacific Standard Time"),
        ("America/New_York", "Eastern Standard Time"),
        ("Europe/London", "GMT Standard Time"),
        ("Asia/Kolkata", "India Standard Time"),
        ("Australia/Sydney", "AUS Eastern Standard Time"),
        ("UTC", "UTC"),
        ("Etc/UTC", "UTC"),
    ],
)
def test_iana_to_windows(iana: str, windows: str) -> None:
    assert iana_to_windows(iana) == windows


@pytest.mark.parametrize("name", ["Pacific Standard Time", "Europe/London", "Tokyo Standard Time"])
def test_round_trip_is_stable(name: str) -> None:
    iana = windows_to_iana(name)
    assert windows_to_iana(iana_to_windows(iana)) == iana


@pytest.mark.parametrize("name", ["Mars/Base", "", "not a zone"])
def test_iana_to_windows_unknown_raises(name: str) -> None:
    with pytest.raises(UnknownTimeZone):
        iana_to_windows(name)


class TestZone:
    @pytest.mark.parametrize("name", ["UTC", "Europe/London", "Asia/Kolkata", "Pacific/Chatham"])
    def test_known_zones(self, name: str) -> None:
        assert zone(name) == ZoneInfo(name)
        assert zone(name) is zone(name)  # cached
        assert is_valid_zone(name)

    @pytest.mark.parametrize(
        "name",
        [
            "",
            " ",
            "Europe/London ",
            " Europe/London",
            "Mars/Olympus_Mons",
            "Pacific Standard Time",
            "../../etc/passwd",
            "Europe/../Europe/London",
            "/etc/localtime",
            "/usr/share/zoneinfo/UTC",
            "America",
            "europe/london",
            "zone.tab",
        ],
    )
    def test_unknown_zones_raise_never_fall_back(self, name: str) -> None:
        with pytest.raises(UnknownTimeZone) as info:
            zone(name)
        assert info.value.name == name
        assert not is_valid_zone(name)
