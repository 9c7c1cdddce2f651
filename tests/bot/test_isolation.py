"""Ids in card data are not capabilities: nobody can see or change another user's links or bookings by
replaying or forging card data, and the same Entra object id in another tenant is another user."""

from __future__ import annotations

from typing import Any

import pytest

from scheduling.domain import BookingStatus
from tests.bot.harness import DANA, EVE, IVAN, MALLORY, Bot, form_values
from tests.bot.test_booking import book, shared_picker
from tests.cards.checks import execute_by_title, executes, texts

Json = dict[str, Any]
NO_LINK = "No such link."
NO_BOOKING = "No such booking, or it isn't yours to change."


async def _dana_link(bot: Bot) -> tuple[Json, Json]:
    created = await bot.card(DANA, "create a 1h link called Demo")
    editor = await bot.execute(DANA, execute_by_title(created, "Edit"))
    return created, editor


def _refused(card: Json, message: str) -> None:
    assert texts(card)[0] == "Something went wrong"
    assert message in texts(card)


@pytest.mark.parametrize("who", [MALLORY, EVE])
async def test_someone_elses_link_id_is_refused(bot: Bot, who: Any) -> None:
    created, editor = await _dana_link(bot)
    user = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    [before] = await bot.repos.event_types.list_for_owner(DANA.tenant, user.id)

    for title in ("Edit", "Preview", "Delete link"):
        _refused(await bot.execute(who, execute_by_title(created, title)), NO_LINK)
    _refused(await bot.execute(who, execute_by_title(editor, "Save"), form_values(editor, title="Mine now")),
             NO_LINK)
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
    move = {"verb": "booking.move", "data": {"verb": "booking.move", "bookingId": booking_id,
                                             "start": "2030-01-07T10:00:00Z", "tz": "UTC"}}
    _refused(await bot.execute(MALLORY, move), NO_BOOKING)
    forged = {"verb": "booking.cancel", "data": {"verb": "booking.cancel", "bookingId": booking_id,
                                                 "reasonInputId": "cancelReason.other"}}
    assert "This Cancel button doesn't belong to this booking." in texts(await bot.execute(IVAN, forged))

    booking = await bot.repos.bookings.get(booking_id)
    assert booking.status is BookingStatus.CONFIRMED
    upcoming = await bot.card(MALLORY, "upcoming")
    assert any("Nothing booked yet" in t for t in texts(upcoming))
    refused = await bot.card(MALLORY, f"cancel booking {booking_id}")
    assert any("no upcoming booking" in t for t in texts(refused))
