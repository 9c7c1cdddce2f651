"""Build the Teams app package: ``python -m manifest.build [--app-id GUID] [--domain HOST] [--out PATH.zip]``.

Defaults come from the environment (and an optional ``.env``) under the app's own names:
``MicrosoftAppId`` (the bot's Microsoft App ID, also the Teams app id and the SSO app id) and
``SLOTWISE_PUBLIC_BASE_URL`` (its host becomes the link-unfurling and valid domain). The version is
the installed ``slotwise`` distribution's unless ``--app-version`` says otherwise.

Writes a flat zip (``manifest.json``, ``color.png``, ``outline.png`` at the root, as Teams wants it) and
prints its path. Bad or missing values stop the build with exit code 2 and a message saying what to fix.
The zip is deterministic: the same inputs give the same bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from manifest.icons import color_icon, outline_icon
from manifest.template import COLOR_ICON, OUTLINE_ICON, ManifestConfigError, PackageConfig, build_manifest

DEFAULT_OUT = Path("build") / "slotwise-teams-app.zip"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so the zip is reproducible


class EnvDefaults(BaseSettings):
    """The two settings the package needs, read with the same names (and ``.env``) as ``app.Settings``."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    microsoft_app_id: str = Field(default="", validation_alias=AliasChoices("MicrosoftAppId", "MICROSOFT_APP_ID"))
    public_base_url: str = Field(default="", validation_alias="SLOTWISE_PUBLIC_BASE_URL")


def installed_version() -> str:
    try:
        return metadata.version("slotwise")
    except metadata.PackageNotFoundError:
        return ""


def package_files(config: PackageConfig) -> dict[str, bytes]:
    """File name -> content for the zip root."""
    manifest: dict[str, Any] = build_manifest(config)
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    return {
        "manifest.json": text.encode("utf-8"),  # UTF-8 without BOM
        COLOR_ICON: color_icon(),
        OUTLINE_ICON: outline_icon(),
    }


def write_package(files: dict[str, bytes], out: Path) -> Path:
    """Write the files flat into a zip at ``out`` (atomically: a temporary file, then rename)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    os.replace(tmp, out)
    return out


def build(config: PackageConfig, out: Path = DEFAULT_OUT) -> Path:
    return write_package(package_files(config), out)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m manifest.build",
        description="Build the Slotwise Teams app package (manifest.json + icons in a zip) to upload to Teams.",
    )
    p.add_argument("--app-id", help="the bot's Microsoft App ID (GUID); default: $MicrosoftAppId")
    p.add_argument(
        "--domain",
        help="public host name, e.g. slotwise.example.com; default: the host of $SLOTWISE_PUBLIC_BASE_URL",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"zip to write (default: {DEFAULT_OUT})")
    p.add_argument("--app-version", help="app version X.Y.Z (default: the installed slotwise version)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = EnvDefaults()
    try:
        config = PackageConfig.create(
            app_id=args.app_id if args.app_id is not None else env.microsoft_app_id,
            domain=args.domain,
            base_url=env.public_base_url,
            version=args.app_version or installed_version(),
        )
    except ManifestConfigError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
    print(build(config, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
