"""The core operations the adapters use instead of stores (issue 11, §1), on SQLite and PostgreSQL:

* a link by id with its host, under the same rules as its booking page (``public_link``);
* a booking's link and host, one function for pages, bot, cancel and reschedule (``booking_context``);
* a host's upcoming bookings with their links (``upcoming``);
* a Teams request books once without sending a key of its own (the core derives it);
* people (``PeopleService``): a Teams identity becomes one user, their personal chat is remembered;
* notices (``NoticeService``): one message per occasion (their delivery: tests/integration/test_delivery.py).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from scheduling.domain import Caller, User
from scheduling.errors import LinkInactive, NotFound, ValidationFailed
from scheduling.notices import NoticeService
from scheduling.people import PeopleService, Profile
from storage.repositories import repositories
from tests.integration.harness import MONDAY_10, NOW, TENANT, booking_world, invitee
from tests.storage.fixtures import Kind, database

pytestmark = pytest.mark.parametrize("kind", ["sqlite", "postgres"])

IVAN = Caller.teams(TENANT, "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a")


async def test_a_link_by_id_follows_the_booking_pages_rules(kind: Kind) -> None:
    async with booking_world(kind) as w:
        assert await w.service.public_link(w.link.id) == (w.link, w.host)
        with pytest.raises(NotFound):
            await w.service.public_link("no-such-link")
        off = await w.repos.event_types.update(replace(w.link, active=False))
        with pytest.raises(LinkInactive) as inactive:
            await w.service.public_link(off.id)
        assert not inactive.value.used
        with pytest.raises(LinkInactive):  # the booking page says the same
            await w.service.resolve_link(w.host.handle, off.slug)

    async with booking_world(kind, single_use=True) as w:
        await w.service.book(w.link, MONDAY_10, invitee())
        with pytest.raises(LinkInactive) as used:
            await w.service.public_link(w.link.id)
        assert used.value.used


async def test_a_bookings_context_is_its_link_and_its_organiser(kind: Kind) -> None:
    async with booking_world(kind) as w:
        booking = (await w.service.book(w.link, MONDAY_10, invitee())).booking
        assert await w.service.booking_context(booking) == (w.link, w.host)
        await w.repos.event_types.delete(TENANT, w.link.id)
        with pytest.raises(NotFound):
            await w.service.booking_context(booking)
        with pytest.raises(NotFound):  # cancel needs the same context
            await w.service.cancel(booking, "no link any more", "host")


async def test_cancel_keeps_at_most_500_characters_of_the_reason(kind: Kind) -> None:
    async with booking_world(kind) as w:
        booking = (await w.service.book(w.link, MONDAY_10, invitee())).booking
        cancelled = await w.service.cancel(booking, "  " + "x" * 600 + "  ", "invitee")
        assert cancelled.cancel_reason == "x" * 500


async def test_upcoming_lists_the_hosts_bookings_soonest_first_with_their_links(kind: Kind) -> None:
    async with booking_world(kind) as w:
        later = (await w.service.book(w.link, MONDAY_10 + timedelta(hours=2), invitee("Bo", "bo@example.org"))).booking
        sooner = (await w.service.book(w.link, MONDAY_10, invitee())).booking
        gone = (await w.service.book(w.link, MONDAY_10 + timedelta(hours=4), invitee("Cy", "cy@example.org"))).booking
        await w.service.cancel(gone, "", "host")
        bookings, links = await w.service.upcoming(w.host)
        assert [b.id for b in bookings] == [sooner.id, later.id]
        assert links == {w.link.id: w.link}
        w.clock.advance(hours=6)  # both have ended (12:30 UTC)
        assert await w.service.upcoming(w.host) == ([], {})
        stranger = replace(w.host, id="u-stranger", tenant_id="other-tenant")
        assert await w.service.upcoming(stranger) == ([], {})


async def test_a_teams_request_without_a_key_books_once_and_again_after_a_cancel(kind: Kind) -> None:
    async with booking_world(kind) as w:
        first = await w.service.book(w.link, MONDAY_10, invitee(), caller=IVAN)
        again = await w.service.book(w.link, MONDAY_10, invitee(), caller=IVAN)  # Confirm clicked twice
        assert again.replayed and again.booking.id == first.booking.id and again.manage_token == first.manage_token
        assert first.booking.idempotency_key == IVAN.scoped_key(
            await w.service.attempt_key(w.link, IVAN, MONDAY_10, invitee())
        )
        assert len(w.tagged_events()) == 1
        await w.service.cancel(first.booking, "changed my mind", "invitee")
        rebooked = await w.service.book(w.link, MONDAY_10, invitee(), caller=IVAN)
        assert rebooked.booking.id != first.booking.id and rebooked.confirmed and not rebooked.replayed


async def test_the_links_questions_are_shown_only_inside_its_tenant(kind: Kind) -> None:
    async with booking_world(kind) as w:
        assert await w.service.link_in_tenant(TENANT, w.link.id) == w.link
        assert await w.service.link_in_tenant("other-tenant", w.link.id) is None
        assert await w.service.link_in_tenant(TENANT, "no-such-link") is None


# ------------------------------------------------------------------------------------------- people


async def test_a_teams_identity_is_one_user_and_the_directory_is_read_only_while_needed(kind: Kind) -> None:
    async with database(kind) as db:
        repos = repositories(db)
        people = PeopleService(users=repos.users, outbox=repos.outbox)
        lookups: list[str] = []

        async def directory() -> Profile | None:
            lookups.append("roster")
            return Profile(name="Ivan I.", email="ivan@fabrikam.example")

        async def none() -> Profile | None:
            raise AssertionError("the directory is read only while the mailbox address is unknown")

        ivan = await people.teams_user("t1", "oid-ivan", "Ivan", directory, time_zone="Asia/Tokyo")
        assert (ivan.email, ivan.display_name, ivan.time_zone) == ("ivan@fabrikam.example", "Ivan I.", "Asia/Tokyo")
        assert await people.teams_user("t1", "oid-ivan", "Ivan I.", none) == ivan
        renamed = await people.teams_user("t1", "oid-ivan", " Ivan Renamed ", none)
        assert renamed.id == ivan.id and renamed.display_name == "Ivan Renamed"
        assert lookups == ["roster"]
        # the same object id in another tenant is another person
        other = await people.teams_user("t2", "oid-ivan", "Ivan", directory)
        assert other.id != ivan.id and other.tenant_id == "t2"


async def test_a_person_the_directory_does_not_know_gets_an_invented_address_only_when_asked(kind: Kind) -> None:
    async with database(kind) as db:
        repos = repositories(db)
        people = PeopleService(users=repos.users, outbox=repos.outbox)

        async def unknown() -> Profile | None:
            return None

        plain = await people.teams_user("t1", "oid-a", "Ann", unknown, time_zone="Not/AZone")
        assert plain.email == "" and plain.display_name == "Ann" and plain.time_zone == "UTC"
        sandbox = await people.teams_user("t1", "oid-a", "Ann", unknown, invent_email=lambda name: f"{name}@sandbox")
        assert sandbox.id == plain.id and sandbox.email == "Ann@sandbox"
        with pytest.raises(ValidationFailed):
            await people.teams_user("", "oid-a", "Ann", unknown)


async def test_the_personal_chat_is_remembered_when_it_changes_and_forgotten_on_uninstall(kind: Kind) -> None:
    async with database(kind) as db:
        repos = repositories(db)
        people = PeopleService(users=repos.users, outbox=repos.outbox)
        user = await repos.users.upsert(
            User(id="u1", tenant_id="t1", aad_object_id="oid-1", display_name="U", email="u@example.org")
        )
        reference = {"tenantId": "t1", "reference": {"conversation": {"id": "a:1"}}}
        user = await people.remember_conversation(user, reference)
        stored = await repos.users.get("u1")
        assert stored is not None and stored.conversation_reference == reference == user.conversation_reference
        assert await people.current(replace(user, display_name="stale")) == stored
        await people.forget_conversation("t2", "oid-1")  # another tenant's identity: not this user
        assert (await people.current(user)).conversation_reference == reference
        await people.forget_conversation("t1", "oid-1")
        assert not (await people.current(user)).conversation_reference


async def test_a_member_is_found_only_in_their_own_tenant_and_zones_are_checked(kind: Kind) -> None:
    async with database(kind) as db:
        repos = repositories(db)
        people = PeopleService(users=repos.users, outbox=repos.outbox)
        user = await repos.users.upsert(
            User(id="u1", tenant_id="t1", aad_object_id="oid-1", display_name="U", email="u@example.org")
        )
        assert await people.member("t1", "u1") == user
        assert await people.member("t2", "u1") is None and await people.member("t1", "nobody") is None
        assert (await people.set_time_zone(user, "Europe/Paris")).time_zone == "Europe/Paris"
        with pytest.raises(ValidationFailed):
            await people.set_time_zone(user, "Mars/Olympus")
        assert (await people.current(user)).time_zone == "Europe/Paris"


# ------------------------------------------------------------------------------------------ notices


async def test_one_notice_per_occasion_for_the_user_told(kind: Kind) -> None:
    async with database(kind) as db:
        repos = repositories(db, clock=lambda: NOW)
        notices = NoticeService(outbox=repos.outbox)
        host = User(
            id="u1",
            tenant_id="t1",
            aad_object_id="oid-1",
            display_name="Dana",
            email="d@example.org",
            time_zone="Europe/London",
        )
        assert await notices.host_connected(host, "sso:x1")
        assert not await notices.host_connected(host, "sso:x1")  # the same exchange, seen twice
        assert await notices.tell(host, "host.private", "turn-7", {"reply": {"text": "hi"}, "hostId": "someone-else"})
        with pytest.raises(ValueError):
            await notices.tell(host, "host.private", "")
        leased = await repos.outbox.lease(NOW, 10, 60, channel="teams")  # a notice goes to the Teams chat
        items = {x.item.kind: x.item for x in leased}
        connected = items["host.connected"]
        assert connected.tenant_id == "t1" and connected.dedupe_key == "host.connected:u1:sso:x1"
        assert dict(connected.payload) == {"hostId": "u1", "hostName": "Dana", "timeZone": "Europe/London"}
        assert items["host.private"].payload["hostId"] == "u1"  # the recipient is the user told, always
