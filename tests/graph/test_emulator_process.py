"""The Graph emulator as its own process (``python -m graph.sandbox``), over real HTTP: the ready line, the
admin API (token, mailboxes, events, faults, stats), random faults shaped as Graph sends them and injected
before any change, ghost writes, reproducible draws (``--seed``) and the world kept in ``--state-file``."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.graph.emulator_fixtures import assert_graph_error

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "admin-" + uuid.uuid4().hex
ADELE = "adele@contoso.example"
BOOKING_TAG = "String {5b148de0-3563-4dd4-ba16-b9b13aface33} Name SlotwiseBookingId"  # graph.models' tag
Json = dict[str, Any]


@dataclass
class EmulatorProcess:
    """A running ``python -m graph.sandbox``: ``base`` from its ready line, ``stdout`` what it printed before."""

    process: subprocess.Popen[bytes]
    base: str
    stdout: list[str]
    token: str

    @property
    def graph(self) -> str:
        return f"{self.base}/v1.0"

    def admin(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.base}/_admin", headers={"Authorization": f"Bearer {token or self.token}"}, timeout=10
        )

    def graph_client(self, user: str = ADELE) -> httpx.Client:
        """An httpx client for Graph with a bearer token of ``user`` from the admin API."""
        with self.admin() as admin:
            answer = admin.post("/tokens", json={"user": user})
        assert answer.status_code == 200, answer.text
        token = answer.json()["accessToken"]
        return httpx.Client(base_url=self.graph, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def printed_token(self, upn: str) -> str:
        """The bearer token the emulator printed for a demo person at start."""
        index = next(i for i, line in enumerate(self.stdout) if f"<{upn}>" in line)
        return self.stdout[index + 1].strip()


@contextmanager
def emulator_process(*args: str, token: str | None = ADMIN_TOKEN, log: Path | None = None) -> Iterator[EmulatorProcess]:
    """Start ``python -m graph.sandbox --port 0 ARGS`` and wait for its ``ready`` line; stopped with SIGTERM."""
    command = [sys.executable, "-m", "graph.sandbox", "--host", "127.0.0.1", "--port", "0", *args]
    if token is not None:
        command += ["--admin-token", token]
    stderr = open(log, "a") if log is not None else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, bufsize=0)
    try:
        assert process.stdout is not None
        printed = b""
        deadline = time.monotonic() + 20
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while not any(line.startswith(b"ready ") for line in printed.split(b"\n")[:-1]):
                assert time.monotonic() < deadline, f"no ready line: {printed!r}"
                assert process.poll() is None, f"the emulator exited ({process.returncode}): {printed!r}"
                if selector.select(timeout=0.5):
                    printed += os.read(process.stdout.fileno(), 65536)
        lines = printed.decode().split("\n")[:-1]
        base = lines[-1].split()[1]
        yield EmulatorProcess(process, base, lines, token or "")
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
            if log is not None and stderr is not subprocess.DEVNULL:
                stderr.close()  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with emulator_process(log=tmp_path_factory.mktemp("emulator") / "stderr.log") as running:
        yield running


@pytest.fixture(autouse=True)
def no_faults(emu: EmulatorProcess) -> Iterator[None]:
    yield
    with emu.admin() as admin:
        assert admin.put("/faults", json={"rate": 0, "latencyMs": 0, "ghostWriteRate": 0}).status_code == 200


def event_body(subject: str, start: datetime, transaction_id: str, booking_id: str | None = None) -> Json:
    body: Json = {
        "subject": subject,
        "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "end": {"dateTime": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "transactionId": transaction_id,
    }
    if booking_id is not None:
        body["singleValueExtendedProperties"] = [{"id": BOOKING_TAG, "value": booking_id}]
    return body


def events(emu: EmulatorProcess, mailbox: str = ADELE) -> list[Json]:
    with emu.admin() as admin:
        answer = admin.get("/events", params={"mailbox": mailbox})
    assert answer.status_code == 200, answer.text
    found: list[Json] = answer.json()["events"]
    return found


def stats(emu: EmulatorProcess) -> Json:
    with emu.admin() as admin:
        answer = admin.get("/stats")
    assert answer.status_code == 200, answer.text
    body: Json = answer.json()
    return body


# ----------------------------------------------------------------------------------------- the admin API


def test_the_ready_line_names_the_base_and_graph_and_login_answer_there(emu: EmulatorProcess) -> None:
    assert emu.base.startswith("http://127.0.0.1:") and emu.stdout[-1] == f"ready {emu.base}"
    assert httpx.get(f"{emu.graph}/me").status_code == 401  # Graph checks bearer tokens
    tenant = emu.stdout[0].rsplit("/", 1)[1]
    discovery = httpx.get(f"{emu.base}/login/{tenant}/v2.0/.well-known/openid-configuration")
    assert discovery.json()["token_endpoint"] == f"{emu.base}/login/{tenant}/oauth2/v2.0/token"
    # for MSAL (whose forwarding transport sends login.microsoftonline.com here): Microsoft's host, tenant first
    msal = httpx.get(f"{emu.base}/msal/{tenant}/v2.0/.well-known/openid-configuration")
    assert msal.json()["token_endpoint"] == f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
    with emu.graph_client() as graph:
        assert graph.get("/me").json()["userPrincipalName"] == ADELE


def test_every_admin_call_needs_the_admin_token(emu: EmulatorProcess) -> None:
    body = {"tenantId": "t-401", "oid": "oid-401", "upn": "nobody@t401.example", "displayName": "No Body"}
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {ADMIN_TOKEN}"}):
        for method, path in (("GET", "/stats"), ("GET", "/events"), ("PUT", "/faults"), ("POST", "/mailboxes")):
            answer = httpx.request(method, f"{emu.base}/_admin{path}", json=body, headers=headers)
            assert answer.status_code == 401, (method, path, headers)
            assert answer.json()["error"]["code"] == "Unauthorized"
    with emu.admin() as admin:
        assert admin.get("/mailboxes/nobody@t401.example").status_code == 404  # nothing was created
        assert admin.get("/faults").json()["rate"] == 0


def test_a_teams_persons_mailbox_is_created_once_in_their_tenant(emu: EmulatorProcess) -> None:
    person = {"tenantId": "tenant-a", "oid": "0b5e-dana", "upn": "dana@a.example", "displayName": "Dana"}
    with emu.admin() as admin:
        first = admin.post("/mailboxes", json={**person, "timeZone": "Europe/Berlin"})
        assert first.status_code == 200, first.text
        assert first.json() == {
            "id": "0b5e-dana",
            "upn": "dana@a.example",
            "tenantId": "tenant-a",
            "displayName": "Dana",
            "timeZone": "Europe/Berlin",
        }
        assert admin.post("/mailboxes", json=person).json() == first.json()  # idempotent
        assert admin.get("/mailboxes/dana@a.example").json() == first.json()
        assert admin.get("/mailboxes/0b5e-dana").json() == first.json()
        # another tenant's person with the same object id gets a mailbox of their own
        eve = admin.post("/mailboxes", json={**person, "tenantId": "tenant-b", "upn": "eve@b.example"})
        assert eve.status_code == 200 and eve.json()["id"] != "0b5e-dana" and eve.json()["tenantId"] == "tenant-b"
        # an address that is already another person's mailbox is refused, not shared
        taken = admin.post("/mailboxes", json={**person, "tenantId": "tenant-c", "oid": "other"})
        assert taken.status_code == 409 and taken.json()["error"]["code"] == "MailboxTaken"
        for bad in (
            {**person, "oid": ""},
            {**person, "upn": 7},
            [person],
            {**person, "oid": "new", "upn": "new@a.example", "timeZone": "Mars/Olympus"},
        ):
            answer = admin.post("/mailboxes", json=bad)
            assert answer.status_code == 400 and answer.json()["error"]["code"] == "BadRequest", bad
        assert admin.post("/mailboxes", content=b"{not json").status_code == 400
        listed = {m["upn"] for m in admin.get("/mailboxes").json()["mailboxes"]}
    assert {"dana@a.example", "eve@b.example", ADELE} <= listed
    assert events(emu, "dana@a.example"), "a new mailbox comes with a few weeks of meetings"


def test_events_lists_each_event_with_what_marks_it_as_a_slotwise_booking(emu: EmulatorProcess) -> None:
    start = datetime(2031, 5, 6, 9, tzinfo=UTC)
    booking_id = f"bk-{uuid.uuid4().hex}"
    with emu.graph_client() as graph:
        created = graph.post("/me/events", json=event_body("Intro with Ivy", start, booking_id, booking_id))
    assert created.status_code == 201, created.text
    [listed] = [e for e in events(emu) if e["id"] == created.json()["id"]]
    assert listed["mailbox"] == ADELE and listed["iCalUId"] == created.json()["iCalUId"]
    assert (listed["start"], listed["end"]) == ("2031-05-06T09:00:00Z", "2031-05-06T09:30:00Z")
    assert listed["transactionId"] == booking_id and listed["slotwiseBookingId"] == booking_id
    assert listed["singleValueExtendedProperties"] == [{"id": BOOKING_TAG, "value": booking_id}]
    assert listed["isCancelled"] is False and listed["subject"] == "Intro with Ivy"
    with emu.admin() as admin:
        everything = admin.get("/events").json()["events"]
        assert admin.get("/events", params={"mailbox": "nobody@nowhere.example"}).status_code == 404
    assert listed in everything and len({e["mailbox"] for e in everything}) > 1
    seeded = [e for e in everything if e["id"] != listed["id"]]
    assert seeded and all(e["slotwiseBookingId"] is None for e in seeded)


# ------------------------------------------------------------------------------------------------- faults


def check_fault(answer: httpx.Response) -> str:
    """The fault ``answer`` is, checked against Graph's shape for it."""
    if answer.status_code == 503:
        assert_graph_error(answer, 503, "serviceNotAvailable")
        assert answer.headers["Retry-After"] == "1"
        return "unavailable"
    code = answer.json()["error"]["code"]
    if code == "ApplicationThrottled":
        body = assert_graph_error(answer, 429, code, "Application is over its MailboxConcurrency limit.")
        assert "innerError" not in body["error"] and "Retry-After" not in answer.headers  # as Outlook sends it
        return "mailboxConcurrency"
    body = assert_graph_error(answer, 429, "TooManyRequests", "Please retry again later.")
    assert answer.headers["Retry-After"] == "1"
    assert body["error"]["innerError"]["code"] == "429" and body["error"]["innerError"]["status"] == "429"
    return "throttle"


def test_at_rate_one_every_graph_request_is_faulted_before_it_changes_anything(emu: EmulatorProcess) -> None:
    before, mine = stats(emu), f"tx-{uuid.uuid4().hex}"
    with emu.admin() as admin:
        assert admin.put("/faults", json={"rate": 1.0, "seed": 11}).json()["rate"] == 1.0
    seen: dict[str, int] = {}
    created: list[str] = []
    start = datetime(2031, 6, 2, 8, tzinfo=UTC)
    with emu.graph_client() as graph:
        for n in range(16):
            tx = f"{mine}-{n}"
            answer = graph.post("/me/events", json=event_body(f"Faulted {n}", start + timedelta(hours=n), tx))
            if answer.status_code == 201:  # a latency spike, then served
                kind = "latencySpike"
                created.append(tx)
            else:
                kind = check_fault(answer)
            seen[kind] = seen.get(kind, 0) + 1
        # inside $batch each inner request is faulted on its own; the batch itself answers 200
        batch = graph.post(
            "/$batch",
            json={"requests": [{"id": str(i), "method": "GET", "url": "/me/mailboxSettings"} for i in (1, 2)]},
        )
        assert batch.status_code == 200
        for inner in batch.json()["responses"]:
            assert inner["status"] in (200, 429, 503), inner
            if inner["status"] == 503:
                assert inner["headers"]["Retry-After"] == "1"
    assert set(seen) == {"throttle", "unavailable", "mailboxConcurrency", "latencySpike"}, seen
    # a faulted POST created nothing; a spiked one created its event
    assert sorted(e["transactionId"] for e in events(emu) if (e["transactionId"] or "").startswith(mine)) == created
    # /login and /_admin are never faulted
    assert httpx.get(f"{emu.base}/login/common/v2.0/.well-known/openid-configuration").status_code == 200
    after = stats(emu)
    for kind, count in seen.items():
        assert after["faultsInjected"][kind] - before["faultsInjected"][kind] >= count
    assert after["requests"]["429"] - before["requests"].get("429", 0) == seen["throttle"] + seen["mailboxConcurrency"]
    with emu.admin() as admin:
        assert admin.put("/faults", json={"rate": 0}).json() == {"rate": 0.0, "latencyMs": 0.0, "ghostWriteRate": 0.0}
    with emu.graph_client() as graph:
        assert {graph.get("/me/mailboxSettings").status_code for _ in range(10)} == {200}


def test_fault_settings_are_checked(emu: EmulatorProcess) -> None:
    with emu.admin() as admin:
        for bad in ({"rate": 1.5}, {"rate": "0.3"}, {"rate": True}, {"latencyMs": -1}, {"speed": 1}, {"seed": 1.5}):
            answer = admin.put("/faults", json=bad)
            assert answer.status_code == 400, bad
        assert admin.get("/faults").json() == {"rate": 0.0, "latencyMs": 0.0, "ghostWriteRate": 0.0}
        assert admin.put("/faults", json={"latencyMs": 5}).json() == {
            "rate": 0.0,
            "latencyMs": 5,
            "ghostWriteRate": 0.0,
        }


def test_a_ghost_write_is_applied_then_answered_504_and_a_retry_finds_it(emu: EmulatorProcess) -> None:
    tx = f"ghost-{uuid.uuid4().hex}"
    body = event_body("Ghost", datetime(2031, 7, 1, 10, tzinfo=UTC), tx)
    with emu.admin() as admin:
        admin.put("/faults", json={"ghostWriteRate": 1.0})
    with emu.graph_client() as graph:
        lost = graph.post("/me/events", json=body)
        assert_graph_error(lost, 504, "UnknownError")
        assert graph.get("/me/mailboxSettings").status_code == 200  # reads are never ghosted
        [applied] = [e for e in events(emu) if e["transactionId"] == tx]  # ... but the write happened
        with emu.admin() as admin:
            admin.put("/faults", json={"ghostWriteRate": 0})
        retried = graph.post("/me/events", json=body)  # the same transactionId: Graph returns the first event
    assert retried.status_code in (200, 201) and retried.json()["id"] == applied["id"]
    assert [e["id"] for e in events(emu) if e["transactionId"] == tx] == [applied["id"]]
    assert stats(emu)["faultsInjected"]["ghostWrite"] >= 1


def statuses(base: str, token: str, count: int = 12) -> list[int]:
    with httpx.Client(base_url=f"{base}/v1.0", headers={"Authorization": f"Bearer {token}"}, timeout=10) as graph:
        return [graph.get("/me/mailboxSettings").status_code for _ in range(count)]


def test_the_seed_makes_the_fault_draws_reproducible(emu: EmulatorProcess) -> None:
    # a process started with --seed 7, without an admin API, and the shared one reseeded with 7 at run time
    with emulator_process("--seed", "7", "--fault-rate", "0.5", token=None) as seeded:
        assert httpx.get(f"{seeded.base}/_admin/stats").status_code == 404  # no --admin-token: no admin API
        first = statuses(seeded.base, seeded.printed_token(ADELE))
    with emu.admin() as admin:
        admin.put("/faults", json={"rate": 0.5, "seed": 7})
        token = admin.post("/tokens", json={"user": ADELE}).json()["accessToken"]
    again = statuses(emu.base, token)
    assert again == first and {200} < set(first), first
    with emu.admin() as admin:
        admin.put("/faults", json={"rate": 0.5, "seed": 8})
    assert statuses(emu.base, token) != first


def test_the_state_file_keeps_the_world_across_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "graph.json"
    person = {"tenantId": "tenant-s", "oid": "oid-s", "upn": "sam@s.example", "displayName": "Sam"}
    with emulator_process("--state-file", str(state_file), "--no-demo") as first:
        with first.admin() as admin:
            assert admin.post("/mailboxes", json=person).status_code == 200
            assert [m["upn"] for m in admin.get("/mailboxes").json()["mailboxes"]] == ["sam@s.example"]
        with first.graph_client("sam@s.example") as graph:
            made = graph.post("/me/events", json=event_body("Kept", datetime(2031, 8, 1, 9, tzinfo=UTC), "kept-1"))
            assert made.status_code == 201
    assert state_file.exists()
    with emulator_process("--state-file", str(state_file), "--no-demo") as second:
        with second.admin() as admin:
            assert admin.post("/mailboxes", json=person).json()["id"] == "oid-s"  # the same person, same mailbox
            assert len(admin.get("/mailboxes").json()["mailboxes"]) == 1
        assert [e["id"] for e in events(second, "sam@s.example") if e["transactionId"] == "kept-1"] == [
            made.json()["id"]
        ]
