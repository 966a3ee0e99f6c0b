"""Compaction, archives and VACUUM: old events go, the rest still verifies."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import pytest

from statelog import (
    AsyncStateStore,
    FSMSnapshot,
    FSMState,
    StateStoreError,
    VersionNotAvailableError,
)
from statelog.cli import main
from tests.helpers import journal_rows

T0 = 1772334000.0


async def _write(path: Path, ticks: int) -> list[FSMSnapshot]:
    clock = iter(T0 + n for n in range(10 * ticks + 10))
    store: AsyncStateStore[FSMSnapshot] = AsyncStateStore(path=path, clock=lambda: next(clock))
    async with store:
        snapshot = await store.initialize_if_empty()
        stored = [snapshot]
        for tick in range(ticks):
            state = FSMState.ACTIVE if tick % 4 < 2 else FSMState.IDLE
            snapshot = await store.set(snapshot.transition(state, f"tick {tick}"))
            stored.append(snapshot)
    return stored


@pytest.mark.asyncio
async def test_compact_archives_and_keeps_chain(db: Path, tmp_path: Path) -> None:
    stored = await _write(db, 200)
    archive = tmp_path / "old.jsonl.gz"

    async with AsyncStateStore(path=db) as store:
        report = await store.compact(before_version=120, archive=archive)
        verified = await store.verify()
        head = await store.get()
        queue = await store.subscribe("resume", from_version=report.anchor_version)
        first_kept = await queue.get()

    versions = [row[0] for row in journal_rows(db)]
    assert report.removed == versions[0]
    assert versions[0] <= 120
    assert versions[-1] == 200
    assert not journal_rows(db)[0][3].startswith(b"D")
    assert report.anchor_version == versions[0] - 1
    assert verified.intact
    assert verified.checked == len(versions)
    assert head == stored[-1]
    assert first_kept == stored[versions[0]]

    lines = gzip.decompress(archive.read_bytes()).decode().splitlines()
    assert json.loads(lines[0])["snapshot_type"] == "statelog._model.FSMSnapshot"
    assert [json.loads(line)["version"] for line in lines[1:]] == list(range(versions[0]))

    restored = tmp_path / "restored.db"
    assert await asyncio.to_thread(main, ["import", str(archive), "--db", str(restored)]) == 0
    async with AsyncStateStore(path=restored, readonly=True) as reader:
        replayed = [event.snapshot async for event in reader.history()]
    assert replayed == stored[: versions[0]]


@pytest.mark.asyncio
async def test_resume_before_anchor_is_rejected(db: Path) -> None:
    await _write(db, 50)
    async with AsyncStateStore(path=db) as store:
        report = await store.compact(before_version=30)
        anchor = report.anchor_version
        assert anchor is not None

        with pytest.raises(
            VersionNotAvailableError,
            match=rf"cannot resume after version 3: "
            rf"events up to version {anchor} were removed .* first available "
            rf"version is {anchor + 1}; resume from version {anchor} or later",
        ):
            await store.subscribe("late", from_version=3)
        with pytest.raises(VersionNotAvailableError, match="first available version"):
            store.follow(from_version=-1).__aiter__()
            async with store.follow(from_version=-1):
                pass
        assert (await store.get_metrics())["subscriber_count"] == 0


@pytest.mark.asyncio
async def test_compact_older_than_and_head_kept(db: Path) -> None:
    await _write(db, 30)
    async with AsyncStateStore(path=db) as store:
        by_time = await store.compact(older_than=T0 + 10)
        everything = await store.compact(before_version=10_000)

    rows = journal_rows(db)
    assert by_time.anchor_version is not None and by_time.anchor_version <= 9
    assert rows[-1][0] == 30
    assert everything.first_version is not None
    assert everything.first_version <= 30


@pytest.mark.asyncio
async def test_compact_rejects_bad_arguments(db: Path) -> None:
    await _write(db, 10)
    before = journal_rows(db)
    async with AsyncStateStore(path=db) as store:
        with pytest.raises(StateStoreError, match="pass exactly one of before_version="):
            await store.compact()
        with pytest.raises(StateStoreError, match="pass exactly one of before_version="):
            await store.compact(before_version=3, older_than=T0)
    async with AsyncStateStore(path=db, readonly=True) as reader:
        with pytest.raises(StateStoreError, match="is read-only"):
            await reader.compact(before_version=5)
    assert journal_rows(db) == before


def test_cli_compact_and_vacuum(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_write(db, 400))
    archive = tmp_path / "archive.jsonl.gz"

    assert main(["compact", str(db), "--before-version", "350", "--archive", str(archive)]) == 0
    compacted = capsys.readouterr().out
    assert main(["vacuum", str(db)]) == 0
    vacuumed = capsys.readouterr().out
    assert main(["verify", str(db)]) == 0

    assert compacted.startswith("removed ")
    assert f"archived to {archive}" in compacted
    before, after = (int(word) for word in vacuumed.split() if word.isdigit())
    assert after < before
    assert archive.exists()


def test_cli_compact_needs_stopped_writer(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(_write(db, 5))

    async def scenario() -> int:
        async with AsyncStateStore(path=db):
            return await asyncio.to_thread(main, ["compact", str(db), "--before-version", "3"])

    assert asyncio.run(scenario()) == 1
    err = capsys.readouterr().err
    assert "statelog compact: error: " in err
    assert "is already open for writing by process" in err
    assert len(journal_rows(db)) == 6


def test_cli_compact_missing_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.db"

    code = main(["compact", str(missing), "--before-version", "3"])

    assert code == 1
    assert capsys.readouterr().err == (
        f"statelog compact: error: journal {missing} not found; check the path\n"
    )
    assert list(tmp_path.iterdir()) == []
