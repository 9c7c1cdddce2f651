"""Validation of what an invitee types: name, email, time zone, notes and answers.

Returns a cleaned :class:`~scheduling.domain.Invitee` or raises ValidationFailed naming every field
that is wrong, with a message that says how to fix it. Text is kept as typed (escaping is the
renderer's job) except that surrounding whitespace is trimmed and control characters are refused.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

from scheduling.domain import Invitee, Question
from scheduling.errors import ValidationFailed
from scheduling.timezones import is_valid_zone

MAX_NAME = 100
MAX_EMAIL = 254
MAX_NOTES = 2000

# Pragmatic address syntax: one @, a dotted domain with a 2+ letter TLD, no spaces or quotes.
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}$")


def _has_control(text: str, allow_newlines: bool) -> bool:
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
    return bool(_EMAIL.match(email)) and len(local) <= 64 and not local.startswith(".") \
        and not local.endswith(".")


def validate_invitee(name: str, email: str, time_zone: str, notes: str = "",
                     answers: Mapping[str, str] | None = None,
                     questions: Sequence[Question] = ()) -> Invitee:
    errors: dict[str, str] = {}
    name, email, notes = name.strip(), email.strip(), notes.strip()
    if not name:
        errors["name"] = "Please enter your name."
    elif len(name) > MAX_NAME:
        errors["name"] = f"Please keep your name under {MAX_NAME} characters."
    elif _has_control(name, allow_newlines=False):
        errors["name"] = "Your name contains characters we can't use."
    if not email:
        errors["email"] = "Please enter your email address."
    elif not valid_email(email):
        errors["email"] = "That doesn't look like an email address (for example name@example.com)."
    if not is_valid_zone(time_zone):
        errors["timeZone"] = f"'{time_zone}' is not a time zone we know; pick one from the list."
    if len(notes) > MAX_NOTES:
        errors["notes"] = f"Please keep notes under {MAX_NOTES} characters."
    elif _has_control(notes, allow_newlines=True):
        errors["notes"] = "Your notes contain characters we can't use."
    cleaned: dict[str, str] = {}
    given = dict(answers or {})
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
        elif _has_control(value, allow_newlines=q.multiline):
            errors[field] = "This answer contains characters we can't use."
        elif value:
            cleaned[q.id] = value
    if errors:
        raise ValidationFailed(errors)
    return Invitee(name=name, email=email, time_zone=time_zone, notes=notes, answers=cleaned)
