"""Small builders for Adaptive Card nodes, and the escaping of text typed by people.

Each function returns a fresh ``dict`` (never a shared one), leaves out properties at their default
so cards stay small, and only emits properties that exist in the official 1.5 schema. The builders
never escape on their own: callers wrap text typed by people with :func:`user_text` /
:func:`escape_markdown` explicitly, so a reader can see at each call where user text enters a card.

Markdown in Adaptive Cards: ``TextBlock.text`` and ``Fact`` titles/values are rendered with a
Markdown subset (bold, italic, lists, links), and ``{{DATE(...)}}`` / ``{{TIME(...)}}`` functions are
expanded. Input ``value``/``label``/``placeholder``, choice titles and action titles are plain text and
must *not* be escaped (the backslashes would show).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from cards.verbs import Verb

Json = dict[str, Any]


#: Teams renders at most about six actions per action bar (teams-facts §2); rows stay below that.
MAX_ACTIONS_PER_ROW = 4

CardVersion = Literal["1.5", "1.3"]

SCHEMA_URL = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION: CardVersion = "1.5"
UNFURL_VERSION: CardVersion = "1.3"
Color = Literal["default", "dark", "light", "accent", "good", "warning", "attention"]
Size = Literal["small", "default", "medium", "large", "extraLarge"]
Weight = Literal["lighter", "default", "bolder"]
Spacing = Literal["none", "small", "default", "medium", "large", "extraLarge", "padding"]
DataValue = str | int | None


# --------------------------------------------------------------------------- escaping user text

# Characters that start inline Markdown anywhere: emphasis (* _ ~), code (`), links and images ([ ]),
# autolinks (<), Adaptive Card date functions ({{), and the escape character itself.
_INLINE = re.compile(r"([\\`*_~\[\]<{}])")
# Characters that start a block construct at the beginning of a line: headings, quotes, lists, rules.
_LINE_START = re.compile(r"^(\s*)([#>+\-=|])")
_ORDERED = re.compile(r"^(\s*\d+)([.)])")
_SPACES = re.compile(r"\s+")


def strip_controls(value: str) -> str:
    """Remove control and format characters (bidi overrides, zero-width marks) except the ZWJ of emoji."""
    return "".join(ch for ch in value if ch in "\n\t" or ch == "\u200d" or unicodedata.category(ch) not in ("Cc", "Cf"))


def escape_markdown(value: str, *, multiline: bool = False) -> str:
    """``value`` made literal for a TextBlock: no emphasis, links, lists, headings or date functions.

    Single-line (the default): whitespace runs, newlines included, become one space. ``multiline``:
    line structure is kept, each line becoming its own paragraph (``"\\n\\n"``), which every renderer
    shows as a line break. Control and format characters are dropped.
    """
    cleaned = strip_controls(value.replace("\r\n", "\n").replace("\r", "\n"))
    if not multiline:
        return _escape_line(_SPACES.sub(" ", cleaned).strip())
    lines = [_SPACES.sub(" ", line).strip() for line in cleaned.split("\n")]
    return "\n\n".join(_escape_line(line) for line in lines if line)


def _escape_line(line: str) -> str:
    out = _INLINE.sub(r"\\\1", line)
    out = _LINE_START.sub(r"\1\\\2", out)
    return _ORDERED.sub(r"\1\\\2", out)


def clip(value: str, limit: int) -> str:
    """At most ``limit`` characters, with an ellipsis when cut."""
    value = value.strip()
    return value if len(value) <= limit else value[: max(limit - 1, 0)].rstrip() + "…"


def plain(value: str, limit: int) -> str:
    """Text from people for plain-text properties (action titles, input labels): one line, clipped."""
    return clip(_SPACES.sub(" ", strip_controls(value)).strip(), limit)


def user_text(value: str, limit: int = 200, *, multiline: bool = False, empty: str = "\u2014") -> str:
    """Text from people for a TextBlock or Fact: clipped to ``limit`` characters, then escaped.

    Blank text (after removing control characters) becomes ``empty`` (an em dash by default), so a
    card never shows an empty line where a name or title should be.
    """
    cleaned = strip_controls(value)
    if not multiline:
        cleaned = _SPACES.sub(" ", cleaned)
    out = escape_markdown(clip(cleaned, limit), multiline=multiline)
    return out if out.strip() else escape_markdown(empty)


# --------------------------------------------------------------------------- the card


def card(
    body: Sequence[Json],
    actions: Sequence[Json] = (),
    *,
    version: CardVersion = CARD_VERSION,
    refresh: Json | None = None,
    fallback_text: str | None = None,
) -> Json:
    """A top-level card. ``fallback_text`` (plain text, escaped here) is shown by clients older than ``version``."""
    out: Json = {"type": "AdaptiveCard", "$schema": SCHEMA_URL, "version": version, "body": list(body)}
    if actions:
        out["actions"] = list(actions)
    if refresh is not None:
        out["refresh"] = refresh
    if fallback_text:
        out["fallbackText"] = escape_markdown(fallback_text)  # rendered as Markdown by old clients
    return out


def sub_card(body: Sequence[Json], actions: Sequence[Json] = ()) -> Json:
    """The card inside an ``Action.ShowCard`` (no version: it inherits the parent's)."""
    out: Json = {"type": "AdaptiveCard", "body": list(body)}
    if actions:
        out["actions"] = list(actions)
    return out


# --------------------------------------------------------------------------- elements


def text(
    value: str,
    *,
    weight: Weight | None = None,
    size: Size | None = None,
    color: Color | None = None,
    subtle: bool = False,
    spacing: Spacing | None = None,
    separator: bool = False,
    wrap: bool = True,
    heading: bool = False,
) -> Json:
    """A TextBlock. ``value`` is Markdown: escape anything typed by people before passing it in."""
    out: Json = {"type": "TextBlock", "text": value}
    if wrap:
        out["wrap"] = True
    if weight:
        out["weight"] = weight
    if size:
        out["size"] = size
    if color:
        out["color"] = color
    if subtle:
        out["isSubtle"] = True
    if spacing:
        out["spacing"] = spacing
    if separator:
        out["separator"] = True
    if heading:
        out["style"] = "heading"
    return out


def title(value: str) -> Json:
    """The card's headline (already escaped if it holds user text)."""
    return text(value, weight="bolder", size="large", heading=True)


def field_error(message: str) -> Json:
    """A validation message shown right under its input."""
    return text(escape_markdown(message), color="attention", size="small", spacing="none")


def facts(pairs: Iterable[tuple[str, str]]) -> Json:
    """A FactSet; titles and values are Markdown (escape user text first)."""
    return {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in pairs]}


def container(
    items: Sequence[Json],
    *,
    style: Literal["default", "emphasis", "good", "attention", "warning", "accent"] | None = None,
    separator: bool = False,
    spacing: Spacing | None = None,
) -> Json:
    out: Json = {"type": "Container", "items": list(items)}
    if style:
        out["style"] = style
    if separator:
        out["separator"] = True
    if spacing:
        out["spacing"] = spacing
    return out


def action_set(actions: Sequence[Json], *, spacing: Spacing | None = None) -> Json:
    out: Json = {"type": "ActionSet", "actions": list(actions)}
    if spacing:
        out["spacing"] = spacing
    return out


def action_rows(
    actions: Sequence[Json], per_row: int = MAX_ACTIONS_PER_ROW, spacing: Spacing | None = "small"
) -> list[Json]:
    """Buttons laid out as several ActionSets of at most ``per_row`` each (Teams drops extra actions)."""
    return [action_set(actions[i : i + per_row], spacing=spacing) for i in range(0, len(actions), per_row)]


# --------------------------------------------------------------------------- actions


def _data(verb: Verb, data: Mapping[str, DataValue] | None) -> dict[str, str | int]:
    out: dict[str, str | int] = {"verb": verb}
    for key, value in (data or {}).items():
        if value is not None:
            out[key] = value
    return out


def execute(
    label: str,
    verb: Verb,
    data: Mapping[str, DataValue] | None = None,
    *,
    submit_inputs: bool = True,
    style: Literal["positive", "destructive"] | None = None,
    fallback: bool = True,
) -> Json:
    """An ``Action.Execute`` with ``data = {"verb": verb, **data}`` (``None`` values dropped).

    ``submit_inputs=False`` sets ``associatedInputs: "none"``: required inputs on the card are then
    neither validated nor sent (Back / Cancel buttons on forms). ``fallback`` adds an ``Action.Submit``
    with the same data for clients without Universal Actions.
    """
    payload = _data(verb, data)
    out: Json = {"type": "Action.Execute", "title": label, "verb": verb, "data": payload}
    if not submit_inputs:
        out["associatedInputs"] = "none"
    if style:
        out["style"] = style
    if fallback:
        submit: Json = {"type": "Action.Submit", "title": label, "data": dict(payload)}
        if not submit_inputs:
            submit["associatedInputs"] = "none"
        out["fallback"] = submit
    return out


def refresh_action(verb: Verb, data: Mapping[str, DataValue], *, automatic: bool) -> Json:
    """A card ``refresh``. ``automatic``: omit ``userIds`` so every viewer's client (in chats of up to
    60 people) refreshes on open; otherwise ``userIds: []`` leaves only the manual "Refresh" menu item."""
    out: Json = {"action": {"type": "Action.Execute", "verb": verb, "data": _data(verb, data)}}
    if not automatic:
        out["userIds"] = []
    return out


def open_url(label: str, url: str) -> Json:
    return {"type": "Action.OpenUrl", "title": label, "url": url}


def show_card(label: str, body: Sequence[Json], actions: Sequence[Json] = ()) -> Json:
    return {"type": "Action.ShowCard", "title": label, "card": sub_card(body, actions)}


# --------------------------------------------------------------------------- inputs


def input_text(
    input_id: str,
    label: str,
    value: str = "",
    *,
    placeholder: str = "",
    multiline: bool = False,
    required: bool = False,
    error_message: str = "",
    max_length: int | None = None,
    style: Literal["text", "tel", "url", "email"] | None = None,
    regex: str = "",
) -> Json:
    out: Json = {"type": "Input.Text", "id": input_id, "label": label}
    if value:
        out["value"] = value
    if placeholder:
        out["placeholder"] = placeholder
    if multiline:
        out["isMultiline"] = True
    if required:
        out["isRequired"] = True
    if error_message:
        out["errorMessage"] = error_message
    if max_length is not None:
        out["maxLength"] = max_length
    if style:
        out["style"] = style
    if regex:
        out["regex"] = regex
    return out


def input_number(
    input_id: str,
    label: str,
    value: float | None = None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    placeholder: str = "",
    error_message: str = "",
    required: bool = False,
) -> Json:
    out: Json = {"type": "Input.Number", "id": input_id, "label": label}
    if value is not None:
        out["value"] = value
    if minimum is not None:
        out["min"] = minimum
    if maximum is not None:
        out["max"] = maximum
    if placeholder:
        out["placeholder"] = placeholder
    if error_message:
        out["errorMessage"] = error_message
    if required:
        out["isRequired"] = True
    return out


def input_date(input_id: str, label: str, value: str = "", *, error_message: str = "") -> Json:
    out: Json = {"type": "Input.Date", "id": input_id, "label": label}
    if value:
        out["value"] = value
    if error_message:
        out["errorMessage"] = error_message
    return out


def choice_set(
    input_id: str,
    label: str,
    choices: Sequence[tuple[str, str]],
    value: str = "",
    *,
    multi: bool = False,
    expanded: bool = False,
    required: bool = False,
    error_message: str = "",
) -> Json:
    """An Input.ChoiceSet; ``choices`` are (title, value) pairs, and values must not contain commas."""
    out: Json = {
        "type": "Input.ChoiceSet",
        "id": input_id,
        "label": label,
        "choices": [{"title": t, "value": v} for t, v in choices],
    }
    if value:
        out["value"] = value
    if multi:
        out["isMultiSelect"] = True
    out["style"] = "expanded" if expanded else "compact"
    if required:
        out["isRequired"] = True
    if error_message:
        out["errorMessage"] = error_message
    return out


def toggle(input_id: str, label: str, title_text: str, on: bool) -> Json:
    return {
        "type": "Input.Toggle",
        "id": input_id,
        "label": label,
        "title": title_text,
        "value": "true" if on else "false",
        "valueOn": "true",
        "valueOff": "false",
    }
