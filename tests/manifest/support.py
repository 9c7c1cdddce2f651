"""Test constants and the official Teams schema bundled by @microsoft/app-manifest (installed with
`npm ci --prefix tools/teams-schema`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

APP_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
DOMAIN = "slotwise.example.com"
BASE_URL = f"https://{DOMAIN}"

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "tools/teams-schema/node_modules/@microsoft/app-manifest/build/json-schemas/teams"


def official_schema(version: str) -> dict[str, Any]:
    """The bundled MicrosoftTeams.schema.json for ``version``; fails under CI when missing, else skips."""
    path = SCHEMA_DIR / f"v{version}" / "MicrosoftTeams.schema.json"
    if not path.is_file():
        message = (
            f"the official Teams manifest schema {path.relative_to(REPO)} is missing: "
            "run `npm ci --prefix tools/teams-schema`"
        )
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{message} (CI is set, so a missing schema is a failure, not a skip)")
        pytest.skip(message)
    schema: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return schema
