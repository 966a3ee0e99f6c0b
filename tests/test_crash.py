"""Crash tests: SIGKILL a writer at random moments, then check the journal it left.

The kills run through tools/crashtest.py. The other tests prove that its check
reports each kind of damage, so that a passing crash run means something.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from types import ModuleType

import pytest

from statelog import AsyncStateStore, FSMState, initial_snapshot

TOOL = Path(__file__).resolve().parents[1] / "tools" / "crashtest.py"
EVENTS = 10


def load_crashtest() -> ModuleType:
    spec = importlib.util.spec_from_file_location("crashtest", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their class's module up in sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


crashtest = load_crashtest()


async def write_journal(path: Path, count: int) -> None:
    async with AsyncStateStore(path=path) as store:
        snapshot = await store.set(initial_snapshot())
        for _ in range(count - 1):
            snapshot = await store.set(snapshot.transition(FSMState.ACTIVE, "test"))


def execute(path: Path, sql: str) -> None:
    with closing(sqlite3.connect(path)) as connection:
        connection.execute(sql)
        connection.commit()


def run_tool(*options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(TOOL), *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("durability", ["normal", "full"])
def test_acknowledged_sets_survive_sigkill(db: Path, durability: str) -> None:
    options = ["--kills=3", "--seed=5", "--max-acks=150", f"--durability={durability}"]

    result = run_tool(*options, f"--db={db}", "--json")

    assert result.returncode == 0, result.stderr
    *rounds, last = [json.loads(line) for line in result.stdout.splitlines()]
    summary = last["summary"]
    assert [report["round"] for report in rounds] == [1, 2, 3]
    for report in rounds:
        assert report["problems"] == [], report
        assert report["chain_verified"], report
        assert report["found"] >= report["acknowledged"], report
    for before, after in zip(rounds, rounds[1:], strict=False):
        if after["resumed_from"] is not None:
            assert after["resumed_from"] == before["next_head"]
    assert summary["violations"] == 0
    assert summary["acknowledged"] == sum(report["acknowledged"] for report in rounds)
    assert summary["acknowledged"] > 0
    assert crashtest.read_events(db)[-1].version == summary["head"]


def test_violation_exits_with_message(db: Path) -> None:
    db.write_text("not a journal\n")

    result = run_tool("--kills=2", "--seed=5", f"--db={db}")

    assert result.returncode == 1
    assert result.stdout == ""
    assert "crashtest: VIOLATION in round 1: the child exited with code 1" in result.stderr
    assert "JournalFormatError" in result.stderr
    assert f"crashtest: journal kept for inspection at {db}" in result.stderr


TAMPERING = {
    "last event deleted": (
        "DELETE FROM events WHERE version = 9",
        ["1 acknowledged version missing from the journal: 9"],
    ),
    "middle event deleted": (
        "DELETE FROM events WHERE version = 4",
        [
            "versions jump from 3 to 5",
            "event 5 does not match its hash chained from event 3",
            "1 acknowledged version missing from the journal: 4",
        ],
    ),
    "time altered": (
        "UPDATE events SET recorded_at = recorded_at + 1 WHERE version = 4",
        ["event 4 does not match its hash chained from event 3"],
    ),
    "first hash altered": (
        "UPDATE events SET hash = zeroblob(32) WHERE version = 0",
        [
            "event 0 does not match its hash chained from the genesis hash",
            "event 1 does not match its hash chained from event 0",
        ],
    ),
}


@pytest.mark.asyncio
@pytest.mark.parametrize(("sql", "expected"), list(TAMPERING.values()), ids=list(TAMPERING))
async def test_check_reports_tampered_copy(
    db: Path, tmp_path: Path, sql: str, expected: list[str]
) -> None:
    await write_journal(db, EVENTS)
    copy = tmp_path / "copy.db"
    shutil.copyfile(db, copy)
    execute(copy, sql)

    intact = await crashtest.check_journal(db, range(EVENTS), "normal")
    tampered = await crashtest.check_journal(copy, range(EVENTS), "normal")

    assert intact.problems == []
    assert intact.head == EVENTS - 1
    assert intact.next_head == EVENTS
    assert tampered.problems == expected


@pytest.mark.asyncio
async def test_check_reports_held_writer_lock(db: Path) -> None:
    await write_journal(db, EVENTS)

    async with AsyncStateStore(path=db):
        check = await crashtest.check_journal(db, range(EVENTS), "normal")

    assert len(check.problems) == 1
    assert check.problems[0].startswith("the writer lock is still held after the kill: ")
    assert check.chain_verified
    assert check.next_head is None


@pytest.mark.asyncio
async def test_check_reports_stale_projection(db: Path) -> None:
    await write_journal(db, EVENTS)
    events = crashtest.read_events(db)
    stale = crashtest.replay_last(events[:-1])

    problems = crashtest.projection_problems(stale, events)

    assert problems == [
        "the reopened store's snapshot differs from decoded event 9",
        "the reopened store is at version 8, the journal's maximum version is 9",
    ]


def test_child_problems_reports_bad_resume() -> None:
    run = crashtest.ChildRun(opened_at=5, acknowledged=[6, 7, 7, 5])

    problems = crashtest.child_problems(run, expected_open=4)

    assert problems == [
        "the child reopened at version 5, expected 4",
        "versions acknowledged twice: 7",
        "versions acknowledged at or below the reopened version 5: 5",
    ]
