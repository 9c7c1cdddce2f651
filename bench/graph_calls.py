"""Graph round trips per operation: ``python -m bench.graph_calls``.

Starts the Graph emulator on 127.0.0.1 (an ephemeral port), drives Slotwise's real Graph adapter
(``GraphCalendar`` over ``GraphClient``) against it and counts the HTTP requests Slotwise sends, both
at the client's transport and in the emulator's request log (which must agree):

* free/busy of 1 host over 30 days (target 1 request: one ``getSchedule``);
* free/busy of 20 hosts over 30 days (target 1 request: one ``getSchedule`` of 20 schedules);
* a slot view of 1 host over 3 chosen calendars (default, a secondary one, one shared by a colleague)
  over 30 days (target 1 request: one ``$batch`` of 3 ``calendarView`` reads, no paging);
* one booking: re-check free/busy of the exact interval, create the event, read it back (target <= 3).

Ends with one JSON line of the counts.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
from aiohttp import web

from graph.adapter import GraphCalendar
from graph.client import GraphClient
from graph.sandbox import EmulatorState, create_graph_app
from scheduling.intervals import Interval
from scheduling.ports import Attendee, EventDraft, HostCalendar, Location, LocationKind

START = datetime(2030, 3, 4, tzinfo=UTC)
MONTH = Interval(START, START + timedelta(days=30))


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts every HTTP request that leaves the client."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.count = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def seed(state: EmulatorState) -> list[HostCalendar]:
    hosts = []
    for i in range(20):
        upn = f"host{i:02d}@contoso.example"
        state.add_user(upn=upn, display_name=f"Host {i:02d}", time_zone="Pacific Standard Time")
        for day in range(30):
            for hour in (17, 20):
                begin = START + timedelta(days=day, hours=hour + i % 3)
                state.add_event(
                    upn,
                    f"Meeting {day}/{hour}",
                    begin,
                    begin + timedelta(minutes=45),
                    show_as="tentative" if day % 5 == 0 else "busy",
                )
        hosts.append(HostCalendar(user_id=upn, mailbox=upn, time_zone="America/Los_Angeles"))
    return hosts


def three_calendars(state: EmulatorState, host: HostCalendar, colleague: HostCalendar) -> HostCalendar:
    """``host`` choosing their default calendar, a secondary one and one ``colleague`` shares with them."""
    side = state.add_calendar(host.user_id, "Side projects")["id"]
    shared = state.add_calendar(host.user_id, "Team", can_edit=False, owner_upn=colleague.user_id)["id"]
    for day in range(0, 30, 2):
        begin = START + timedelta(days=day, hours=18)
        state.add_event(host.user_id, f"Side {day}", begin, begin + timedelta(hours=1), calendar_id=side)
        state.add_event(
            colleague.user_id, f"Team {day}", begin + timedelta(hours=2), begin + timedelta(hours=3), calendar_id=shared
        )
    return replace(host, conflict_calendar_ids=(state.default_calendar(host.user_id).id, side, shared))


async def measure(label: str, transport: CountingTransport, state: EmulatorState, work: Awaitable[object]) -> int:
    before_transport, before_log = transport.count, len(state.request_log)
    started = time.perf_counter()
    await work
    elapsed = (time.perf_counter() - started) * 1000
    sent = transport.count - before_transport
    served = len(state.request_log) - before_log
    served_outer = sum(1 for r in state.request_log[before_log:] if not r.path.startswith("$batch:"))
    if sent != served_outer:
        raise SystemExit(f"{label}: client sent {sent} requests but the emulator served {served_outer}")
    print(f"{label:<42} {sent:>3} request(s)  ({served} served incl. $batch parts, {elapsed:7.1f} ms)")
    return sent


async def main() -> dict[str, int]:
    state = EmulatorState()
    hosts = seed(state)
    runner = web.AppRunner(create_graph_app(state), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    transport = CountingTransport()

    async def token(user_id: str, force_refresh: bool = False) -> str:
        return state.issue_token(user_id)

    client = GraphClient(f"http://{host}:{port}/v1.0", token_provider=token, transport=transport)
    calendar = GraphCalendar(client)
    try:
        one = await measure("free/busy, 1 host, 30 days", transport, state, calendar.busy(hosts[0], MONTH))
        many = await measure("free/busy, 20 hosts, 30 days", transport, state, calendar.busy_many(hosts, MONTH))
        chosen = three_calendars(state, hosts[0], hosts[1])
        three = await measure("slot view, 1 host, 3 calendars, 30 days", transport, state, calendar.busy(chosen, MONTH))
        slot = Interval(START + timedelta(days=3, hours=22), START + timedelta(days=3, hours=22, minutes=30))
        draft = EventDraft(
            subject="Intro call",
            body_text="Booked with Slotwise.",
            start=slot.start,
            end=slot.end,
            time_zone="America/Los_Angeles",
            attendees=(Attendee("Ivy", "ivy@fabrikam.example"),),
            location=Location(LocationKind.TEAMS),
            transaction_id="bench-tx",
            booking_id="bench-bk",
        )

        async def book() -> None:
            busy = await calendar.busy(hosts[0], slot)
            if busy:
                raise SystemExit(f"the benchmark slot is not free: {busy}")
            event = await calendar.create_event(hosts[0], draft)
            back = await calendar.get_event(hosts[0], event.event_id)
            if back is None or not back.join_url:
                raise SystemExit("the booked event did not read back with a Teams link")

        booking = await measure("booking (re-check + create + read back)", transport, state, book())
    finally:
        await client.aclose()
        await runner.cleanup()
    return {
        "freebusy_1_host_requests": one,
        "freebusy_20_hosts_requests": many,
        "slot_view_3_calendars_requests": three,
        "booking_requests": booking,
    }


if __name__ == "__main__":
    figures = asyncio.run(main())
    print("targets: 1, 1, 1, <= 3")
    print(json.dumps(figures))
