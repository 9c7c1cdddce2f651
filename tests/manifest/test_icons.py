"""The two generated icons, read back pixel by pixel: sizes from IHDR, a transparent white-only outline
icon, a colourful opaque colour icon, and deterministic bytes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from manifest import icons
from tests.manifest.pngread import Png, decode, read_ihdr


@pytest.fixture(scope="module")
def color() -> Png:
    return decode(icons.color_icon())


@pytest.fixture(scope="module")
def outline() -> Png:
    return decode(icons.outline_icon())


def test_color_icon_is_192_by_192(package_files: dict[str, bytes]) -> None:
    assert read_ihdr(package_files["color.png"])[:2] == (192, 192)


def test_outline_icon_is_32_by_32_with_an_alpha_channel(package_files: dict[str, bytes]) -> None:
    width, height, depth, color_type = read_ihdr(package_files["outline.png"])
    assert (width, height, depth) == (32, 32, 8)
    assert color_type == 6  # truecolour with alpha


def test_packaged_icons_are_the_generated_ones(package_files: dict[str, bytes]) -> None:
    assert package_files["color.png"] == icons.color_icon()
    assert package_files["outline.png"] == icons.outline_icon()


def test_outline_background_is_fully_transparent(outline: Png) -> None:
    alphas = [px[3] for px in outline.pixels]
    corners = [outline.at(x, y)[3] for x in (0, 31) for y in (0, 31)]
    assert corners == [0, 0, 0, 0]
    assert all(outline.at(x, y)[3] == 0 for x in range(32) for y in (0, 31))  # top and bottom rows
    assert alphas.count(0) / len(alphas) > 0.4


def test_outline_foreground_is_white_only_and_not_blank(outline: Png) -> None:
    visible = [px for px in outline.pixels if px[3] > 0]
    assert {px[:3] for px in visible} == {(255, 255, 255)}
    solid = sum(1 for px in visible if px[3] == 255)
    assert solid / len(outline.pixels) > 0.15, "the outline icon is (nearly) blank"


def test_color_icon_is_opaque_and_not_a_single_flat_colour(color: Png) -> None:
    assert all(px[3] == 255 for px in color.pixels) if color.has_alpha else color.color_type == 2
    counts = Counter(px[:3] for px in color.pixels)
    major = [rgb for rgb, n in counts.items() if n / len(color.pixels) > 0.01]
    assert len(major) >= 4, f"expected a drawing, got {len(major)} main colours"
    assert counts.most_common(1)[0][1] / len(color.pixels) < 0.7


def test_color_icon_background_is_the_accent_colour(color: Png) -> None:
    accent = tuple(int(icons.accent_hex()[i : i + 2], 16) for i in (1, 3, 5))
    assert color.at(0, 0)[:3] == color.at(191, 191)[:3] == accent


def test_icons_are_deterministic() -> None:
    """Drawing again (bypassing the per-process cache) gives the same bytes."""
    assert icons.color_icon.__wrapped__() == icons.color_icon()
    assert icons.outline_icon.__wrapped__() == icons.outline_icon()


def test_icons_command_writes_both_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert icons.main([str(tmp_path)]) == 0
    assert read_ihdr((tmp_path / "color.png").read_bytes())[:2] == (192, 192)
    assert read_ihdr((tmp_path / "outline.png").read_bytes())[:2] == (32, 32)
    assert capsys.readouterr().out.split() == [str(tmp_path / "color.png"), str(tmp_path / "outline.png")]
    assert icons.main([]) == 2
