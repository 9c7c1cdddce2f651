"""Graph emulator: authentication, error and header conventions, routing, users, mailboxSettings and
calendars, mounting under a prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from graph.sandbox.errors import WWW_AUTHENTICATE
from tests.graph.emulator_fixtures import (
    ADELE,
    MEGAN,
    PRIYA,
    Emu,
    assert_contract,
    assert_graph_error,
    running,
)


@pytest.fixture
async def emu() -> AsyncIterator[Emu]:
    async with running() as e:
        yield e


async def test_missing_token_is_401_access_token_is_empty(emu: Emu) -> None:
    r = await emu.get(None, "/me")
    assert_graph_error(r, 401, "InvalidAuthenticationToken", "Access token is empty.")
    assert r.headers["WWW-Authenticate"] == WWW_AUTHENTICATE
    assert emu.state.request_log[-1].user_id is None and emu.state.request_log[-1].status == 401


async def test_expired_and_unknown_tokens_are_401_expired(emu: Emu) -> None:
    token = emu.state.issue_token(ADELE, expires_in=60)
    ok = await emu.http.get(f"{emu.graph}/me", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    emu.clock.advance(seconds=61)
    late = await emu.http.get(f"{emu.graph}/me", headers={"Authorization": f"Bearer {token}"})
    assert_graph_error(late, 401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
    assert late.headers["WWW-Authenticate"].startswith('Bearer realm=""')

    forged = token.rsplit(".", 1)[0] + ".forged"
    r = await emu.http.get(f"{emu.graph}/me", headers={"Authorization": f"Bearer {forged}"})
    assert_graph_error(r, 401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
    garbage = await emu.http.get(f"{emu.graph}/me", headers={"Authorization": "Bearer not-a-token"})
    assert_graph_error(
        garbage, 401, "InvalidAuthenticationToken", "CompactToken parsing failed with error code: 80049217"
    )


async def test_expire_tokens_only_affects_that_user(emu: Emu) -> None:
    adele, megan = emu.token(ADELE), emu.token(MEGAN)
    emu.state.expire_tokens(ADELE)
    assert (await emu.http.get(f"{emu.graph}/me", headers={"Authorization": f"Bearer {adele}"})).status_code == 401
    assert (await emu.http.get(f"{emu.graph}/me", headers={"Authorization": f"Bearer {megan}"})).status_code == 200
    assert (await emu.get(ADELE, "/me")).status_code == 401
    emu.tokens.clear()
    assert (await emu.get(ADELE, "/me")).status_code == 200


async def test_every_response_has_request_ids_and_echoes_client_request_id(emu: Emu) -> None:
    r = await emu.get(ADELE, "/me", headers={"client-request-id": "my-correlation-id"})
    assert r.headers["client-request-id"] == "my-correlation-id"
    assert len(r.headers["request-id"]) == 36
    err = await emu.get(ADELE, "/me/events/AAMk", headers={"client-request-id": "abc"})
    body = assert_graph_error(err, 400, "ErrorInvalidIdMalformed", "Id is malformed.")
    assert body["error"]["innerError"]["client-request-id"] == "abc"
    assert len(body["error"]["innerError"]["date"]) == len("2025-02-13T10:17:05")


async def test_unknown_segment_and_wrong_method(emu: Emu) -> None:
    assert_graph_error(
        await emu.get(ADELE, "/me/calendarz"), 400, "BadRequest", "Resource not found for the segment 'calendarz'."
    )
    assert_graph_error(await emu.get(ADELE, "/nothing"), 400, "BadRequest")
    r = await emu.call("PUT", ADELE, "/me/events")
    assert r.status_code == 405


async def test_me_and_users_by_id_or_upn(emu: Emu) -> None:
    me = (await emu.get(ADELE, "/me")).json()
    assert me["userPrincipalName"] == ADELE and me["mail"] == ADELE and me["displayName"] == "Adele Vance"
    assert me["@odata.context"].endswith("/v1.0/$metadata#users/$entity")
    assert_contract("microsoft.graph.user", me)
    by_id = (await emu.get(MEGAN, f"/users/{me['id']}")).json()
    by_upn = (await emu.get(MEGAN, "/users/ADELE@contoso.example")).json()
    assert by_id["id"] == by_upn["id"] == me["id"]
    selected = (await emu.get(ADELE, "/me", params={"$select": "displayName,mail"})).json()
    assert set(selected) == {"@odata.context", "displayName", "mail", "id"}
    assert_graph_error(await emu.get(ADELE, "/users/ghost@contoso.example"), 404, "Request_ResourceNotFound")


async def test_users_of_another_tenant_are_invisible(emu: Emu) -> None:
    emu.state.add_user(upn="zoe@fabrikam.example", display_name="Zoe", tenant_id="11111111-2222-4333-8444-555555555555")
    assert_graph_error(await emu.get(ADELE, "/users/zoe@fabrikam.example"), 404, "Request_ResourceNotFound")
    assert_graph_error(
        await emu.get(ADELE, "/users/zoe@fabrikam.example/calendar"),
        404,
        "ErrorInvalidUser",
        "The requested user 'zoe@fabrikam.example' is invalid.",
    )


async def test_mailbox_settings_shapes(emu: Emu) -> None:
    r = await emu.get(ADELE, "/me/mailboxSettings")
    body = r.json()
    assert body["timeZone"] == "Pacific Standard Time"
    assert body["workingHours"] == {
        "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
        "startTime": "08:00:00.0000000",
        "endTime": "17:00:00.0000000",
        "timeZone": {"name": "Pacific Standard Time"},
    }
    assert body["@odata.context"].endswith("/mailboxSettings")
    assert_contract("microsoft.graph.mailboxSettings", body)
    priya = (await emu.get(PRIYA, "/me/mailboxSettings")).json()
    assert priya["workingHours"]["startTime"] == "09:30:00.0000000"
    tz = (await emu.get(MEGAN, "/me/mailboxSettings/timeZone")).json()
    assert tz["value"] == "Europe/London"
    hours = (await emu.get(MEGAN, "/me/mailboxSettings/workingHours")).json()
    assert hours["endTime"] == "17:30:00.0000000" and hours["timeZone"] == {"name": "Europe/London"}
    assert_graph_error(await emu.get(ADELE, f"/users/{MEGAN}/mailboxSettings"), 403, "ErrorAccessDenied")
    assert_graph_error(await emu.get(ADELE, "/me/mailboxSettings/nope"), 400, "BadRequest")


async def test_mailbox_settings_custom_zone_and_empty_zone(emu: Emu) -> None:
    custom = {
        "bias": 300,
        "name": "Customized Time Zone",
        "standardOffset": {"time": "02:00:00", "dayOccurrence": 1, "dayOfWeek": "sunday", "month": 11, "year": 0},
        "daylightOffset": {
            "time": "02:00:00",
            "dayOccurrence": 2,
            "dayOfWeek": "sunday",
            "month": 3,
            "year": 0,
            "daylightBias": -60,
        },
    }
    emu.state.add_user(
        upn="diego@contoso.example", display_name="Diego", time_zone="Eastern Standard Time", working_time_zone=custom
    )
    emu.state.add_user(upn="new@contoso.example", display_name="New Hire", time_zone="")
    zone = (await emu.get("diego@contoso.example", "/me/mailboxSettings")).json()["workingHours"]["timeZone"]
    assert zone["@odata.type"] == "#microsoft.graph.customTimeZone" and zone["bias"] == 300
    assert zone["daylightOffset"]["daylightBias"] == -60
    settings = (await emu.get("diego@contoso.example", "/me/mailboxSettings")).json()
    assert_contract("microsoft.graph.mailboxSettings", settings)
    empty = (await emu.get("new@contoso.example", "/me/mailboxSettings")).json()
    assert empty["timeZone"] == "" and empty["workingHours"]["timeZone"] == {"name": ""}


async def test_mailbox_not_enabled(emu: Emu) -> None:
    emu.state.user(ADELE).mailbox_enabled = False
    for path in (
        "/me/calendar",
        "/me/calendarView?startDateTime=2030-01-01&endDateTime=2030-01-02",
        "/me/mailboxSettings",
        "/me/events",
    ):
        assert_graph_error(
            await emu.get(ADELE, path),
            404,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        )
    assert (await emu.get(ADELE, "/me")).status_code == 200  # the directory object is still there


async def test_calendars_default_secondary_and_shared(emu: Emu) -> None:
    default = (await emu.get(ADELE, "/me/calendar")).json()
    assert default["isDefaultCalendar"] and default["canEdit"] and default["name"] == "Calendar"
    assert default["allowedOnlineMeetingProviders"] == ["teamsForBusiness"]
    assert default["defaultOnlineMeetingProvider"] == "teamsForBusiness"
    assert default["owner"] == {"name": "Adele Vance", "address": ADELE}
    assert_contract("microsoft.graph.calendar", default)
    emu.state.add_calendar(ADELE, "Side project")
    shared = emu.state.add_calendar(ADELE, "Team holidays", can_edit=False, owner_upn=MEGAN)
    listing = (await emu.get(ADELE, "/me/calendars")).json()
    assert [c["name"] for c in listing["value"]] == ["Calendar", "Side project", "Team holidays"]
    assert_contract("microsoft.graph.calendarCollectionResponse", listing)
    team = listing["value"][2]
    assert team["id"] == shared["id"] and not team["canEdit"] and not team["isDefaultCalendar"]
    assert team["owner"] == {"name": "Megan Bowen", "address": MEGAN}
    one = (await emu.get(ADELE, f"/me/calendars/{shared['id']}")).json()
    assert one["name"] == "Team holidays"
    assert_graph_error(await emu.get(PRIYA, f"/me/calendars/{shared['id']}"), 404, "ErrorItemNotFound")
    # Megan owns it and sees it as her own, editable.
    megan_view = (await emu.get(MEGAN, "/me/calendars")).json()["value"]
    assert any(c["name"] == "Team holidays" and c["canEdit"] for c in megan_view)


async def test_other_users_calendar_needs_sharing(emu: Emu) -> None:
    window = {"startDateTime": "2030-03-04T00:00:00Z", "endDateTime": "2030-03-05T00:00:00Z"}
    assert_graph_error(await emu.get(ADELE, f"/users/{MEGAN}/calendarView", params=window), 403, "ErrorAccessDenied")
    assert_graph_error(await emu.get(ADELE, f"/users/{MEGAN}/calendar"), 403, "ErrorAccessDenied")
    emu.state.add_calendar(ADELE, "Calendar", can_edit=False, owner_upn=MEGAN)
    assert (await emu.get(ADELE, f"/users/{MEGAN}/calendarView", params=window)).status_code == 200
    r = await emu.post(
        ADELE,
        f"/users/{MEGAN}/events",
        {
            "subject": "x",
            "start": {"dateTime": "2030-03-04T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-03-04T10:00:00", "timeZone": "UTC"},
        },
    )
    assert_graph_error(r, 403, "ErrorAccessDenied")


async def test_mounted_under_a_prefix_links_keep_the_prefix() -> None:
    async with running(prefix="/sandbox/graph") as emu:
        assert emu.graph.endswith("/sandbox/graph/v1.0")
        assert emu.state.notifier is not None  # the sub-app's cleanup context runs under the mount
        for i in range(3):
            emu.state.add_event(ADELE, f"e{i}", *_hour(i))
        r = await emu.get(
            ADELE,
            "/me/calendarView",
            params={"startDateTime": "2030-03-04T00:00:00Z", "endDateTime": "2030-03-05T00:00:00Z", "$top": "2"},
        )
        body = r.json()
        assert body["@odata.nextLink"].startswith(f"{emu.root}/sandbox/graph/v1.0/me/calendarView?")
        assert body["@odata.context"].startswith(f"{emu.root}/sandbox/graph/v1.0/$metadata#")
        rest = await emu.get(ADELE, body["@odata.nextLink"])
        assert len(rest.json()["value"]) == 1


async def test_forwarded_headers_shape_links(emu: Emu) -> None:
    r = await emu.get(ADELE, "/me", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "bot.example"})
    assert r.json()["@odata.context"] == "https://bot.example/v1.0/$metadata#users/$entity"


def _hour(i: int) -> tuple[datetime, datetime]:
    from datetime import timedelta

    from tests.graph.emulator_fixtures import T0

    return T0 + timedelta(hours=9 + i), T0 + timedelta(hours=9 + i, minutes=30)
