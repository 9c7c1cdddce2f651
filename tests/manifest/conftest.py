"""Shared fixtures: one app package built into a temporary directory, opened once per session."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from manifest.build import build
from manifest.template import PackageConfig
from tests.manifest.support import APP_ID, DOMAIN


@pytest.fixture(scope="session")
def package_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = PackageConfig.create(app_id=APP_ID, domain=DOMAIN, version="1.2.3")
    return build(config, tmp_path_factory.mktemp("package") / "slotwise.zip")


@pytest.fixture(scope="session")
def package_files(package_zip: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(package_zip) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


@pytest.fixture(scope="session")
def manifest(package_files: dict[str, bytes]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(package_files["manifest.json"].decode("utf-8"))
    return loaded
