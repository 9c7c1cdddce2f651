"""The booking form: server-side validation of every field, errors next to their fields, input kept."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from scheduling.domain import Question
from tests.web.conftest import DEMO_PATH, DEMO_UPN, Site, text_of

pytestmark = pytest.mark.asyncio(loop_scope="session")


def field_block(html: str, name: str) -> str:
    """The .field div holding the input named ``name`` (label, input and its error)."""
    for block in re.findall(r'<div class="field">(.*?)</div>', html, re.S):
        if f'name="{name}"' in block:
            return str(block)
    raise AssertionError(f"no field {name} in the form")


async def with_questions(site: Site) -> None:
    link = await site.link()
    await site.services.repos.event_types.update(
        replace(
            link,
            questions=(
                Question("company", "Company", required=True, max_length=40),
                Question("agenda", "What should we cover?", multiline=True, max_length=300),
            ),
        )
    )


async def test_questions_are_rendered_with_their_labels(shared_site: Site) -> None:
    await with_questions(shared_site)
    start = (await shared_site.free_starts())[0]
    html, _ = await shared_site.form(DEMO_PATH, start=start, tz="UTC")
    company = field_block(html, "answer_company")
    assert '<label for="answer_company">Company</label>' in company and "required" in company
    agenda = field_block(html, "answer_agenda")
    assert "What should we cover? (optional)" in agenda and "<textarea" in agenda


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "   "}, "name", "Please enter your name."),
        ({"name": "x" * 101}, "name", "Please keep your name under 100 characters."),
        ({"name": "Bad\x07Bell"}, "name", "Your name contains characters we can't use."),
        ({"email": ""}, "email", "Please enter your email address."),
        ({"email": "ivy at example"}, "email", "That doesn't look like an email address"),
        ({"email": "ivy@@example.org"}, "email", "That doesn't look like an email address"),
        ({"notes": "n" * 2001}, "notes", "Please keep notes under 2000 characters."),
        ({"answer_company": ""}, "answer_company", "Please answer 'Company'."),
        ({"answer_company": "c" * 41}, "answer_company", "Please keep this answer under 40 characters."),
        ({"answer_agenda": "a" * 301}, "answer_agenda", "Please keep this answer under 300 characters."),
    ],
)
async def test_each_invalid_field_gets_its_error_next_to_it_and_the_input_is_kept(
    shared_site: Site, fields: dict[str, str], field: str, message: str
) -> None:
    await with_questions(shared_site)
    start = (await shared_site.free_starts())[0]
    typed = {
        "name": "Ivy Invitee",
        "email": "ivy@example.org",
        "notes": "Looking forward <3",
        "answer_company": "Contoso & Sons",
        "answer_agenda": "Line one\nLine two",
    } | fields
    resp = await shared_site.book_via_form(start, **typed)
    html = await resp.text()
    assert resp.status == 422, html
    assert "Please correct the fields marked below." in html
    block = field_block(html, field)
    assert message in text_of(block), block
    assert 'aria-invalid="true"' in block and f'aria-describedby="{field}-error"' in block
    assert f'id="{field}-error"' in block
    # only the broken field is marked
    assert html.count('aria-invalid="true"') == 1
    # everything typed is still there (escaped), and the form still targets the same slot
    for name in ("name", "email", "answer_company"):
        if name in typed and name != field:
            escaped = typed[name].replace("&", "&amp;").replace("<", "&lt;")
            assert f'value="{escaped}"' in field_block(html, name)
    if field != "notes":
        assert ">Looking forward &lt;3</textarea>" in field_block(html, "notes")
    if field != "answer_agenda":
        assert ">Line one\nLine two</textarea>" in field_block(html, "answer_agenda").replace("\r\n", "\n")
    assert f'name="start" value="{start}"' in html
    assert re.search(r'name="csrf_token" value="[0-9a-f]{64}"', html)
    assert not shared_site.emulator.cancellations
    assert [e for e in shared_site.emulator.events(DEMO_UPN) if e.get("transactionId")] == []


async def test_several_errors_at_once(shared_site: Site) -> None:
    start = (await shared_site.free_starts())[0]
    resp = await shared_site.book_via_form(start, name="", email="nope")
    html = await resp.text()
    assert resp.status == 422
    assert "Please enter your name." in text_of(field_block(html, "name"))
    assert "doesn't look like an email address" in text_of(field_block(html, "email"))


async def test_a_tampered_zone_is_replaced_not_shown_as_an_error_nobody_can_fix(site: Site) -> None:
    start = (await site.free_starts())[0]
    resp = await site.book_via_form(start, timeZone="Etc/Unknown")
    assert resp.status == 303
    booking = await site.services.booking.by_manage_token(resp.headers["Location"].split("/")[2].split("?")[0])
    assert booking.invitee.time_zone == "America/Los_Angeles"  # the host's zone, as on the page


async def test_a_malformed_start_returns_to_the_slot_list(shared_site: Site) -> None:
    _html, token = await shared_site.form(DEMO_PATH, start=(await shared_site.free_starts())[0])
    resp = await shared_site.client.post(
        DEMO_PATH,
        data={
            "csrf_token": token,
            "start": "tomorrow at 3",
            "name": "Ivy",
            "email": "ivy@example.org",
            "timeZone": "UTC",
        },
    )
    html = await resp.text()
    assert resp.status == 400 and "Please pick one of the times below." in html


async def test_a_valid_form_books_and_redirects_to_the_confirmation(site: Site) -> None:
    start = (await site.free_starts())[0]
    resp = await site.book_via_form(start, tz="Asia/Kolkata", name="Ivy Invitee", email="ivy@example.org")
    assert resp.status == 303
    location = resp.headers["Location"]
    assert re.fullmatch(r"/manage/[A-Za-z0-9_-]{40,}\?tz=Asia(%2F|/)Kolkata&booked=1", location), location
    events = [e for e in site.emulator.events(DEMO_UPN) if e.get("transactionId")]
    assert len(events) == 1
    assert events[0]["attendees"][0]["emailAddress"]["address"] == "ivy@example.org"


async def test_submitting_the_same_form_twice_books_once(site: Site) -> None:
    """A double click (or a browser retry) sends the form's idempotency key twice: one booking."""
    start = (await site.free_starts())[0]
    html, token = await site.form(DEMO_PATH, start=start, tz="UTC")
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert key, "the form carries an idempotency key"
    data = {
        "csrf_token": token,
        "start": start,
        "timeZone": "UTC",
        "name": "Ivy",
        "email": "ivy@example.org",
        "idempotency_key": key.group(1),
    }
    first = await site.client.post(DEMO_PATH, data=data, allow_redirects=False)
    second = await site.client.post(DEMO_PATH, data=data, allow_redirects=False)
    assert first.status == second.status == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert len([e for e in site.emulator.events(DEMO_UPN) if e.get("transactionId")]) == 1


async def test_a_link_typed_with_other_capitals_books_too(site: Site) -> None:
    start = (await site.free_starts())[0]
    resp = await site.book_via_form(start, path="/book/ADELE/intro-call")
    assert resp.status == 303, await resp.text()
