"""Chat phrasing -> commands: every phrasing the issue lists, plus tolerance for case and filler."""

import pytest

from bot.commands import Command, CreateLink, Unknown, parse
from cards.help import COMMANDS


@pytest.mark.parametrize(
    ("text", "duration", "title", "before", "after", "notice", "window"),
    [
        ("make a 30-min link", 30, "", None, None, None, None),
        ("Make a 30 minute link", 30, "", None, None, None, None),
        ("make a half an hour link", 30, "", None, None, None, None),
        ("make a 1h link", 60, "", None, None, None, None),
        ("create a 90 minutes link", 90, "", None, None, None, None),
        ("make a 1.5 hour link", 90, "", None, None, None, None),
        ("make a 1h30 link", 90, "", None, None, None, None),
        ("new 45 minute interview link with 10 min buffer", 45, "Interview", 10, 10, None, None),
        ("create a 1h link called Demo for the next 60 days", 60, "Demo", None, None, None, 60),
        ("15 min link called Quick chat", 15, "Quick chat", None, None, None, None),
        ("make a half an hour link for interviews", 30, "Interviews", None, None, None, None),
        ("make a 30 minute link with 15 minutes after", 30, "", None, 15, None, None),
        ("make a 30 minute link with 10 min before", 30, "", 10, None, None, None),
        ("new 1h link with at least 4 hours notice for the next 3 weeks", 60, "", None, None, 240, 21),
        ("make link next 120 days", 30, "", None, None, None, 120),
        ("new 30 min link for customer calls with 2 days notice", 30, "Customer calls", None, None, 2880, None),
        ("make a 45-minute link named 'Team sync' within 2 weeks", 45, "Team sync", None, None, None, 14),
        ("create a link called Intro chat with a 5 min break after", 30, "Intro chat", None, 5, None, None),
        ("MAKE A 20 MIN LINK!", 20, "", None, None, None, None),
        ("<at>Slotwise</at> make a 20 min link", 20, "", None, None, None, None),
        ("please create a 25 min link for the next 2 months", 25, "", None, None, None, 60),
    ],
)
def test_create_link_phrasings(
    text: str, duration: int, title: str, before: int | None, after: int | None, notice: int | None, window: int | None
) -> None:
    cmd = parse(text)
    assert isinstance(cmd, CreateLink), cmd
    assert (cmd.duration, cmd.title, cmd.buffer_before, cmd.buffer_after, cmd.minimum_notice, cmd.window_days) == (
        duration,
        title,
        before,
        after,
        notice,
        window,
    )


@pytest.mark.parametrize(
    ("text", "kind", "target"),
    [
        ("help", "help", ""),
        ("HELP", "help", ""),
        ("?", "help", ""),
        ("what can you do?", "help", ""),
        ("", "help", ""),
        ("connect", "connect", ""),
        ("connect my outlook", "connect", ""),
        ("sign in", "connect", ""),
        ("disconnect", "disconnect", ""),
        ("Disconnect Outlook", "disconnect", ""),
        ("sign out", "disconnect", ""),
        ("my links", "list_links", ""),
        ("list links", "list_links", ""),
        ("show my links", "list_links", ""),
        ("links", "list_links", ""),
        ("upcoming", "upcoming", ""),
        ("my bookings", "upcoming", ""),
        ("Show upcoming bookings", "upcoming", ""),
        ("edit demo", "edit_link", "demo"),
        ("edit Quick chat", "edit_link", "quick chat"),
        ("change the demo link", "edit_link", "demo"),
        ("preview demo link", "preview_link", "demo"),
        ("preview demo", "preview_link", "demo"),
        ("delete the demo link", "delete_link", "demo"),
        ("remove demo", "delete_link", "demo"),
        ("cancel booking 2", "cancel_booking", "2"),
        ("cancel booking #3", "cancel_booking", "3"),
    ],
)
def test_simple_and_targeted_commands(text: str, kind: str, target: str) -> None:
    assert parse(text) == Command(kind, target=target)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "suggestion"), [("hlep", "help"), ("upcomng", "upcoming"), ("conect", "connect"), ("xyzzy plugh", "help")]
)
def test_anything_else_gets_the_closest_command(text: str, suggestion: str) -> None:
    cmd = parse(text)
    assert isinstance(cmd, Unknown)
    assert cmd.suggestion == suggestion


def test_every_example_the_help_card_gives_is_understood() -> None:
    """The help card teaches by example; an example the parser doesn't know would teach a dead end."""
    for _, examples in COMMANDS:
        for example in examples:
            assert not isinstance(parse(example), Unknown), example
