"""Contract tests: the bodies the client really sends validate against Graph's OpenAPI resource schemas.

The schema file flattens ``allOf`` inheritance with ``additionalProperties: {type: object}`` on every
part (schemas/README.md §3), which would reject any inherited property. The validator below merges each
``allOf`` into one object schema and forbids unknown properties, so a misspelled or invented property
name fails, as do wrong types and enum values. The camelCase action bodies (getSchedule, cancel) are
PascalCase in the file and are checked by key instead.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30Validator

from graph.client import GraphClient
from graph.eventbody import event_body, location_patch, reschedule_patch
from graph.models import BOOKING_ID_PROPERTY
from scheduling.ports import Attendee, EventDraft, Location, LocationKind
from tests.contracts import GRAPH_CALENDAR_OPENAPI

SPEC_PATH = GRAPH_CALENDAR_OPENAPI


def _strict_components(spec: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = spec["components"]["schemas"]
    flat: dict[str, dict[str, Any]] = {}

    def resolve(name: str) -> dict[str, Any]:
        if name in flat:
            return flat[name]
        schema = schemas[name]
        if "allOf" not in schema:
            out = dict(schema)
            if out.get("type") == "object" or "properties" in out:
                out["additionalProperties"] = False
            flat[name] = out
            return out
        props: dict[str, Any] = {}
        for part in schema["allOf"]:
            if "$ref" in part:
                props.update(resolve(part["$ref"].rsplit("/", 1)[-1]).get("properties", {}))
            else:
                props.update(part.get("properties", {}))
        out = {"type": "object", "properties": props, "additionalProperties": False}
        flat[name] = out
        return out

    for name in schemas:
        resolve(name)
    return {"schemas": flat}


@pytest.fixture(scope="module")
def validator_for() -> Any:
    spec = json.loads(SPEC_PATH.read_text())
    components = _strict_components(spec)

    def make(name: str) -> OAS30Validator:
        return OAS30Validator({"$ref": f"#/components/schemas/{name}", "components": components})

    return make


def assert_valid(validator: OAS30Validator, body: dict[str, Any]) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, errors


DRAFT = EventDraft(
    subject="Intro call <Ada & Bob>",
    body_text="Agenda:\n1. <b>hello</b> & welcome",
    start=datetime(2030, 3, 10, 17, 0, tzinfo=UTC),
    end=datetime(2030, 3, 10, 17, 30, tzinfo=UTC),
    time_zone="America/Los_Angeles",
    attendees=(Attendee("Ada Lovelace", "ada@example.com"),),
    location=Location(LocationKind.TEAMS),
    transaction_id="tx-1",
    booking_id="bk-1",
)


def test_the_strict_validator_rejects_invented_properties(validator_for: Any) -> None:
    v = validator_for("microsoft.graph.event")
    assert list(v.iter_errors({"subject": "x", "transactionID": "typo"}))
    assert list(v.iter_errors({"onlineMeetingProvider": "zoom"}))
    assert not list(v.iter_errors({"subject": "x", "transactionId": "ok"}))


@pytest.mark.parametrize(
    "location",
    [
        Location(LocationKind.TEAMS),
        Location(LocationKind.IN_PERSON, "HQ 4.01"),
        Location(LocationKind.PHONE, "+1 555 0100"),
    ],
)
def test_event_body_is_a_valid_graph_event(validator_for: Any, location: Location) -> None:
    draft = replace(DRAFT, location=location)
    body = event_body(draft)
    assert_valid(validator_for("microsoft.graph.event"), body)
    assert body["start"] == {"dateTime": "2030-03-10T10:00:00", "timeZone": "America/Los_Angeles"}
    assert body["end"] == {"dateTime": "2030-03-10T10:30:00", "timeZone": "America/Los_Angeles"}
    assert body["transactionId"] == "tx-1"
    assert body["singleValueExtendedProperties"] == [{"id": BOOKING_ID_PROPERTY, "value": "bk-1"}]
    assert "<b>" not in body["body"]["content"] and "&lt;b&gt;" in body["body"]["content"]
    assert body["body"]["contentType"] == "html"
    if location.kind is LocationKind.TEAMS:
        assert body["isOnlineMeeting"] is True and body["onlineMeetingProvider"] == "teamsForBusiness"
    else:
        assert "isOnlineMeeting" not in body and body["location"]["displayName"] == location.text


def test_patch_bodies_are_valid_and_a_move_touches_only_start_and_end(validator_for: Any) -> None:
    v = validator_for("microsoft.graph.event")
    move = reschedule_patch(DRAFT.start, DRAFT.end, "Europe/Berlin")
    assert set(move) == {"start", "end"}  # never body, subject or attendees (a PATCH replaces the list)
    assert move["start"] == {"dateTime": "2030-03-10T18:00:00", "timeZone": "Europe/Berlin"}
    assert_valid(v, move)
    place = location_patch(Location(LocationKind.IN_PERSON, "HQ 4.01"))
    assert place == {"location": {"displayName": "HQ 4.01", "locationType": "default"}}
    assert_valid(v, place)
    assert location_patch(Location(LocationKind.CUSTOM, "")) == {}


class Capture:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if request.method == "POST" and path.endswith("/subscriptions"):
            body = json.loads(request.content)
            return httpx.Response(201, json={**body, "id": "sub-1"})
        if request.method == "PATCH" and "/subscriptions/" in path:
            body = json.loads(request.content)
            return httpx.Response(
                200,
                json={
                    "id": "sub-1",
                    "resource": "me/events",
                    "changeType": "created",
                    "notificationUrl": "https://x.example/n",
                    **body,
                },
            )
        if path.endswith("/getSchedule"):
            return httpx.Response(200, json={"value": []})
        if path.endswith("/cancel"):
            return httpx.Response(202)
        event = {
            "id": "AAMk/1+=",
            "start": {"dateTime": "2030-03-10T17:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2030-03-10T17:30:00.0000000", "timeZone": "UTC"},
        }
        return httpx.Response(201 if request.method == "POST" else 200, json=event)

    def bodies(self, method: str, suffix: str) -> list[dict[str, Any]]:
        return [
            json.loads(r.content)
            for r in self.requests
            if r.method == method and r.url.raw_path.decode().split("?")[0].endswith(suffix)
        ]


async def _token(user_id: str) -> str:
    return "token-" + user_id


async def test_wire_bodies_of_the_client_validate(validator_for: Any) -> None:
    capture = Capture()
    async with GraphClient(
        "https://graph.example/v1.0", token_provider=_token, transport=httpx.MockTransport(capture)
    ) as client:
        await client.create_event("u1", DRAFT)
        await client.reschedule_event("u1", "AAMk/1+=", DRAFT.start, DRAFT.end, "America/Los_Angeles")
        await client.create_subscription(
            "u1",
            notification_url="https://x.example/n",
            lifecycle_notification_url="https://x.example/l",
            expiration=datetime(2030, 3, 12, tzinfo=UTC),
            client_state="s3cret",
        )
        await client.renew_subscription("u1", "sub-1", datetime(2030, 3, 14, tzinfo=UTC))
        await client.get_schedule("u1", ["a@example.com"], DRAFT.start, DRAFT.end)
        await client.cancel_event("u1", "AAMk/1+=", "Sorry, something came up")

    assert_valid(validator_for("microsoft.graph.event"), capture.bodies("POST", "/events")[0])
    patch = capture.bodies("PATCH", "/events/AAMk%2F1%2B%3D")
    assert patch and set(patch[0]) == {"start", "end"}
    assert_valid(validator_for("microsoft.graph.event"), patch[0])
    sub = capture.bodies("POST", "/subscriptions")[0]
    assert_valid(validator_for("microsoft.graph.subscription"), sub)
    assert sub["expirationDateTime"] == "2030-03-12T00:00:00Z" and sub["resource"] == "me/events"
    renew = [json.loads(r.content) for r in capture.requests if r.method == "PATCH" and "subscriptions" in r.url.path]
    assert_valid(validator_for("microsoft.graph.subscription"), renew[0])
    schedule = capture.bodies("POST", "/getSchedule")[0]
    assert set(schedule) == {"schedules", "startTime", "endTime", "availabilityViewInterval"}
    assert capture.bodies("POST", "/cancel")[0] == {"comment": "Sorry, something came up"}
    # event ids are opaque and contain / + =: always one encoded path segment
    assert any(r.url.raw_path.endswith(b"/me/events/AAMk%2F1%2B%3D/cancel") for r in capture.requests)
