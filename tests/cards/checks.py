"""Checks every card built in the card tests goes through (``check_card``).

* valid against the official Adaptive Card 1.5 schema (``tests/contracts/adaptive-card-1.5.json``,
  draft-06), for the 1.3 unfurl cards too;
* for cards declaring an older version, no element, action, property or enum type newer than that
  version, using the ``version`` annotations of the same schema file (so this is not a hand list);
* unique input ids (ShowCards included), every ChoiceSet choice with a title and a comma-free value;
* every ``Action.Execute`` (and the refresh action) with a verb from ``cards.verbs``, data that repeats
  the verb and holds exactly the keys ``VERB_DATA`` allows, and an ``Action.Submit`` fallback with the
  same data; no stray ``Action.Submit``; no input id that would collide with a data key;
* at most 6 actions per action bar, no ``$data`` / ``${...}`` templating, only http(s) URLs;
* ``json.dumps(card)`` below 28 KB.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from jsonschema import Draft6Validator

from cards.verbs import ALL_VERBS, VERB_DATA
from tests.contracts import ADAPTIVE_CARD_SCHEMA

SCHEMA_PATH = ADAPTIVE_CARD_SCHEMA
SIZE_BUDGET = 28 * 1000  # bytes of UTF-8 JSON; conservative reading of "28 KB"
MAX_ACTIONS = 6


@cache
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


@cache
def validator() -> Draft6Validator:
    Draft6Validator.check_schema(schema())
    return Draft6Validator(schema())


def _version(value: str | None) -> tuple[int, ...]:
    return tuple(int(p) for p in value.split(".")) if value else (1, 0)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref.rsplit("/", 1)[-1]
        for key in ("anyOf", "allOf", "oneOf"):
            for item in node.get(key, []):
                yield from _refs(item)


@cache
def _properties(type_name: str) -> dict[str, tuple[str | None, tuple[str, ...]]]:
    """property -> (its version, referenced definition names), merged up the ``allOf`` chain."""
    defs = schema()["definitions"]
    definition = defs[type_name]
    out: dict[str, tuple[str | None, tuple[str, ...]]] = {}
    for parent in definition.get("allOf", []):
        out.update(_properties(parent["$ref"].rsplit("/", 1)[-1]))
    for key, prop in definition.get("properties", {}).items():
        if not isinstance(prop, dict) or not prop:
            continue  # "{}" means: declared by the parent definition
        out[key] = (prop.get("version"), tuple(_refs(prop)))
    return out


def features_newer_than(card: Any, limit: str) -> list[str]:
    """Every element/action type, property and referenced enum type the card uses that is newer than ``limit``."""
    defs = schema()["definitions"]
    cap = _version(limit)
    found: list[str] = []

    def visit(node: Any, path: str) -> None:
        if isinstance(node, list):
            for i, item in enumerate(node):
                visit(item, f"{path}[{i}]")
            return
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if isinstance(kind, str) and kind in defs:
            if _version(defs[kind].get("version")) > cap:
                found.append(f"{path}: {kind} needs {defs[kind]['version']}")
            props = _properties(kind)
            for key in node:
                if key not in props:
                    continue
                version, refs = props[key]
                if _version(version) > cap:
                    found.append(f"{path}.{key} needs {version}")
                for ref in refs:
                    ref_version = defs.get(ref, {}).get("version")
                    if _version(ref_version) > cap:
                        found.append(f"{path}.{key} uses {ref} ({ref_version})")
        for key, value in node.items():
            if key != "data":
                visit(value, f"{path}.{key}")

    visit(card, "$")
    return found


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict in the card (action data excluded)."""
    if isinstance(node, dict):
        yield node
        for key, value in node.items():
            if key != "data":
                yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def nodes(card: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [n for n in walk(card) if n.get("type") == kind]


def inputs(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        n
        for n in walk(card)
        if isinstance(n.get("type"), str) and n["type"].startswith("Input.") and n["type"] != "Input.Choice"
    ]


def input_by_id(card: dict[str, Any], input_id: str) -> dict[str, Any]:
    found = [n for n in inputs(card) if n.get("id") == input_id]
    assert len(found) == 1, f"input {input_id!r} found {len(found)} times"
    return found[0]


def executes(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Action.Execute, including the refresh action."""
    return nodes(card, "Action.Execute")


def texts(card: dict[str, Any]) -> list[str]:
    """All Markdown-rendered text: TextBlock text and Fact titles/values."""
    out = [n["text"] for n in nodes(card, "TextBlock")]
    for fact_set in nodes(card, "FactSet"):
        for fact in fact_set["facts"]:
            out += [fact["title"], fact["value"]]
    return out


def plain_strings(card: dict[str, Any]) -> list[str]:
    """All plain-text strings (action titles, input values and labels, choice titles)."""
    out: list[str] = []
    for n in walk(card):
        kind = n.get("type")
        if isinstance(kind, str) and kind.startswith("Action.") and "title" in n:
            out.append(n["title"])
        if isinstance(kind, str) and kind.startswith("Input."):
            out += [n[k] for k in ("value", "label", "placeholder", "title") if isinstance(n.get(k), str)]
        for choice in n.get("choices", []) if isinstance(n.get("choices"), list) else []:
            out.append(choice["title"])
    return out


def all_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from all_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from all_strings(item)


def problems(card: dict[str, Any]) -> list[str]:
    out = [f"schema: {e.json_path}: {e.message[:300]}" for e in validator().iter_errors(card)]
    version = card.get("version")
    if card.get("type") != "AdaptiveCard" or version not in ("1.5", "1.3"):
        out.append(f"top level must be an AdaptiveCard of version 1.5 or 1.3, got {version!r}")
        return out
    out += [f"newer than {version}: {f}" for f in features_newer_than(card, version)]
    size = len(json.dumps(card).encode("utf-8"))
    if size >= SIZE_BUDGET:
        out.append(f"size {size} bytes >= {SIZE_BUDGET}")

    ids = [n.get("id") for n in inputs(card)]
    if any(not isinstance(i, str) or not i for i in ids):
        out.append("an input has no id")
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        out.append(f"duplicate input ids: {sorted(map(str, dupes))}")

    for choice_set in nodes(card, "Input.ChoiceSet"):
        values = []
        for choice in choice_set.get("choices", []):
            title, value = choice.get("title"), choice.get("value")
            if not (isinstance(title, str) and title.strip()) or not (isinstance(value, str) and value):
                out.append(f"choice without title/value in {choice_set['id']}: {choice}")
            elif "," in value:
                out.append(f"choice value with a comma in {choice_set['id']}: {value!r}")
            values.append(value)
        chosen = choice_set.get("value")
        if chosen:
            parts = chosen.split(",") if choice_set.get("isMultiSelect") else [chosen]
            missing = [p for p in parts if p not in values]
            if missing:
                out.append(f"{choice_set['id']} pre-selects values that are not choices: {missing}")

    data_keys: set[str] = set()
    fallbacks = []
    for action in executes(card):
        verb, data = action.get("verb"), action.get("data")
        if verb not in ALL_VERBS:
            out.append(f"unknown verb {verb!r}")
            continue
        if not isinstance(data, dict) or data.get("verb") != verb:
            out.append(f"{verb}: data must repeat the verb: {data!r}")
            continue
        spec = VERB_DATA[verb]
        keys = set(data)
        if keys - spec.allowed:
            out.append(f"{verb}: unexpected data keys {sorted(keys - spec.allowed)}")
        if spec.required - keys:
            out.append(f"{verb}: missing data keys {sorted(spec.required - keys)}")
        if any(not isinstance(v, str | int) or isinstance(v, bool) for v in data.values()):
            out.append(f"{verb}: data values must be strings or integers: {data!r}")
        data_keys |= keys
        fallback = action.get("fallback")
        is_refresh = action is card.get("refresh", {}).get("action")
        if fallback is not None:
            fallbacks.append(fallback)
            if fallback.get("type") != "Action.Submit" or fallback.get("data") != data:
                out.append(f"{verb}: fallback must be an Action.Submit with the same data")
            if fallback.get("associatedInputs") != action.get("associatedInputs"):
                out.append(f"{verb}: fallback must associate the same inputs")
        elif not is_refresh:
            out.append(f"{verb}: Action.Execute without an Action.Submit fallback")
        if not is_refresh and not action.get("title"):
            out.append(f"{verb}: button without a title")
    stray = [s for s in nodes(card, "Action.Submit") if not any(s is f for f in fallbacks)]
    if stray and version == "1.5":
        out.append(f"{len(stray)} Action.Submit outside an Execute fallback")
    clash = {i for i in ids if i in data_keys}
    if clash:
        out.append(f"input ids collide with action data keys: {sorted(map(str, clash))}")

    for n in walk(card):
        for key in ("actions",):
            if isinstance(n.get(key), list) and len(n[key]) > MAX_ACTIONS:
                out.append(f"{len(n[key])} actions in one action bar (Teams shows about {MAX_ACTIONS})")
        if n.get("type") == "Action.OpenUrl" and not re.match(r"^https?://", n.get("url", "")):
            out.append(f"OpenUrl with a non-http(s) URL: {n.get('url')!r}")
        if n.get("type") == "TextBlock" and not str(n.get("text", "")).strip():
            out.append("empty TextBlock")
    for s in all_strings(card):
        if s == "$data" or "${" in s:
            out.append(f"templating syntax in the card: {s[:80]!r}")
    return out


def check_card(card: dict[str, Any]) -> dict[str, Any]:
    """Assert the card passes every check; returns it so tests can keep using it."""
    found = problems(card)
    assert not found, "\n".join(found)
    return card


def data_of(action: dict[str, Any]) -> dict[str, Any]:
    data = action["data"]
    assert isinstance(data, dict)
    return data


def execute_by_title(card: dict[str, Any], title: str) -> dict[str, Any]:
    found = [a for a in executes(card) if a.get("title") == title]
    assert len(found) == 1, f"{len(found)} Action.Execute titled {title!r}: {[a.get('title') for a in executes(card)]}"
    return found[0]


def unescape(text: str) -> str:
    """Undo backslash escapes (what a CommonMark renderer shows for escaped text)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)
