"""Editing a link in the settings card: every error shown at once and nothing saved until all are fixed."""

from __future__ import annotations

from typing import Any

from scheduling.domain import EventType
from tests.bot.harness import DANA, Bot, form_values
from tests.cards.checks import execute_by_title, input_by_id, texts


async def _demo(bot: Bot) -> tuple[EventType, dict[str, Any]]:
    created = await bot.card(DANA, "create a 1h link called Demo")
    editor = await bot.execute(DANA, execute_by_title(created, "Edit"))
    user = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    [link] = await bot.runtime.bot.deps.links.list(user)
    return link, editor


async def test_invalid_settings_show_every_error_and_save_nothing(bot: Bot) -> None:
    link, editor = await _demo(bot)
    values = form_values(
        editor,
        durations="half an hour",
        **{"weekly_hours.monday": "9-5"},
        time_zone="Mars/Olympus",
        minimum_notice="soon",
        title="Renamed",
    )
    after = await bot.execute(DANA, execute_by_title(editor, "Save"), values)

    shown = texts(after)
    assert "Nothing was saved yet: please fix 4 fields marked below." in shown
    assert any("'half an hour' is not a length of time" in t for t in shown)
    assert any("'9-5' is not a time range" in t for t in shown)
    assert any("'Mars/Olympus' is not a time zone" in t for t in shown)
    assert any("'soon' is not a length of time" in t for t in shown)
    assert input_by_id(after, "title")["value"] == "Renamed"  # what was typed is kept
    assert input_by_id(after, "time_zone")["value"] == "Mars/Olympus"
    stored = await bot.repos.event_types.get(link.id)
    assert stored == link  # nothing saved, not even the valid title


async def test_valid_settings_are_saved(bot: Bot) -> None:
    link, editor = await _demo(bot)
    values = form_values(
        editor,
        title="Demo call",
        durations="30, 60",
        buffer_after="15",
        **{"weekly_hours.friday": "", "weekly_hours.monday": "09:00-12:00, 13:00-17:00"},
        time_zone="W. Europe Standard Time",
        daily_cap="3",
    )
    saved = await bot.execute(DANA, execute_by_title(editor, "Save"), values)

    assert texts(saved)[:2] == ["Saved", "Demo call"]
    stored = await bot.repos.event_types.get(link.id)
    assert stored.title == "Demo call"
    assert stored.rules.durations == (30, 60)
    assert stored.rules.buffer_after == 15
    assert stored.rules.daily_cap == 3
    assert stored.rules.time_zone == "Europe/Berlin"
    assert stored.rules.availability.weekly[4] == ()
    assert len(stored.rules.availability.weekly[0]) == 2
    assert stored.version == link.version + 1
    assert stored.slug == link.slug  # the URL people already have keeps working


async def test_saving_a_form_opened_before_another_save_keeps_the_entries_and_saves_nothing(bot: Bot) -> None:
    link, editor = await _demo(bot)
    await bot.execute(DANA, execute_by_title(editor, "Save"), form_values(editor, title="First save"))
    stale = await bot.execute(DANA, execute_by_title(editor, "Save"), form_values(editor, title="Second save"))
    assert any("changed somewhere else" in t for t in texts(stale))
    assert input_by_id(stale, "title")["value"] == "Second save"
    stored = await bot.repos.event_types.get(link.id)
    assert stored.title == "First save"
    again = await bot.execute(DANA, execute_by_title(stale, "Save"), form_values(stale))
    assert texts(again)[:2] == ["Saved", "Second save"]


async def test_cancel_shows_the_link_again(bot: Bot) -> None:
    _link, editor = await _demo(bot)
    card = await bot.execute(DANA, execute_by_title(editor, "Cancel"))
    assert texts(card)[:2] == ["Your link", "Demo"]


async def test_first_run_adjust_sets_zone_and_hours_on_every_link(bot: Bot) -> None:
    link, _editor = await _demo(bot)
    first_run = await bot.card(DANA, "connect")
    adjust = next(a for a in first_run["actions"] if a.get("title") == "Adjust")["card"]
    save = execute_by_title(adjust, "Save")

    bad = await bot.execute(DANA, save, {"profile.time_zone": "Nowhere/City", "profile.hours": "weekdays 9 to 5"})
    assert texts(bad)[0] == "Nothing was saved yet"
    assert any("Time zone:" in t for t in texts(bad)) and any("Working hours:" in t for t in texts(bad))
    assert (await bot.repos.event_types.get(link.id)) == link

    good = await bot.execute(
        DANA, save, {"profile.time_zone": "America/New_York", "profile.hours": "Mon-Thu 10:00-16:00"}
    )
    assert texts(good)[0] == "Saved"
    stored = await bot.repos.event_types.get(link.id)
    assert stored.rules.time_zone == "America/New_York"
    assert stored.rules.availability.weekly[4] == ()
    user = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    assert user.time_zone == "America/New_York"
