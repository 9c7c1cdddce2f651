"""Headless Chromium for the browser tests: Debian's `chromium` driven by the `playwright` package through
``executable_path`` (no browser download), and axe-core (pinned in tools/axe) to check pages against WCAG 2.1 A/AA.
Missing pieces fail the test under CI and skip it elsewhere."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
INSTALL_HINT = (
    "headless Chromium is needed: `apt-get install -y chromium` (Debian, or `make chromium`) and "
    "`pip install 'playwright>=1.45,<2'` (no `playwright install`: the system Chromium is used)"
)


def chromium_path() -> str | None:
    return os.environ.get("SLOTWISE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def require_browser() -> str:
    """The Chromium executable; fails under CI and skips elsewhere when Chromium or playwright is missing."""
    path = chromium_path()
    missing = [
        what
        for what, ok in (
            ("chromium", path is not None),
            ("playwright", importlib.util.find_spec("playwright") is not None),
        )
        if not ok
    ]
    if missing:
        message = f"missing {', '.join(missing)}: {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    assert path is not None
    return path


# ------------------------------------------------------------------------------------------------ axe-core

REPO = Path(__file__).resolve().parents[1]
AXE_SCRIPT = REPO / "tools/axe/node_modules/axe-core/axe.min.js"
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
AXE_RUN = """tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})
    .then(r => ({engine: r.testEngine.version, violations: r.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help,
        targets: v.nodes.map(n => n.target.join(' ') + ' ' + n.html.slice(0, 120))}))}))"""


def axe_source() -> str:
    """axe.min.js as pinned in tools/axe (``npm ci --prefix tools/axe``); fails under CI and skips elsewhere
    when it is missing."""
    if not AXE_SCRIPT.is_file():
        message = f"{AXE_SCRIPT.relative_to(REPO)} is missing: run `npm ci --prefix tools/axe` (or `make test`)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return AXE_SCRIPT.read_text("utf-8")


async def axe_violations(page: Any, source: str) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now. The script goes in through the
    DevTools protocol (``page.evaluate``), which the page's Content-Security-Policy does not govern, so the
    policy stays as strict as in production."""
    if not await page.evaluate("typeof window.axe === 'object'"):
        await page.evaluate(source)
    result: dict[str, Any] = await page.evaluate(AXE_RUN, list(WCAG_TAGS))
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def describe(violations: list[dict[str, Any]]) -> str:
    """One block per violated rule: id, impact, help and the offending elements."""
    return "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}\n" + "\n".join(f"    {t}" for t in v["targets"]) for v in violations
    )


@asynccontextmanager
async def launched_chromium() -> AsyncIterator[Any]:
    """A headless Chromium (playwright ``Browser``) for the duration of the block."""
    executable = require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
