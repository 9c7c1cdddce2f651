"""Validation of what an invitee types: name, email, time zone, notes and answers.

What arrives is an :class:`InviteeForm`: the fields exactly as an adapter received them (from a web form,
a JSON body or a Teams card), untrusted and not even known to be text. :func:`validate_form` returns a
cleaned :class:`~scheduling.domain.Invitee` or raises ValidationFailed naming every field that is wrong,
with a message that says how to fix it. The booking use case (``BookingService.book``) calls it itself,
so no adapter has to be trusted to. Text is kept as typed (escaping is the renderer's job) except that
surrounding whitespace is trimmed and control characters are refused.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scheduling.domain import Invitee, Question
from scheduling.errors import ValidationFailed
from scheduling.timezones import is_valid_zone

MAX_NAME = 100
MAX_EMAIL = 254
MAX_NOTES = 2000

# Pragmatic address syntax: one @, a dotted domain with a 2+ letter TLD, no spaces or quotes.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}$"
)


def has_control(text: str, allow_newlines: bool = False) -> bool:
    """Whether ``text`` holds a control or format character (bidi overrides, NUL...) other than the zero-width
    joiner of emoji sequences; tabs and line breaks count only when ``allow_newlines`` is False. Typed text
    (an invitee's, a host's) with one is refused, never silently stripped."""
    for ch in text:
        if allow_newlines and ch in "\n\r\t":
            continue
        if unicodedata.category(ch) in ("Cc", "Cf") and ch not in ("\u200d",):
            return True
    return False


def valid_email(email: str) -> bool:
    if len(email) > MAX_EMAIL or ".." in email:
        return False
    local = email.split("@", 1)[0]
    return bool(_EMAIL.match(email)) and len(local) <= 64 and not local.startswith(".") and not local.endswith(".")


@dataclass(frozen=True, slots=True)
class InviteeForm:
    """What an invitee entered, as the adapter received it: nothing about it is trusted (a JSON body may hold
    a number where text belongs). ``answers`` maps question ids to answers."""

    name: object = ""
    email: object = ""
    time_zone: object = "UTC"
    notes: object = ""
    answers: object = None


def _name_problem(name: str) -> str | None:
    if not name:
        return "Please enter your name."
    if len(name) > MAX_NAME:
        return f"Please keep your name under {MAX_NAME} characters."
    if has_control(name, allow_newlines=False):
        return "Your name contains characters we can't use."
    return None


def _email_problem(email: str) -> str | None:
    if not email:
        return "Please enter your email address."
    if not valid_email(email):
        return "That doesn't look like an email address (for example name@example.com)."
    return None


def _notes_problem(notes: str) -> str | None:
    if len(notes) > MAX_NOTES:
        return f"Please keep notes under {MAX_NOTES} characters."
    if has_control(notes, allow_newlines=True):
        return "Your notes contain characters we can't use."
    return None


_TEXT_FIELDS = (("name", _name_problem), ("email", _email_problem), ("notes", _notes_problem))


def _check(form: InviteeForm, questions: Sequence[Question]) -> tuple[Invitee, dict[str, str]]:
    errors: dict[str, str] = {}
    text: dict[str, str] = {}
    for field, problem_of in _TEXT_FIELDS:
        value = getattr(form, field)
        if not isinstance(value, str):
            errors[field], text[field] = "Must be text.", ""
            continue
        text[field] = value.strip()
        problem = problem_of(text[field])
        if problem is not None:
            errors[field] = problem
    time_zone = form.time_zone if isinstance(form.time_zone, str) else str(form.time_zone)
    if not is_valid_zone(time_zone):
        errors["timeZone"] = f"'{time_zone}' is not a time zone we know; pick one from the list."
    given: dict[str, object] = {}
    if isinstance(form.answers, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in form.answers.items()
    ):
        given = dict(form.answers)
    elif form.answers is not None:
        errors["answers"] = "Answers must map question ids to text."
    cleaned: dict[str, str] = {}
    by_id = {q.id: q for q in questions}
    for key in given:
        if key not in by_id:
            errors[f"answers.{key}"] = "This question is not part of the form."
    for q in questions:
        value = given.get(q.id, "")
        value = value.strip() if isinstance(value, str) else ""
        field = f"answers.{q.id}"
        if q.required and not value:
            errors[field] = f"Please answer '{q.label}'."
        elif len(value) > q.max_length:
            errors[field] = f"Please keep this answer under {q.max_length} characters."
        elif has_control(value, allow_newlines=q.multiline):
            errors[field] = "This answer contains characters we can't use."
        elif value:
            cleaned[q.id] = value
    invitee = Invitee(name=text["name"], email=text["email"], time_zone=time_zone, notes=text["notes"], answers=cleaned)
    return invitee, errors


def form_errors(form: InviteeForm, questions: Sequence[Question] = ()) -> dict[str, str]:
    """What is wrong with ``form`` (field -> message; empty when nothing). For an adapter that found a problem
    of its own in the same request (an unreadable start time) and reports every problem at once."""
    return _check(form, questions)[1]


def validate_form(form: InviteeForm, questions: Sequence[Question] = ()) -> Invitee:
    """The cleaned invitee; ValidationFailed naming every field that is wrong."""
    invitee, errors = _check(form, questions)
    if errors:
        raise ValidationFailed(errors)
    return invitee


def validate_invitee(
    name: str,
    email: str,
    time_zone: str,
    notes: str = "",
    answers: Mapping[str, str] | None = None,
    questions: Sequence[Question] = (),
) -> Invitee:
    """:func:`validate_form` for fields already known to be text."""
    return validate_form(InviteeForm(name, email, time_zone, notes, answers), questions)
