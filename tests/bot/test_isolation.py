"""Ids in card data are not capabilities: nobody can see or change another user's links or bookings by
replaying or forging card data, and the same Entra object id in another tenant is another user."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from cards.format import utc_iso
from scheduling.booking import hash_token, request_fingerprint
from scheduling.domain import BookingStatus
from tests.bot.harness import DANA, EVE, IVAN, MALLORY, OTHER_TENANT, Bot, Person, form_values
from tests.bot.test_booking import book, shared_picker, times
from tests.cards.checks import execute_by_title, executes, nodes, texts

Json = dict[str, Any]
NO_LINK = "No such link."
NO_BOOKING = "No such booking, or it isn't yours to change."


async def _dana_link(bot: Bot) -> tuple[Json, Json]:
    created = await bot.card(DANA, "create a 1h link called Demo")
    editor = await bot.execute(DANA, execute_by_title(created, "Edit"))
    return created, editor


def _refused(card: Json, message: str) -> None:
    assert texts(card)[0] == "I can't do that"
    assert message in texts(card)


@pytest.mark.parametrize("who", [MALLORY, EVE])
async def test_someone_elses_link_id_is_refused(bot: Bot, who: Any) -> None:
    created, editor = await _dana_link(bot)
    user = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    [before] = await bot.repos.event_types.list_for_owner(DANA.tenant, user.id)

    for title in ("Edit", "Preview", "Delete link"):
        _refused(await bot.execute(who, execute_by_title(created, title)), NO_LINK)
    _refused(await bot.execute(who, execute_by_title(editor, "Save"), form_values(editor, title="Mine now")), NO_LINK)
    _refused(await bot.execute(who, execute_by_title(editor, "Cancel")), NO_LINK)

    [after] = await bot.repos.event_types.list_for_owner(DANA.tenant, user.id)
    assert after == before
    listing = await bot.card(who, "my links")
    assert "Demo" not in texts(listing)


async def test_the_same_object_id_in_another_tenant_is_another_user(bot: Bot) -> None:
    await _dana_link(bot)
    assert any("no link called 'demo'" in t for t in texts(await bot.card(EVE, "edit demo")))
    dana = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    eve = await bot.repos.users.get_by_aad(EVE.tenant, EVE.aad)
    assert dana.id != eve.id and eve.email == EVE.email
    assert await bot.repos.event_types.list_for_owner(EVE.tenant, eve.id) == []


async def test_someone_elses_booking_id_is_refused(bot: Bot) -> None:
    _form, booked = await book(bot, await shared_picker(bot))
    cancel = next(a for a in executes(booked) if a["verb"] == "booking.cancel")
    booking_id = cancel["data"]["bookingId"]

    _refused(await bot.execute(MALLORY, cancel, {cancel["data"]["reasonInputId"]: "ha"}), NO_BOOKING)
    _refused(await bot.execute(MALLORY, execute_by_title(booked, "Reschedule")), NO_BOOKING)
    move = {
        "verb": "booking.move",
        "data": {"verb": "booking.move", "bookingId": booking_id, "start": "2030-01-07T10:00:00Z", "tz": "UTC"},
    }
    _refused(await bot.execute(MALLORY, move), NO_BOOKING)
    forged = {
        "verb": "booking.cancel",
        "data": {"verb": "booking.cancel", "bookingId": booking_id, "reasonInputId": "cancelReason.other"},
    }
    assert "This Cancel button doesn't belong to this booking." in texts(await bot.execute(IVAN, forged))

    booking = await bot.repos.bookings.get(booking_id)
    assert booking.status is BookingStatus.CONFIRMED
    upcoming = await bot.card(MALLORY, "upcoming")
    assert any("Nothing booked yet" in t for t in texts(upcoming))
    refused = await bot.card(MALLORY, f"cancel booking {booking_id}")
    assert any("no upcoming booking" in t for t in texts(refused))


# ------------------------------------------------- an email is not an identity (issue 10, item 6)

IVAN_ELSEWHERE = Person(
    "29:1ivan-lookalike-teams-id",
    "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a",
    "Ivan Invitee",
    IVAN.email,
    tenant=OTHER_TENANT,
)  # another tenant, roster email set to Ivan's
IVAN_NAMESAKE = Person(
    "29:1ivan-namesake-teams-id", "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "Ivan Namesake", IVAN.email
)  # Ivan's tenant, another account whose roster email says Ivan's


@pytest.mark.parametrize("impostor", [IVAN_ELSEWHERE, IVAN_NAMESAKE], ids=["other-tenant", "same-tenant"])
async def test_a_teams_user_whose_email_is_the_invitees_is_not_the_invitee(bot: Bot, impostor: Person) -> None:
    bot.connector.people = {**bot.connector.people, impostor.teams_id: impostor}
    _form, booked = await book(bot, await shared_picker(bot))
    cancel = next(a for a in executes(booked) if a["verb"] == "booking.cancel")
    booking_id = cancel["data"]["bookingId"]

    _refused(await bot.execute(impostor, cancel, {cancel["data"]["reasonInputId"]: "mine now"}), NO_BOOKING)
    _refused(await bot.execute(impostor, execute_by_title(booked, "Reschedule")), NO_BOOKING)
    move = {
        "verb": "booking.move",
        "data": {"verb": "booking.move", "bookingId": booking_id, "start": "2030-01-07T10:00:00Z", "tz": "UTC"},
    }
    _refused(await bot.execute(impostor, move), NO_BOOKING)
    lookalike = await bot.repos.users.get_by_aad(impostor.tenant, impostor.aad)
    assert lookalike.email == IVAN.email  # the attack is real: Teams told us the same address
    booking = await bot.repos.bookings.get(booking_id)
    assert booking.status is BookingStatus.CONFIRMED and not bot.emulator.cancellations
    assert (booking.invitee_tenant_id, booking.invitee_aad_object_id) == (IVAN.tenant, IVAN.aad)
    # the person who booked is still recognised, by tenant + object id
    reschedule = await bot.execute(IVAN, execute_by_title(booked, "Reschedule"))
    assert texts(reschedule)[0] == "Pick a new time"


async def test_a_booking_made_on_the_web_is_managed_with_its_link_not_from_teams(bot: Bot) -> None:
    """Ivan's address on a web booking proves nothing about who is in Teams: not even Ivan is its
    invitee there (he has the manage link)."""
    picker = await shared_picker(bot)
    start = times(picker)[0]["data"]["start"]
    dana = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    [link] = await bot.repos.event_types.list_for_owner(DANA.tenant, dana.id)
    resp = await bot.client.post(
        f"/book/{dana.handle}/{link.slug}",
        json={"start": start, "name": "Ivan Invitee", "email": IVAN.email, "timeZone": "America/New_York"},
    )
    assert resp.status == 201, await resp.text()
    booking_id = (await resp.json())["id"]
    forged = {"verb": "booking.reschedule", "data": {"verb": "booking.reschedule", "bookingId": booking_id}}
    _refused(await bot.execute(IVAN, forged), NO_BOOKING)
    cancel = {
        "verb": "booking.cancel",
        "data": {"verb": "booking.cancel", "bookingId": booking_id, "reasonInputId": f"cancelReason.{booking_id}"},
    }
    _refused(await bot.execute(IVAN, cancel, {f"cancelReason.{booking_id}": "x"}), NO_BOOKING)
    assert (await bot.repos.bookings.get(booking_id)).status is BookingStatus.CONFIRMED


# ------------------------------------ a Teams booking's idempotency key is no key to it (issue 10, item 5)


async def test_a_guessed_teams_idempotency_key_on_the_public_endpoint_gets_no_manage_link(bot: Bot) -> None:
    """Everything a Teams booking's key used to be made of is guessable (tenant, object id, start, length,
    email). Replaying it, or today's derivation, on the public JSON endpoint must not return the booking."""
    picker = await shared_picker(bot)
    _form, booked = await book(bot, picker)
    manage = next(a["url"] for a in nodes(booked, "Action.OpenUrl") if a["title"] == "Manage booking")
    token = manage.rsplit("/manage/", 1)[1]
    booking = await bot.repos.bookings.get(
        next(a for a in executes(booked) if a["verb"] == "booking.cancel")["data"]["bookingId"]
    )
    dana = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    link = await bot.repos.event_types.get(booking.event_type_id)
    start = utc_iso(booking.start)
    body = {
        "start": start,
        "name": booking.invitee.name,
        "email": booking.invitee.email,
        "timeZone": booking.invitee.time_zone,
        "notes": booking.invitee.notes,
        "duration": 30,
    }
    old_attempt = "\x00".join((IVAN.tenant, IVAN.aad, start, "30", IVAN.email.casefold()))
    guesses = [
        "teams:" + hashlib.sha256(old_attempt.encode()).hexdigest()[:40],
        "attempt-" + request_fingerprint(booking.start, 30, booking.invitee)[:40],
        booking.idempotency_key or "",
        (booking.idempotency_key or "").split(":", 1)[-1],
    ]
    for guess in guesses:
        resp = await bot.client.post(f"/book/{dana.handle}/{link.slug}", json=body, headers={"Idempotency-Key": guess})
        answer = await resp.text()
        assert resp.status == 409, answer  # the slot is taken; nothing about the booking that took it
        assert token not in answer and booking.id not in answer
    assert hash_token(token) == booking.manage_token_hash and token not in str(booking)
    assert (await bot.repos.bookings.get(booking.id)).status is BookingStatus.CONFIRMED
