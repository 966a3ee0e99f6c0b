"""statelog demo: a real agent process, a real SIGKILL, a restore from disk."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import journal_rows


def test_demo_restores_after_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"

    result = subprocess.run(
        [sys.executable, "-m", "statelog.cli", "demo", "--db", str(db), "--ticks", "60"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    killed = re.search(r"run 1: agent process \d+ killed with SIGKILL after tick (\d+) of 60", out)
    assert killed, out
    restored = re.search(
        r"returned version (\d+) \((\w+)\); the last acknowledged was (\d+): restored from disk",
        out,
    )
    assert restored, out
    assert int(restored.group(1)) >= int(restored.group(3))
    assert int(killed.group(1)) >= 1
    assert "last transitions in the journal:" in out
    versions = [row[0] for row in journal_rows(db)]
    assert versions == list(range(len(versions)))
    assert versions[-1] >= 60
