"""Pure pieces of the Graph adapter: error mapping, Retry-After, time formats, zones, parsing."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime

import pytest

from graph.customzone import match_custom_zone
from graph.errors import (
    AccessDenied,
    CalendarAuthError,
    ClaimsChallenge,
    ConsentRequired,
    DeltaTokenExpired,
    GraphBadRequest,
    GraphNotFound,
    GraphThrottled,
    GraphTransient,
    InteractionRequired,
    MailboxNotEnabled,
    TimeZoneNotSupported,
    graph_error,
    msal_error,
)
from graph.models import (
    BOOKING_EXPAND,
    BOOKING_ID_PROPERTY,
    LEGACY_BOOKING_ID_PROPERTY,
    SLOTWISE_PROPERTY_SET,
    GraphEvent,
    MailboxSettings,
    booking_id_of,
)
from graph.retry import RetryPolicy, parse_retry_after
from graph.timefmt import iso_z, minutes_of_day, parse_dtz, parse_graph_datetime, to_dtz
from scheduling.errors import IntegrationError
from scheduling.rules import BusyStatus


def err(code: str, message: str = "m") -> dict[str, object]:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"request-id": "req-1", "client-request-id": "crid-1"},
        }
    }


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, "InvalidAuthenticationToken", CalendarAuthError),
        (403, "ErrorAccessDenied", AccessDenied),
        (404, "ErrorItemNotFound", GraphNotFound),
        (404, "MailboxNotEnabledForRESTAPI", MailboxNotEnabled),
        (400, "TimeZoneNotSupportedException", TimeZoneNotSupported),
        (400, "ErrorInvalidIdMalformed", GraphBadRequest),
        (410, "", DeltaTokenExpired),
        (400, "syncStateNotFound", DeltaTokenExpired),
        (429, "TooManyRequests", GraphThrottled),
        (503, "serviceNotAvailable", GraphTransient),
        (504, "", GraphTransient),
    ],
)
def test_graph_errors_map_to_one_class_each(status: int, code: str, cls: type) -> None:
    exc = graph_error(status, err(code))
    assert type(exc) is cls
    assert isinstance(exc, IntegrationError)
    assert exc.status == status and exc.graph_code == code
    assert exc.request_id == "req-1" and exc.client_request_id == "crid-1"
    assert exc.message.endswith((".", ")"))


def test_auth_error_asks_for_a_reconnect_and_headers_win_for_ids(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="slotwise.graph")
    exc = graph_error(401, err("InvalidAuthenticationToken"), {"request-id": "hdr-req"}, client_request_id="c")
    assert isinstance(exc, CalendarAuthError) and exc.reconnect_required
    assert exc.request_id == "hdr-req"
    assert "reconnect" in str(exc)
    assert "hdr-req" in caplog.text and "crid-1" in caplog.text


def test_cae_claims_challenge_on_401_is_decoded() -> None:
    header = (
        'Bearer realm="", error="insufficient_claims", '
        'claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZX19fQ=="'
    )
    exc = graph_error(401, err("InvalidAuthenticationToken"), {"WWW-Authenticate": header})
    assert isinstance(exc, ClaimsChallenge)
    assert exc.claims == '{"access_token":{"nbf":{"essential":true}}}'


def test_outlook_errors_without_inner_error_and_text_bodies() -> None:
    exc = graph_error(
        429,
        {"error": {"code": "ApplicationThrottled", "message": "Application is over its MailboxConcurrency limit."}},
        retry_after=1.5,
    )
    assert isinstance(exc, GraphThrottled) and exc.retry_after == 1.5 and exc.request_id is None
    assert isinstance(graph_error(502, "<html>bad gateway</html>"), GraphTransient)
    assert isinstance(graph_error(400, None), GraphBadRequest)


CONSENT = {
    "error": "invalid_grant",
    "error_codes": [65001],
    "suberror": "consent_required",
    "error_description": "AADSTS65001: The user or administrator has not consented.\r\nTrace ID: t",
    "trace_id": "t",
    "correlation_id": "c",
}


@pytest.mark.parametrize(
    ("result", "cls"),
    [
        (CONSENT, ConsentRequired),
        (
            {
                "error": "invalid_grant",
                "error_description": "AADSTS50076: you must use multi-factor authentication",
                "suberror": "basic_action",
                "claims": '{"access_token":{"capolids":{"essential":true}}}',
            },
            ClaimsChallenge,
        ),
        (
            {"error": "invalid_grant", "error_codes": [70008], "error_description": "AADSTS70008: expired"},
            CalendarAuthError,
        ),
        (
            {"error": "invalid_grant", "error_codes": [700082], "error_description": "AADSTS700082: inactive"},
            CalendarAuthError,
        ),
        ({"error": "interaction_required", "error_description": "AADSTS50058: sign in"}, InteractionRequired),
        (
            {
                "error": "interaction_required",
                "error_codes": [50079],
                "suberror": "additional_action",
                "error_description": "AADSTS50079: you must enroll in multi-factor authentication",
            },
            InteractionRequired,
        ),
    ],
)
def test_msal_errors_are_classified(result: dict[str, object], cls: type) -> None:
    exc = msal_error(result, admin_consent_url="https://login.example/t/v2.0/adminconsent?client_id=x")
    assert type(exc) is cls
    if isinstance(exc, ConsentRequired):
        assert exc.admin_consent_url and not exc.reconnect_required
        assert "admin" in str(exc)
    elif isinstance(exc, ClaimsChallenge):
        assert "capolids" in exc.claims
    else:
        assert isinstance(exc, CalendarAuthError) and exc.reconnect_required


def test_retry_after_parsing() -> None:
    assert parse_retry_after("2.128") == pytest.approx(2.128)
    assert parse_retry_after(" 3 ") == 3.0
    assert parse_retry_after("-1") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("Tue, 01 Jan 2030 12:00:05 GMT", now=now) == pytest.approx(5.0)


def test_retry_policy_is_bounded_in_attempts_and_total_wait() -> None:
    policy = RetryPolicy(max_retries=3, backoff_base=1.0, backoff_cap=4.0, max_total_wait=10.0, max_retry_after=5.0)
    rng = random.Random(1)
    assert policy.delay(0, 0.25, 0.0) == 0.25
    assert policy.delay(3, 0.25, 0.0) is None
    assert policy.delay(0, 6.0, 0.0) is None  # Retry-After beyond what we are willing to wait
    assert policy.delay(1, 2.0, 9.0) is None  # total budget spent
    for attempt in range(3):
        wait = policy.delay(attempt, None, 0.0, rng)
        assert wait is not None and 0.25 <= wait <= min(4.0, 2**attempt)


def test_time_formats() -> None:
    assert parse_graph_datetime("2019-03-15T12:00:00.0000000", "Pacific Standard Time") == datetime(
        2019, 3, 15, 19, 0, tzinfo=UTC
    )
    assert parse_dtz({"dateTime": "2030-01-01T09:00:00.1234567", "timeZone": "UTC"}) == datetime(
        2030, 1, 1, 9, 0, 0, 123456, tzinfo=UTC
    )
    assert parse_graph_datetime("2030-01-01T09:00:00+02:00") == datetime(2030, 1, 1, 7, tzinfo=UTC)
    assert to_dtz(datetime(2030, 7, 1, 16, tzinfo=UTC), "Europe/London") == {
        "dateTime": "2030-07-01T17:00:00",
        "timeZone": "Europe/London",
    }
    assert iso_z(datetime(2030, 7, 1, 16, tzinfo=UTC)) == "2030-07-01T16:00:00Z"
    assert minutes_of_day("08:30:00.0000000") == 510
    with pytest.raises(ValueError, match="aware"):
        to_dtz(datetime(2030, 1, 1), "UTC")


PST_RULE = {
    "@odata.type": "#microsoft.graph.customTimeZone",
    "bias": 480,
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
EU_RULE = {
    "bias": -60,
    "standardOffset": {"time": "03:00:00", "dayOccurrence": 5, "dayOfWeek": "sunday", "month": 10},
    "daylightOffset": {"time": "02:00:00", "dayOccurrence": 5, "dayOfWeek": "sunday", "month": 3, "daylightBias": -60},
}


def test_custom_zones_are_matched_by_their_rules() -> None:
    assert match_custom_zone(PST_RULE, 2030) == "America/Los_Angeles"
    assert match_custom_zone(PST_RULE, 2030, prefer=["America/Vancouver"]) == "America/Vancouver"
    # the mailbox zone is preferred only when it really behaves like the rule
    assert match_custom_zone(PST_RULE, 2030, prefer=["America/Denver"]) == "America/Los_Angeles"
    eu = match_custom_zone(EU_RULE, 2030, prefer=["Europe/Paris"])
    assert eu == "Europe/Paris"
    assert match_custom_zone({"bias": 300}, 2030) == "Etc/GMT+5"
    assert match_custom_zone({"bias": -330}, 2030) in ("Asia/Calcutta", "Asia/Kolkata")
    odd = {
        "bias": 7,
        "daylightOffset": {"month": 4, "dayOccurrence": 1, "dayOfWeek": "monday", "daylightBias": -13},
        "standardOffset": {"month": 9},
    }
    assert match_custom_zone(odd, 2030) is None


def test_mailbox_settings_map_windows_names_custom_zones_and_empty_zones() -> None:
    s = MailboxSettings.from_json(
        {
            "timeZone": "W. Europe Standard Time",
            "workingHours": {
                "daysOfWeek": ["monday", "Tuesday", "friday"],
                "startTime": "08:00:00.0000000",
                "endTime": "17:30:00.0000000",
                "timeZone": {"name": "Pacific Standard Time"},
            },
        },
        reference_year=2030,
    )
    assert s.time_zone == "Europe/Berlin" and s.time_zone_known
    assert s.working_hours is not None
    assert s.working_hours.days == (0, 1, 4)
    assert (s.working_hours.start_minute, s.working_hours.end_minute) == (480, 1050)
    assert s.working_hours.time_zone == "America/Los_Angeles"

    custom = MailboxSettings.from_json(
        {
            "timeZone": "Pacific Standard Time",
            "workingHours": {
                "daysOfWeek": ["monday"],
                "startTime": "09:00:00",
                "endTime": "17:00:00",
                "timeZone": PST_RULE,
            },
        },
        reference_year=2030,
    )
    assert custom.working_hours is not None and custom.working_hours.time_zone == "America/Los_Angeles"

    empty = MailboxSettings.from_json(
        {
            "timeZone": "",
            "workingHours": {
                "daysOfWeek": ["monday"],
                "startTime": "09:00:00",
                "endTime": "17:00:00",
                "timeZone": {"name": "India Standard Time"},
            },
        },
        reference_year=2030,
    )
    assert not empty.time_zone_known and empty.time_zone in ("Asia/Calcutta", "Asia/Kolkata")
    assert MailboxSettings.from_json({}, reference_year=2030).time_zone == "UTC"


def test_event_parsing_reads_the_booking_tag_and_all_day_dates() -> None:
    data = {
        "id": "e1",
        "subject": "Off",
        "isAllDay": True,
        "showAs": "Oof",
        "start": {"dateTime": "2030-05-01T00:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2030-05-02T00:00:00.0000000", "timeZone": "UTC"},
        "singleValueExtendedProperties": [{"id": BOOKING_ID_PROPERTY.upper(), "value": "bk-9"}],
        "onlineMeeting": None,
    }
    ev = GraphEvent.from_json(data)
    assert ev.all_day_dates == (date(2030, 5, 1), date(2030, 5, 2))
    assert ev.show_as is BusyStatus.OOF and ev.booking_id == "bk-9" and ev.join_url is None
    assert booking_id_of({"singleValueExtendedProperties": [{"id": "String {x} Name Other", "value": "v"}]}) is None


def test_the_booking_tag_is_our_own_and_the_legacy_tag_is_still_read() -> None:
    assert "66f5a359-4659-4830-9070-00047ec6ac6e" not in BOOKING_ID_PROPERTY  # Microsoft's docs sample
    assert str(uuid.UUID(SLOTWISE_PROPERTY_SET)) == SLOTWISE_PROPERTY_SET
    assert uuid.UUID(SLOTWISE_PROPERTY_SET).version == 4
    legacy = "String {66f5a359-4659-4830-9070-00047EC6AC6E}  Name SlotwiseBookingId"  # as Graph may echo it
    assert booking_id_of({"singleValueExtendedProperties": [{"id": legacy, "value": "bk-old"}]}) == "bk-old"
    assert (
        booking_id_of({"singleValueExtendedProperties": [{"id": BOOKING_ID_PROPERTY, "value": "bk-new"}]}) == "bk-new"
    )
    both = [{"id": LEGACY_BOOKING_ID_PROPERTY, "value": "bk-old"}, {"id": BOOKING_ID_PROPERTY, "value": "bk-new"}]
    assert booking_id_of({"singleValueExtendedProperties": both}) == "bk-new"
    other_name = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name Color"  # another app, same sample GUID
    assert booking_id_of({"singleValueExtendedProperties": [{"id": other_name, "value": "green"}]}) is None
    expected = (
        f"singleValueExtendedProperties($filter=id eq '{BOOKING_ID_PROPERTY}' or id eq '{LEGACY_BOOKING_ID_PROPERTY}')"
    )
    assert expected == BOOKING_EXPAND
