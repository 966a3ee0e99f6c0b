"""Smoke test of tools/bench.py: a quick run finishes and reports every row.

No timing is asserted, only that each row ran and produced positive figures.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[1] / "tools" / "bench.py"
ROWS = [
    "sequential_set",
    "commit_blocking",
    "sequential_set_thread",
    "concurrent_set",
    "get",
    "eventsourcing_write",
    "eventsourcing_replay",
    "sequential_set_full",
    "catch_up",
    "fan_out",
    "set_live_subscribers",
    "set_stalled_subscriber",
    "post_mortem",
    "state_at",
    "cli_log",
    "growth",
]
# Lines the subscriber and post-mortem rows must print, by row: (metric, target).
JUDGED_LINES = {
    "catch_up": [("events/s", ">= 0.60x")],
    "fan_out": [("deliveries/s", ">= 200,000")],
    "set_stalled_subscriber": [("p50 latency, us", "<= 1.20x"), ("p99 latency, us", "<= 1.20x")],
    "state_at": [("longest / shortest journal", "<= 1.50x")],
    "cli_log": [("first event line, s", "< 0.50"), ("child peak RSS, MiB", "<= 1.50x")],
    "growth": [("journal bytes / changed bytes", "<= 3.00")],
}
EVENTSOURCING_ROWS = {"eventsourcing_write", "eventsourcing_replay"}
# Runs the bench with `import eventsourcing` failing, as on a machine without it.
WITHOUT_EVENTSOURCING = (
    "import runpy, sys; sys.modules['eventsourcing'] = None; "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def run_bench(tmp_path: Path, *args: str, prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    out = tmp_path / "bench.json"
    command = [sys.executable, *prefix, str(BENCH), "--quick", "--json", str(out), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert result.returncode == 0, f"bench failed:\n{result.stdout}\n{result.stderr[-3000:]}"
    report: dict[str, Any] = json.loads(out.read_text())
    report["stdout"] = result.stdout
    return report


def check_measured(row: dict[str, Any]) -> None:
    assert row["skipped"] is None, f"{row['key']} skipped: {row['skipped']}"
    values = [value for metrics in row["medians"].values() for value in metrics.values()]
    assert values, f"{row['key']} has no figures"
    assert all(value > 0 for value in values), f"{row['key']}: {row['medians']}"
    assert row["lines"], f"{row['key']} printed no comparison"
    for line in row["lines"]:
        assert line["ours"] > 0, line
        assert line["base"] is None or line["base"] > 0, line
        assert line["result"] in ("", "PASS", "MISS"), line


def test_quick_bench_reports_every_row(tmp_path: Path) -> None:
    report = run_bench(tmp_path)
    rows = {row["key"]: row for row in report["rows"]}
    assert list(rows) == ROWS
    assert report["snapshot_bytes"] > 200
    assert "statelog" in report["machine"]
    assert "cpu" in report["machine"]
    has_eventsourcing = importlib.util.find_spec("eventsourcing") is not None
    for key, row in rows.items():
        if key in EVENTSOURCING_ROWS and not has_eventsourcing:
            assert row["skipped"] and "eventsourcing" in row["skipped"]
        else:
            check_measured(row)
    assert "row" in report["stdout"]
    assert "Targets:" in report["stdout"]
    for key, expected in JUDGED_LINES.items():
        judged = {(line["metric"], line["target"]) for line in rows[key]["lines"]}
        assert set(expected) <= judged, f"{key}: {sorted(judged)}"
    assert rows["fan_out"]["medians"]["statelog"]["peak_mib"] > 0
    assert any("generated through the store" in note for note in rows["post_mortem"]["notes"])


def test_bench_skips_missing_eventsourcing(tmp_path: Path) -> None:
    only = ("--only", "get", "eventsourcing_write", "eventsourcing_replay")
    report = run_bench(tmp_path, *only, prefix=("-c", WITHOUT_EVENTSOURCING))
    rows = {row["key"]: row for row in report["rows"]}
    assert list(rows) == ["get", "eventsourcing_write", "eventsourcing_replay"]
    check_measured(rows["get"])
    for key in EVENTSOURCING_ROWS:
        assert rows[key]["skipped"] and "eventsourcing" in rows[key]["skipped"]
        assert not rows[key]["lines"]
    assert "SKIPPED" in report["stdout"]
