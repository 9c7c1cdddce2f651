"""Headless Chromium for the browser tests: Debian's `chromium` driven by the `playwright` package through
``executable_path`` (no browser download). Missing pieces fail the test under CI and skip it elsewhere."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
INSTALL_HINT = ("headless Chromium is needed: `apt-get install -y chromium` (Debian, or `make chromium`) and "
                "`pip install 'playwright>=1.45,<2'` (no `playwright install`: the system Chromium is used)")


def chromium_path() -> str | None:
    return os.environ.get("SLOTWISE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def require_browser() -> str:
    """The Chromium executable; fails under CI and skips elsewhere when Chromium or playwright is missing."""
    path = chromium_path()
    missing = [what for what, ok in (("chromium", path is not None),
                                     ("playwright", importlib.util.find_spec("playwright") is not None)) if not ok]
    if missing:
        message = f"missing {', '.join(missing)}: {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    assert path is not None
    return path
