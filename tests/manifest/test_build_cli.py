"""`python -m manifest.build`: defaults from the environment (and .env) under the app's own names, flags
override them, the zip path is printed, and bad input stops the build with exit code 2 and no zip."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

import manifest
from app import Settings
from manifest.build import DEFAULT_OUT, EnvDefaults, main
from tests.manifest.support import APP_ID, DOMAIN, REPO

OTHER_ID = "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run in an empty directory (no .env) with none of the settings set."""
    for name in ("MicrosoftAppId", "MICROSOFT_APP_ID", "SLOTWISE_PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def read_manifest(zip_path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(zip_path) as zf:
        content: dict[str, Any] = json.loads(zf.read("manifest.json"))
    return content


def test_defaults_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MicrosoftAppId", APP_ID)
    monkeypatch.setenv("SLOTWISE_PUBLIC_BASE_URL", f"https://{DOMAIN}/slotwise")
    out = tmp_path / "pkg" / "app.zip"
    assert main(["--out", str(out), "--app-version", "2.0.1"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    m = read_manifest(out)
    assert m["id"] == m["bots"][0]["botId"] == APP_ID
    assert m["version"] == "2.0.1"
    assert m["composeExtensions"][0]["messageHandlers"][0]["value"]["domains"] == [DOMAIN]
    assert m["validDomains"] == [DOMAIN, "token.botframework.com"]
    assert m["developer"]["privacyUrl"] == f"https://{DOMAIN}/slotwise/privacy"
    assert m["webApplicationInfo"]["resource"] == f"api://{DOMAIN}/botid-{APP_ID}"


def test_dotenv_is_read_like_the_app_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".env").write_text(f"MicrosoftAppId={APP_ID}\nSLOTWISE_PUBLIC_BASE_URL=https://{DOMAIN}\n")
    assert main([]) == 0
    out = tmp_path / DEFAULT_OUT
    assert capsys.readouterr().out.strip() == str(DEFAULT_OUT)
    assert read_manifest(out)["validDomains"][0] == DOMAIN


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MicrosoftAppId", APP_ID)
    monkeypatch.setenv("SLOTWISE_PUBLIC_BASE_URL", "https://old.example.com")
    out = tmp_path / "app.zip"
    assert main(["--app-id", OTHER_ID, "--domain", "new.example.org", "--out", str(out)]) == 0
    m = read_manifest(out)
    assert m["id"] == OTHER_ID
    assert m["validDomains"][0] == "new.example.org"
    assert m["developer"]["websiteUrl"] == "https://new.example.org/"


def test_version_defaults_to_the_installed_distribution(tmp_path: Path) -> None:
    from importlib import metadata

    assert main(["--app-id", APP_ID, "--domain", DOMAIN, "--out", str(tmp_path / "a.zip")]) == 0
    assert read_manifest(tmp_path / "a.zip")["version"] == metadata.version("slotwise")


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--domain", DOMAIN], {}, "error: the app id is missing"),
        (["--app-id", "nope", "--domain", DOMAIN], {}, "error: the app id 'nope' is not a GUID"),
        (["--domain", DOMAIN], {"MicrosoftAppId": "bot-123"}, "error: the app id 'bot-123' is not a GUID"),
        (["--app-id", APP_ID], {}, "error: the public domain is missing"),
        (
            ["--app-id", APP_ID, "--domain", ""],
            {"SLOTWISE_PUBLIC_BASE_URL": f"https://{DOMAIN}"},
            "error: the public domain is missing",
        ),
        (["--app-id", APP_ID, "--domain", "*.com"], {}, "error: the domain '*.com' has a wildcard"),
        (
            ["--app-id", APP_ID],
            {"SLOTWISE_PUBLIC_BASE_URL": "http://127.0.0.1:3978"},
            "error: SLOTWISE_PUBLIC_BASE_URL='http://127.0.0.1:3978' is not an https URL",
        ),
        (
            ["--app-id", APP_ID, "--domain", DOMAIN, "--app-version", "1.0"],
            {},
            "error: the app version '1.0' is not MAJOR.MINOR.PATCH",
        ),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_no_zip(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "app.zip"
    assert main([*argv, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""
    assert not out.exists()


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MicrosoftAppId", "MICROSOFT_APP_ID")}
    env["SLOTWISE_PUBLIC_BASE_URL"] = f"https://{DOMAIN}"
    env["PYTHONPATH"] = str(REPO)
    out = tmp_path / "cli.zip"
    ok = subprocess.run(
        [sys.executable, "-m", "manifest.build", "--app-id", APP_ID, "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (ok.returncode, ok.stdout.strip(), ok.stderr) == (0, str(out), "")
    bad = subprocess.run(
        [sys.executable, "-m", "manifest.build", "--app-id", "x", "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: the app id 'x' is not a GUID")


def test_environment_names_are_the_apps_own() -> None:
    ours, app = EnvDefaults.model_fields, Settings.model_fields
    assert ours["microsoft_app_id"].validation_alias == app["microsoft_app_id"].validation_alias
    assert ours["public_base_url"].validation_alias == app["public_base_url"].validation_alias


def test_manifest_package_imports_no_adapter() -> None:
    forbidden = {"graph", "storage", "bot", "web", "cards"}
    for path in Path(manifest.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            assert not {n.split(".")[0] for n in names} & forbidden, f"{path.name} imports {names}"
