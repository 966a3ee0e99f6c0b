"""The statelog command line, on real journals."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from statelog import AsyncStateStore, FSMSnapshot, FSMState, initial_snapshot
from statelog.cli import build_parser, main
from tests.helpers import folder_digest, journal_rows
from tests.incident import LAST, T0


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    subparsers = next(
        a for a in parser._actions if isinstance(a, type(parser._subparsers._group_actions[0]))
    )  # type: ignore[union-attr]
    names = [name for name in subparsers.choices if not name.startswith("_")]
    assert set(names) >= {
        "demo",
        "log",
        "show",
        "transitions",
        "state-at",
        "diff",
        "verify",
        "stats",
        "tail",
        "export",
        "import",
        "graph",
        "timeline",
    }
    for name in names:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert f"usage: statelog {name}" in text
        description = subparsers.choices[name].description
        assert description and len(description) > 20, name
        for action in subparsers.choices[name]._actions:
            assert action.help, f"{name} {action.dest} has no help"


def test_log_lists_events(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "log", journal)

    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["version", "recorded_at", "state", "reason"]
    assert len(lines) == LAST + 2
    assert lines[1].split()[:3] == ["0", "2026-03-01T03:00:00.000Z", "booting"]
    assert lines[-1].split()[:3] == [str(LAST), "2026-03-01T03:00:11.000Z", "error"]


def test_log_filters(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, by_state, _ = run(capsys, "log", journal, "--state", "active", "--json")
    _, by_version, _ = run(capsys, "log", journal, "--from-version", 4, "--to-version", 6, "--json")
    _, by_time, _ = run(
        capsys, "log", journal, "--since", "2026-03-01T03:00:02", "--until", f"{T0 + 3}", "--json"
    )

    assert [json.loads(x)["version"] for x in by_state.splitlines()] == [3, 4, 5, 8, 9]
    assert [json.loads(x)["version"] for x in by_version.splitlines()] == [4, 5, 6]
    assert [json.loads(x)["version"] for x in by_time.splitlines()] == [2, 3]


def test_show_prints_snapshot(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", journal, 10)

    record = json.loads(out)
    assert code == 0
    assert record["state"] == "error"
    assert record["snapshot"]["reason"] == "overheat: 91.0 C > 85.0 C"
    assert record["snapshot"]["previous_state"] == "active"


def test_show_raw_prints_stored_bytes(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["show", str(journal), "2", "--raw"])
    raw = capsys.readouterr().out

    assert code == 0
    assert raw.encode() == journal_rows(journal)[2][3] + b"\n"


def test_show_raw_prints_delta_as_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "large.db"

    async def write() -> None:
        async with AsyncStateStore(path=path) as store:
            # A snapshot over 1 KiB of JSON, so the next events are stored as deltas.
            snapshot = await store.set(
                initial_snapshot().model_copy(update={"metadata": {"note": "n" * 2000}})
            )
            await store.set(snapshot.transition(FSMState.IDLE, "ready"))

    asyncio.run(write())
    stored = journal_rows(path)[1][3]
    code = main(["show", str(path), "1", "--raw"])
    raw = capsys.readouterr().out

    assert code == 0
    assert stored.startswith(b"D")
    assert raw.encode() == stored[1:] + b"\n"
    assert json.loads(raw)["set"]["state"] == "idle"
    assert json.loads(raw)["append"]["history"][0]["reason"] == "ready"


def test_transitions_with_durations(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "transitions", journal, "--json")

    changes = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [(c["version"], c["from_state"], c["to_state"]) for c in changes] == [
        (1, "booting", "idle"),
        (3, "idle", "active"),
        (6, "active", "idle"),
        (8, "idle", "active"),
        (10, "active", "error"),
    ]
    assert changes[-1]["reason"] == "overheat: 91.0 C > 85.0 C"
    assert changes[-1]["previous_duration"] == 2.0
    assert changes[2]["previous_duration"] == 3.0


def test_state_at_version_and_times(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    by_version = json.loads(run(capsys, "state-at", journal, 7, "--json")[1])
    by_iso = json.loads(run(capsys, "state-at", journal, "2026-03-01T03:00:07.500Z", "--json")[1])
    by_naive = json.loads(run(capsys, "state-at", journal, "2026-03-01T03:00:09", "--json")[1])
    by_epoch = json.loads(run(capsys, "state-at", journal, f"@{T0 + 4}", "--json")[1])

    assert (by_version["version"], by_version["state"]) == (7, "idle")
    assert (by_iso["version"], by_iso["state"]) == (7, "idle")
    assert (by_naive["version"], by_naive["state"]) == (9, "active")
    assert (by_epoch["version"], by_epoch["state"]) == (4, "active")


def test_diff_is_json_patch(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", journal, 9, 10, "--json")

    patch = json.loads(out)
    operations = {(op["op"], op["path"]): op.get("value") for op in patch}
    assert code == 0
    assert operations[("replace", "/state")] == "error"
    assert operations[("replace", "/version")] == 10
    assert operations[("add", "/history/4")]["to_state"] == "error"


def test_verify_intact_and_damaged(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "verify", journal)
    assert code == 0
    assert out.strip() == f"intact: {LAST + 1} events checked, versions 0 to {LAST}"

    conn = sqlite3.connect(journal)
    conn.execute("UPDATE events SET recorded_at = recorded_at + 1 WHERE version = 5")
    conn.commit()
    conn.close()

    code, out, _ = run(capsys, "verify", journal)
    assert code == 1
    assert out.startswith("damaged at version 5: the hash of event 5 does not match")
    assert "(5 events before it verified)" in out


def test_stats_and_graph(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    figures = json.loads(run(capsys, "stats", journal, "--json")[1])
    _, mermaid, _ = run(capsys, "graph", journal)
    _, dot, _ = run(capsys, "graph", journal, "--format", "dot")

    assert figures["events"] == LAST + 1
    assert figures["events_per_state"] == {"booting": 1, "idle": 4, "active": 5, "error": 2}
    assert figures["seconds_per_state"]["active"] == 5.0
    assert {"from": "idle", "to": "active", "count": 2} in figures["transitions"]
    assert "    idle --> active: 2" in mermaid.splitlines()
    assert '    "active" -> "error" [label="1"];' in dot.splitlines()


def test_export_import_round_trip(
    journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exported = tmp_path / "export.jsonl"
    copy = tmp_path / "copy.db"

    assert main(["export", str(journal), "--out", str(exported)]) == 0
    assert main(["import", str(exported), "--db", str(copy)]) == 0
    capsys.readouterr()

    original, imported = journal_rows(journal), journal_rows(copy)
    assert [r[:3] for r in imported] == [r[:3] for r in original]
    exported_lines = exported.read_text().splitlines()[1:]
    assert [json.loads(r[3]) for r in imported] == [
        json.loads(x)["snapshot"] for x in exported_lines
    ]
    assert run(capsys, "verify", copy)[0] == 0

    async def read_back() -> FSMSnapshot | None:
        async with AsyncStateStore(path=copy, readonly=True) as store:
            return await store.get()

    restored = asyncio.run(read_back())
    assert restored is not None and restored.state is FSMState.ERROR


def test_import_reads_gzip_archives(
    journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exported = run(capsys, "export", journal)[1]
    archive = tmp_path / "archive.jsonl.gz"
    archive.write_bytes(gzip.compress(exported.encode()))

    code, out, _ = run(capsys, "import", archive, "--db", tmp_path / "from-gz.db")

    assert code == 0
    assert out.strip().startswith(f"imported {LAST + 1} events")


def test_export_csv(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "export", journal, "--format", "csv")

    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0
    assert len(rows) == LAST + 1
    assert rows[10]["state"] == "error"
    assert rows[10]["time_utc"] == "2026-03-01T03:00:10.000Z"
    assert json.loads(rows[10]["snapshot"])["reason"] == "overheat: 91.0 C > 85.0 C"


def test_import_rejects_malformed_line(
    journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = run(capsys, "export", journal)[1].splitlines()
    lines[5] = lines[5].replace('"recorded_at":', '"recorded_at":"soon","x":')
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines) + "\n")
    target = tmp_path / "target.db"

    code, out, err = run(capsys, "import", broken, "--db", target)

    assert code == 1
    assert (
        err == "statelog import: error: line 6: 'recorded_at' must be epoch seconds, got 'soon'\n"
    )
    assert not target.exists()
    assert sorted(folder_digest(tmp_path)) == ["broken.jsonl", "incident.db", "incident.db.lock"]


def test_import_refuses_non_empty_target(
    journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exported = tmp_path / "export.jsonl"
    main(["export", str(journal), "--out", str(exported)])
    capsys.readouterr()
    before = journal_rows(journal)

    code, _, err = run(capsys, "import", exported, "--db", journal)

    assert code == 1
    assert f"{journal} already contains {LAST + 1} events; import into a new file" in err
    assert journal_rows(journal) == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["log", "{missing}"], "statelog log: error: journal {missing} not found; check the path"),
        (["show", "{notes}", "1"], "statelog show: error: {notes} is not an SQLite database"),
        (
            ["show", "{journal}", "99"],
            "statelog show: error: version 99 is out of range: {journal} contains versions 0 to 11",
        ),
        (
            ["log", "{journal}", "--since", "yesterday"],
            "statelog log: error: invalid time 'yesterday': use ISO 8601",
        ),
        (
            ["state-at", "{journal}", "03:12 tuesday"],
            "statelog state-at: error: invalid time '03:12 tuesday'",
        ),
        (
            ["diff", "{journal}", "3", "42"],
            "statelog diff: error: version 42 not found in {journal}; it contains versions 0 to 11",
        ),
        (
            ["state-at", "{journal}", "2020-01-01"],
            "statelog state-at: error: no event was recorded at or before 2020-01-01T00:00:00.000Z",
        ),
    ],
)
def test_bad_input_is_one_line(
    journal: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("plain text, not a journal\n")
    names = {"missing": tmp_path / "missing.db", "notes": notes, "journal": journal}
    before = folder_digest(tmp_path)

    code, out, err = run(capsys, *[arg.format(**names) for arg in argv])

    assert code == 1
    assert out == "" or out.startswith("   version")
    assert err.startswith(message.format(**names)), err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert folder_digest(tmp_path) == before


def test_error_exit_in_subprocess(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "statelog.cli", "verify", str(tmp_path / "none.db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("statelog verify: error: journal ")
    assert "Traceback" not in result.stderr


def test_log_streams_while_writer_is_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "live.db"

    async def scenario() -> None:
        async with AsyncStateStore(path=path) as store:
            snapshot = await store.set(initial_snapshot())
            for _ in range(5):
                snapshot = await store.set(snapshot.transition(FSMState.ACTIVE, "tick"))
            code = await asyncio.to_thread(main, ["log", str(path), "--json"])
            assert code == 0

    asyncio.run(scenario())
    assert len(capsys.readouterr().out.splitlines()) == 6


def test_transitions_from_version_keeps_context(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "transitions", journal, "--from-version", 6, "--json")

    changes = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [c["version"] for c in changes] == [6, 8, 10]
    # active was entered at version 3 (T0 + 3) and left at version 6 (T0 + 6).
    assert changes[0]["previous_duration"] == 3.0


def test_verify_reports_damaged_head(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conn = sqlite3.connect(journal)
    conn.execute(f"UPDATE events SET recorded_at = recorded_at + 1 WHERE version = {LAST}")
    conn.commit()
    conn.close()

    code, out, _ = run(capsys, "verify", journal)
    log_code, _, log_err = run(capsys, "log", journal)

    assert code == 1
    assert out.startswith(f"damaged at version {LAST}: the hash of event {LAST} does not match")
    assert log_code == 1
    assert f"event {LAST} of {journal} fails its hash check" in log_err


def test_verify_reports_text_payload(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conn = sqlite3.connect(journal)
    # SQLite's replace() returns TEXT, so the edited payload is no longer a BLOB.
    conn.execute(
        "UPDATE events SET payload = replace(payload, 'cold start', 'warm') WHERE version = 0"
    )
    conn.commit()
    conn.close()

    code, out, _ = run(capsys, "verify", journal)

    assert code == 1
    assert out.startswith("damaged at version 0: the hash of event 0 does not match")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["log", "{journal}", "--limit", "0"], "argument --limit: must be at least 1, got 0"),
        (["tail", "{journal}", "--count", "-2"], "argument --count: must be at least 1, got -2"),
    ],
)
def test_counts_must_be_positive(
    journal: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([arg.format(journal=journal) for arg in argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["export", "{journal}", "--out", "{missing}/x.jsonl"],
            "statelog export: error: [Errno 2] No such file or directory",
        ),
        (
            ["timeline", "{journal}", "--out", "{missing}/x.html"],
            "statelog timeline: error: [Errno 2] No such file or directory",
        ),
        (
            ["log", "{journal}", "--since", "nan"],
            "statelog log: error: invalid time 'nan': epoch seconds must be a finite number",
        ),
        (
            ["transitions", "{journal}", "--from-version", "999"],
            "statelog transitions: error: version 999 is out of range",
        ),
    ],
)
def test_more_bad_input_is_one_line(
    journal: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    names = {"journal": journal, "missing": tmp_path / "no-such-folder"}
    before = journal_rows(journal)

    code, _, err = run(capsys, *[arg.format(**names) for arg in argv])

    assert code == 1
    assert err.startswith(message), err
    assert err.count("\n") == 1
    assert journal_rows(journal) == before


def test_hidden_agent_is_not_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["nosuch"])
    assert "_agent" not in capsys.readouterr().err


def test_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    path = tmp_path / "long.db"

    async def write() -> None:
        async with AsyncStateStore(path=path) as store:
            snapshot = initial_snapshot()
            # More output than a pipe buffers (64 KiB), so the writes hit the closed pipe.
            await asyncio.gather(*(store.set(snapshot) for _ in range(5000)))

    asyncio.run(write())
    reader = subprocess.Popen(
        [sys.executable, "-m", "statelog.cli", "log", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reader.stdout is not None and reader.stderr is not None
    first = reader.stdout.readline()
    reader.stdout.close()
    reader.wait(timeout=60)
    errors = reader.stderr.read()
    reader.stderr.close()

    assert first.split() == [b"version", b"recorded_at", b"state", b"reason"]
    assert reader.returncode == 0
    assert errors == b""


def test_diff_table_shows_removals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rm.db"

    async def write() -> None:
        async with AsyncStateStore(path=path) as store:
            first = await store.set(initial_snapshot().model_copy(update={"context": {"x": 1}}))
            await store.set(first.model_copy(update={"context": {}}))

    asyncio.run(write())
    code, out, _ = run(capsys, "diff", path, 0, 1)

    assert code == 0
    assert ["remove", "/context/x", "-"] in [line.split() for line in out.splitlines()]


def test_import_resolves_public_type_name(
    journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = run(capsys, "export", journal)[1].splitlines()
    headless = tmp_path / "headless.jsonl"
    headless.write_text("\n".join(lines[1:]) + "\n")
    copy = tmp_path / "copy.db"

    code = main(
        ["import", str(headless), "--db", str(copy), "--snapshot-type", "statelog.FSMSnapshot"]
    )
    capsys.readouterr()

    async def read() -> FSMSnapshot | None:
        async with AsyncStateStore(path=copy, readonly=True) as store:
            return await store.get()

    assert code == 0
    restored = asyncio.run(read())
    assert restored is not None and restored.version == LAST


def test_count_must_be_a_number(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["log", str(journal), "--limit", "abc"])
    assert "argument --limit: must be a whole number, got 'abc'" in capsys.readouterr().err
