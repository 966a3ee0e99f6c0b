"""The HTML timeline, rendered by a real headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from statelog._timeline import PALETTE
from statelog.cli import main

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def _browse(tmp_path: Path, page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def _hex(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def test_timeline_renders_in_chromium(journal: Path, tmp_path: Path) -> None:
    page = tmp_path / "timeline.html"
    assert main(["timeline", str(journal), "--out", str(page)]) == 0
    text = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), "page loads a network resource"

    shot = tmp_path / "shot.png"
    result = _browse(tmp_path, page, f"--screenshot={shot}", "--window-size=1280,600")
    assert result.returncode == 0, result.stderr
    data = Image.open(shot).convert("RGB").tobytes()
    pixels = Counter(zip(data[0::3], data[1::3], data[2::3], strict=True))

    # States appear in this order, so they take the palette's first colours in turn.
    for state, colour in zip(["booting", "idle", "active", "error"], PALETTE, strict=False):
        found = pixels[_hex(colour)]
        assert found > 50, f"{state} lane ({colour}) not drawn: {found} pixels"


def test_timeline_tooltips_in_rendered_dom(journal: Path, tmp_path: Path) -> None:
    page = tmp_path / "timeline.html"
    assert main(["timeline", str(journal), "--out", str(page)]) == 0

    result = _browse(tmp_path, page, "--dump-dom")

    assert result.returncode == 0, result.stderr
    segments = re.findall(
        r'<rect class="segment"[^>]*data-version="(\d+)"[^>]*>'
        r"<title>([^<]*)</title>",
        result.stdout,
    )
    assert [int(version) for version, _ in segments] == [0, 1, 3, 6, 8, 10]
    error_tip = dict(segments)["10"]
    assert "error from version 10" in error_tip
    assert "reason: overheat: 91.0 C &gt; 85.0 C" in error_tip
