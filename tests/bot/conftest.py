"""Bot test fixtures: the whole sandbox app with a fake Bot Framework connector (see harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.bot.harness import Bot, migrated_database, running_bot


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_database(tmp_path_factory.mktemp("template"))


@pytest.fixture(autouse=True)
def no_ca_bundle(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every HTTP call in these tests is plain http on loopback, so the app's httpx clients need no CA
    bundle: an empty CA directory spares loading certifi's bundle three times per app start."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path_factory.getbasetemp()))
    yield


@pytest.fixture
async def bot(tmp_path: Path, template_db: Path) -> AsyncIterator[Bot]:
    async with running_bot(tmp_path, template_db) as running:
        yield running
