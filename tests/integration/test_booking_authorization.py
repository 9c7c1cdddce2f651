"""Who gets a booking back, and who may manage it (issue 10, items 5 and 6), on SQLite and PostgreSQL:

* idempotency keys live in the caller's namespace: the same key text from the public endpoint, from a
  Teams user or from an API client never reaches another caller's booking;
* a manage token is random (256 bits), stored only as a hash (plus the nonce it is derived from), and is
  handed out to the request that made the booking and to identical replays of it, never otherwise;
* a Teams invitee is recognised by the tenant + Entra object id that made the booking, never by email.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import replace

import pytest
from sqlalchemy import text

from scheduling.booking import hash_token
from scheduling.domain import BookingStatus, Caller, Question, User
from scheduling.errors import IdempotencyKeyReused, NotFound, SlotUnavailable
from tests.integration.harness import MONDAY_10, TENANT, booking_world, invitee
from tests.storage.fixtures import Kind

pytestmark = pytest.mark.parametrize("kind", ["sqlite", "postgres"])

IVAN_OID = "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a"
IVAN = Caller.teams(TENANT, IVAN_OID)


def teams_user(tenant: str, oid: str, email: str = "ivy@example.org", user_id: str = "") -> User:
    return User(id=user_id or f"u-{oid[:8]}", tenant_id=tenant, aad_object_id=oid, display_name="Someone", email=email)


async def test_a_teams_key_sent_by_another_caller_reaches_nothing(kind: Kind) -> None:
    async with booking_world(kind) as w:
        mine = await w.service.book(w.link, MONDAY_10, invitee(), caller=IVAN, idempotency_key="attempt-1")
        assert mine.confirmed and len(mine.manage_token) == 43
        for other in (
            Caller.public(),
            Caller.teams(TENANT, "someone-else"),
            Caller.teams("other-tenant", IVAN_OID),
            Caller.api("key-1", TENANT),
        ):
            with pytest.raises(SlotUnavailable) as taken:  # a new request for a taken slot, nothing more
                await w.service.book(w.link, MONDAY_10, invitee(), caller=other, idempotency_key="attempt-1")
            assert mine.booking.id not in str(taken.value) and mine.manage_token not in str(taken.value)
        assert len(w.events()) == 1
        stored = await w.repos.bookings.get(mine.booking.id)
        assert stored is not None and stored.idempotency_key == IVAN.scoped_key("attempt-1")
        again = await w.service.book(w.link, MONDAY_10, invitee(), caller=IVAN, idempotency_key="attempt-1")
        assert again.replayed and again.booking.id == mine.booking.id and again.manage_token == mine.manage_token


async def test_public_keys_never_collide_with_teams_or_api_keys_even_when_crafted(kind: Kind) -> None:
    async with booking_world(kind) as w:
        teams = await w.service.book(w.link, MONDAY_10, invitee(), caller=IVAN, idempotency_key="k")
        crafted = IVAN.scoped_key("k")  # the stored form, sent as a public key
        later = MONDAY_10.replace(hour=11)
        public = await w.service.book(w.link, later, invitee(), caller=Caller.public(), idempotency_key=crafted)
        assert public.booking.id != teams.booking.id and not public.replayed
        assert public.booking.idempotency_key == "web:" + crafted
        assert await w.repos.bookings.get_by_idempotency_key(w.link.id, crafted) == teams.booking


async def test_a_replay_with_another_body_is_refused_and_reveals_nothing(kind: Kind) -> None:
    async with booking_world(kind) as w:
        link = await w.repos.event_types.update(replace(w.link, questions=(Question("q", "Anything else?"),)))
        first = await w.service.book(link, MONDAY_10, invitee(), idempotency_key="client-key")
        for changed in (
            replace(invitee(), notes="other"),
            replace(invitee(), name="Ivo Invitee"),
            replace(invitee(), time_zone="Europe/Paris"),
            replace(invitee(), answers={"q": "a"}),
            invitee(email="other@example.org"),
        ):
            with pytest.raises(IdempotencyKeyReused) as reused:
                await w.service.book(link, MONDAY_10, changed, idempotency_key="client-key")
            assert first.manage_token not in str(reused.value.fields) and first.booking.id not in reused.value.message
        with pytest.raises(IdempotencyKeyReused):
            await w.service.book(link, MONDAY_10.replace(hour=11), invitee(), idempotency_key="client-key")
        same = await w.service.book(link, MONDAY_10, invitee(email="IVY@example.org"), idempotency_key="client-key")
        assert same.replayed and same.manage_token == first.manage_token  # the address's case is no difference
        assert len(w.events()) == 1


async def test_manage_tokens_are_random_stored_hashed_and_not_derived_from_the_key(kind: Kind) -> None:
    async with booking_world(kind) as w:
        first = await w.service.book(w.link, MONDAY_10, invitee(), caller=IVAN, idempotency_key="same-key")
        second = await w.service.book(
            w.link,
            MONDAY_10.replace(hour=11),
            invitee(),
            caller=Caller.teams(TENANT, "other"),
            idempotency_key="same-key",
        )
        tokens = {first.manage_token, second.manage_token}
        assert len(tokens) == 2 and all(len(base64.urlsafe_b64decode(t + "=")) == 32 for t in tokens)
        # the old derivation (HMAC of link id and key under the secret) gives neither
        for key in ("same-key", IVAN.scoped_key("same-key")):
            old = hmac.new(b"s" * 32, f"{w.link.id}\x00{key}".encode(), hashlib.sha256).digest()
            assert base64.urlsafe_b64encode(old).decode().rstrip("=") not in tokens
        async with w.db.read() as s:
            rows = (await s.execute(text("SELECT * FROM bookings"))).mappings().all()
        dump = repr([dict(r) for r in rows])
        assert all(t not in dump for t in tokens), "the token itself is never stored"
        assert {r["manage_token_hash"] for r in rows} == {hash_token(t) for t in tokens}
        assert all(r["manage_token_nonce"] and r["request_fingerprint"] for r in rows)
        assert (await w.service.by_manage_token(first.manage_token)).id == first.booking.id


async def test_a_booking_without_a_key_gets_its_token_once(kind: Kind) -> None:
    async with booking_world(kind) as w:
        made = await w.service.book(w.link, MONDAY_10, invitee())
        assert made.manage_token and made.booking.idempotency_key is None
        with pytest.raises(SlotUnavailable):
            await w.service.book(w.link, MONDAY_10, invitee())


async def test_only_the_teams_user_who_booked_is_its_invitee_never_an_equal_email(kind: Kind) -> None:
    async with booking_world(kind) as w:
        made = await w.service.book(w.link, MONDAY_10, invitee(), caller=IVAN, idempotency_key="a")
        booking = made.booking
        assert (booking.invitee_tenant_id, booking.invitee_aad_object_id) == (TENANT, IVAN_OID)
        ivan = teams_user(TENANT, IVAN_OID, email="changed@example.org")  # his email may change: still him
        assert await w.service.for_actor(booking.id, ivan) == (booking, "invitee")
        assert await w.service.for_actor(booking.id, w.host) == (booking, "host")
        for impostor in (
            teams_user("other-tenant", "x-1"),  # same email, another tenant
            teams_user(TENANT, "x-2"),  # same email, same tenant, another account
            teams_user("other-tenant", IVAN_OID),  # his object id in another tenant
            replace(w.host, tenant_id="other-tenant"),
        ):  # the host's id, another tenant
            with pytest.raises(NotFound):
                await w.service.for_actor(booking.id, impostor)
        with pytest.raises(NotFound):
            await w.service.for_actor("no-such-booking", ivan)

        web = await w.service.book(w.link, MONDAY_10.replace(hour=11), invitee(), idempotency_key="b")
        assert (web.booking.invitee_tenant_id, web.booking.invitee_aad_object_id) == (None, None)
        with pytest.raises(NotFound):  # booked on the web: managed with the link, by nobody in Teams
            await w.service.for_actor(web.booking.id, ivan)
        stored = await w.repos.bookings.get(booking.id)
        assert stored is not None and stored.status is BookingStatus.CONFIRMED


async def test_after_a_cancel_the_same_teams_user_books_the_same_time_again(kind: Kind) -> None:
    async with booking_world(kind) as w:
        key = await w.service.attempt_key(w.link, IVAN, MONDAY_10, invitee())
        first = await w.service.book(w.link, MONDAY_10, invitee(), caller=IVAN, idempotency_key=key)
        assert await w.service.attempt_key(w.link, IVAN, MONDAY_10, invitee()) == key  # a retry: same key
        await w.service.cancel(first.booking, "changed my mind", "invitee")
        again_key = await w.service.attempt_key(w.link, IVAN, MONDAY_10, invitee())
        assert again_key != key
        again = await w.service.book(w.link, MONDAY_10, invitee(), caller=IVAN, idempotency_key=again_key)
        assert again.booking.id != first.booking.id and again.manage_token != first.manage_token
        # another caller's attempt key for the same request is looked up in its own namespace
        assert await w.service.attempt_key(w.link, Caller.teams(TENANT, "x"), MONDAY_10, invitee()) == key
