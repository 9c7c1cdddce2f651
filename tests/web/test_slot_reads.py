"""Unauthenticated slot reads can't be turned into calendar calls (issue 10, item 9): busy time is read per
host per day range and shared by every window and zone, and each client's slot reads are rate-limited."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduling.ratelimit import RateLimit, RateLimitService
from tests.web.conftest import DEMO_PATH, Site, running_site, text_of, token_of
from web.context import WEB

pytestmark = pytest.mark.asyncio(loop_scope="session")

ZONES = (
    "UTC",
    "Europe/London",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "America/St_Johns",
    "Australia/Adelaide",
)


def schedule_calls(site: Site, since: int) -> int:
    return sum(1 for r in site.emulator.request_log[since:] if r.path.endswith("getSchedule"))


async def test_random_windows_and_zones_inside_the_booking_window_cost_at_most_three_graph_calls(
    live_site: Site,
) -> None:
    """(The live read, as for a host whose busy cache is stale; a fresh cache costs none: tests/web/test_sync.py.)"""
    site = live_site
    site.services.booking.forget_busy()  # start cold
    before = len(site.emulator.request_log)
    rng = random.Random(10)
    today = datetime.now(UTC).date()
    for i in range(150):
        first = today + timedelta(days=rng.randrange(0, 58))
        last = first + timedelta(days=rng.randrange(0, 62 - (first - today).days if i % 10 == 0 else 7))
        tz = rng.choice(ZONES)
        resp = await site.client.get(
            f"{DEMO_PATH}/slots", params={"start": first.isoformat(), "end": last.isoformat(), "timeZone": tz}
        )
        assert resp.status == 200, await resp.text()
        if i % 15 == 0:  # the HTML week views share the same cache
            page = await site.client.get(DEMO_PATH, params={"tz": tz, "week": first.isoformat()})
            assert page.status == 200
    assert 1 <= schedule_calls(site, before) <= 3


async def test_an_outlook_change_shows_in_slot_views_after_the_cache_expires_and_bookings_read_fresh(
    live_site: Site,
) -> None:
    """Without calendar sync (or with a stale busy cache): the live read's 30 s in-process cache."""
    site = live_site
    first = (await site.slots(days=21))[0]
    start = datetime.fromisoformat(first["start"].replace("Z", "+00:00"))
    site.emulator.add_event("adele@contoso.example", "Dentist", start, start + timedelta(minutes=30))
    # slot views may show the stale answer for up to 30 s (in every zone)...
    assert first["start"] in {s["start"] for s in await site.slots(days=21, tz="Asia/Kolkata")}
    # ...but a booking re-reads Graph for its exact interval
    resp = await site.book_json(first["start"])
    assert resp.status == 409, await resp.text()
    site.services.booking.forget_busy()  # as if the 30 s had run out
    assert first["start"] not in {s["start"] for s in await site.slots(days=21)}


async def test_slot_reads_are_rate_limited_per_client_on_the_json_endpoint_and_the_pages(tmp_path: Path) -> None:
    async with running_site(tmp_path, SLOTWISE_SLOT_READ_RATE_LIMIT=3) as site:
        ctx = site.app[WEB]
        assert ctx.slot_limiter.rule == RateLimit("slots", 3)
        limits = RateLimitService(store=site.services.repos.counters, clock=ctx.clock)
        ctx.slot_limiter = limits.throttle(RateLimit("setup", 1000))
        token = token_of(await site.book())  # (reads slots to find a free one)
        ctx.slot_limiter = limits.throttle(RateLimit("fresh", 3))  # from here on: the configured budget, full
        today = datetime.now(UTC).date()
        for days in range(3):
            end = today + timedelta(days=days)
            resp = await site.client.get(
                f"{DEMO_PATH}/slots", params={"start": today.isoformat(), "end": end.isoformat()}
            )
            assert resp.status == 200
        limited = await site.client.get(
            f"{DEMO_PATH}/slots",
            params={"start": today.isoformat(), "end": today.isoformat(), "timeZone": "Asia/Tokyo"},
        )
        body = await limited.json()
        assert limited.status == 429 and 1 <= int(limited.headers["Retry-After"]) <= 120  # sliding: < 2 windows
        assert limited.content_type == "application/problem+json" and body["type"].endswith("rate_limited")
        page = await site.client.get(DEMO_PATH, params={"tz": "Europe/Paris"})
        assert page.status == 429 and "Retry-After" in page.headers
        assert "Too many requests for times" in text_of(await page.text())
        reschedule = await site.client.get(f"/manage/{token}", params={"reschedule": "1"})
        assert reschedule.status == 429 and "Retry-After" in reschedule.headers
        manage = await site.client.get(f"/manage/{token}")  # the manage page itself reads no slots
        assert manage.status == 200
