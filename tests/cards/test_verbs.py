"""The verb contract and the package's purity (what cards/ may import)."""

from __future__ import annotations

import ast
from pathlib import Path

from cards.verbs import ALL_VERBS, VERB_DATA, Verb, cancel_reason_input_id, is_verb
from tests.cards.checks import executes
from tests.cards.test_catalog import CATALOG

CARDS_DIR = Path(__file__).resolve().parents[2] / "cards"
FORBIDDEN = {
    "aiohttp",
    "botbuilder",
    "httpx",
    "sqlalchemy",
    "graph",
    "storage",
    "bot",
    "web",
    "msal",
    "jinja2",
    "requests",
    "socket",
    "os",
    "pathlib",
    "subprocess",
    "time",
    "random",
    "secrets",
}
ALLOWED = {
    "__future__",
    "cards",
    "scheduling",
    "collections",
    "dataclasses",
    "datetime",
    "typing",
    "re",
    "unicodedata",
    "urllib",
    "functools",
    "json",
}


def test_every_verb_has_a_data_contract() -> None:
    assert set(VERB_DATA) == set(ALL_VERBS)
    for spec in VERB_DATA.values():
        assert not spec.required & spec.optional
        assert "verb" not in spec.required | spec.optional


def test_is_verb_rejects_anything_unknown() -> None:
    assert is_verb("slots.pick")
    for value in ("slots.explode", "", None, 3, "SLOTS.PICK", " slots.pick"):
        assert not is_verb(value)


def test_every_verb_is_used_by_some_card() -> None:
    used = {a["verb"] for build in CATALOG.values() for a in executes(build())}
    unused: set[Verb] = set(ALL_VERBS) - used
    assert unused == set(), unused


def test_cancel_reason_ids_are_per_booking() -> None:
    assert cancel_reason_input_id("bk_1") != cancel_reason_input_id("bk_2")


def test_cards_imports_only_the_core_and_the_standard_library() -> None:
    for path in sorted(CARDS_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                root = name.split(".")[0]
                assert root not in FORBIDDEN, f"{path.name} imports {name}"
                assert root in ALLOWED, f"{path.name} imports {name}"
        assert ast.get_docstring(tree), f"{path.name} has no module docstring"
