"""Bad input and faults: each gets a clear error and leaves the journal as it was."""

from __future__ import annotations

import asyncio
import math
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from statelog import (
    AsyncStateStore,
    FSMSnapshot,
    JournalCorruptError,
    JournalFormatError,
    JournalLockedError,
    JournalWriteError,
    SnapshotError,
)
from tests.helpers import folder_digest, journal_rows
from tests.models import Counter, MutableCounter, Reading, Unversioned


async def _write_counters(db: Path, count: int) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Counter) as store:
        for number in range(count):
            await store.set(Counter(count=number))


@pytest.mark.asyncio
async def test_wrong_type_is_rejected(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Counter) as store:
        await store.set(Counter())
        before = journal_rows(db)

        with pytest.raises(
            SnapshotError,
            match=r"cannot store a tests\.models\.Reading: this "
            r"store contains tests\.models\.Counter snapshots",
        ):
            await store.set(Reading())  # type: ignore[arg-type]

        assert journal_rows(db) == before
        assert await store.get() == Counter(version=0)


@pytest.mark.asyncio
async def test_value_that_does_not_round_trip(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Reading) as store:
        await store.set(Reading(value=1.5))
        before = journal_rows(db)

        with pytest.raises(SnapshotError, match=r"field 'value' does not survive encoding"):
            await store.set(Reading(value=math.nan))

        assert journal_rows(db) == before
        assert (await store.set(Reading(value=2.5))).version == 1


def test_mutable_dataclass_type_is_rejected(db: Path) -> None:
    with pytest.raises(SnapshotError, match="MutableCounter is not frozen"):
        AsyncStateStore(path=db, snapshot_type=MutableCounter)
    assert not db.exists()


def test_type_without_version_is_rejected(db: Path) -> None:
    with pytest.raises(SnapshotError, match="has no 'version' field"):
        AsyncStateStore(path=db, snapshot_type=Unversioned)
    assert not db.exists()


@pytest.mark.asyncio
async def test_not_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are not the bytes of a database\n" * 100)
    before = folder_digest(tmp_path)

    with pytest.raises(JournalFormatError, match=r"notes\.txt is not an SQLite database"):
        await AsyncStateStore.open(path=path)

    assert folder_digest(tmp_path) == before


@pytest.mark.asyncio
async def test_sqlite_file_of_another_program(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    before = folder_digest(tmp_path)

    with pytest.raises(JournalFormatError, match=r"is an SQLite database but not a statelog"):
        await AsyncStateStore.open(path=path)

    after = folder_digest(tmp_path)
    after.pop("app.db.lock", None)
    assert after == before


@pytest.mark.asyncio
async def test_journal_from_newer_statelog(db: Path) -> None:
    await _write_counters(db, 3)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = folder_digest(db.parent)

    with pytest.raises(JournalFormatError, match="schema 99, written by a newer statelog"):
        await AsyncStateStore.open(path=db, snapshot_type=Counter)

    assert folder_digest(db.parent) == before


@pytest.mark.asyncio
async def test_journal_of_another_snapshot_type(db: Path) -> None:
    await _write_counters(db, 3)
    before = folder_digest(db.parent)

    with pytest.raises(
        JournalFormatError,
        match=r"contains tests\.models\.Counter snapshots, not "
        r"statelog\._model\.FSMSnapshot; pass that class as snapshot_type \(its module and name "
        r"must match\)",
    ):
        await AsyncStateStore.open(path=db)

    assert folder_digest(db.parent) == before


@pytest.mark.asyncio
async def test_last_event_fails_hash_check(db: Path) -> None:
    await _write_counters(db, 5)
    conn = sqlite3.connect(db)
    conn.execute(
        "UPDATE events SET payload = ? WHERE version = 4",
        (b'{"version":4,"state":"idle","count":1000}',),
    )
    conn.commit()
    conn.close()
    before = folder_digest(db.parent)

    with pytest.raises(JournalCorruptError, match="event 4 of .* fails its hash check"):
        await AsyncStateStore.open(path=db, snapshot_type=Counter)

    assert folder_digest(db.parent) == before


@pytest.mark.asyncio
async def test_readonly_missing_file(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"journal .*missing\.db not found"):
        await AsyncStateStore.open(path=tmp_path / "missing.db", readonly=True)
    assert list(tmp_path.iterdir()) == []


_HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from statelog import AsyncStateStore

    async def main():
        async with AsyncStateStore(path=sys.argv[1]) as store:
            await store.initialize_if_empty()
            print("ready", flush=True)
            await asyncio.to_thread(sys.stdin.readline)

    asyncio.run(main())
    """
)


@pytest.mark.asyncio
async def test_second_writer_process_is_rejected(db: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "ready"
        before = journal_rows(db)

        with pytest.raises(
            JournalLockedError,
            match=rf"journal\.db is already open for writing "
            rf"by process {holder.pid}",
        ):
            await AsyncStateStore.open(path=db)

        async with AsyncStateStore(path=db, readonly=True) as reader:
            snapshot = await reader.get()
        assert snapshot is not None and snapshot.version == 0
        assert journal_rows(db) == before
    finally:
        if holder.stdin is not None:
            holder.stdin.write("\n")
            holder.stdin.close()
        holder.wait(timeout=30)
        if holder.stdout is not None:
            holder.stdout.close()
    assert holder.returncode == 0


@pytest.mark.asyncio
async def test_second_writer_in_same_process(db: Path) -> None:
    async with AsyncStateStore(path=db) as first:
        await first.initialize_if_empty()
        with pytest.raises(JournalLockedError, match="already open for writing"):
            await AsyncStateStore.open(path=db)
        assert (await first.get()) is not None


@pytest.mark.asyncio
async def test_readonly_store_rejects_set(db: Path) -> None:
    await _write_counters(db, 1)
    async with AsyncStateStore(path=db, snapshot_type=Counter, readonly=True) as reader:
        with pytest.raises(Exception, match="is read-only; open it without readonly=True"):
            await reader.set(Counter())
    assert len(journal_rows(db)) == 1


def _fill_disk(store: AsyncStateStore[Any]) -> None:
    """Make the next commit fail with SQLITE_FULL.

    A full disk cannot be made safely on a shared machine, so this caps the file
    at its current page count through SQLite itself; SQLite then fails the write
    exactly as it does when the disk is full. It reaches into the writer connection.
    """
    writer = store._journal._writer
    assert writer is not None
    pages = writer.execute("PRAGMA page_count").fetchone()[0]
    writer.execute(f"PRAGMA max_page_count = {pages}")


def _free_disk(store: AsyncStateStore[Any]) -> None:
    writer = store._journal._writer
    assert writer is not None
    writer.execute("PRAGMA max_page_count = 1073741823")


@pytest.mark.asyncio
@pytest.mark.parametrize("commit_in_thread", [False, True])
async def test_write_failure_keeps_projection(db: Path, commit_in_thread: bool) -> None:
    # Random hex does not compress, so the events really need the pages that are capped.
    big = os.urandom(10_000).hex()
    async with AsyncStateStore(
        path=db, snapshot_type=Reading, commit_in_thread=commit_in_thread
    ) as store:
        committed = await store.set(Reading(note="small"))
        queue = await store.subscribe("watcher")
        assert await queue.get() == committed
        before = journal_rows(db)
        _fill_disk(store)

        results = await asyncio.gather(
            *(store.set(Reading(note=big)) for _ in range(3)), return_exceptions=True
        )

        assert all(isinstance(result, JournalWriteError) for result in results), results
        assert "database or disk is full" in str(results[0])
        assert await store.get() == committed
        assert queue.empty()
        assert journal_rows(db) == before
        health = await store.health_check()
        assert health["healthy"] is False
        assert "disk is full" in health["issues"][0]

        _free_disk(store)
        recovered = await store.set(Reading(note=big))
        assert recovered.version == 1
        assert await queue.get() == recovered
        assert (await store.health_check())["healthy"] is True
    assert [row[0] for row in journal_rows(db)] == [0, 1]


class _CommitGate:
    """Hold the writer inside append() until the test lets it go.

    The worker thread waits here so that a caller can be cancelled while its
    event is being committed; the commit itself is real.
    """

    def __init__(self, store: AsyncStateStore[Any]) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        journal = store._journal
        original = journal.append

        def gated(rows: Any) -> None:
            self.entered.set()
            self.release.wait(timeout=30)
            original(rows)

        journal.append = gated  # type: ignore[method-assign]


def _own_threads() -> list[str]:
    """Name the live threads, leaving out the loop's default executor (asyncio.to_thread)."""
    return [t.name for t in threading.enumerate() if not t.name.startswith("asyncio_")]


@pytest.mark.asyncio
async def test_cancel_during_commit_commits_whole(db: Path) -> None:
    threads_before = _own_threads()
    async with AsyncStateStore(path=db, snapshot_type=Counter, commit_in_thread=True) as store:
        gate = _CommitGate(store)
        caller = asyncio.create_task(store.set(Counter(count=1)))
        await asyncio.to_thread(gate.entered.wait, 30)

        caller.cancel()
        gate.release.set()
        with pytest.raises(asyncio.CancelledError):
            await caller

        follow_up = await store.set(Counter(count=2))
        assert follow_up.version == 1
        assert await store.get() == follow_up
    assert [row[0] for row in journal_rows(db)] == [0, 1]
    assert _own_threads() == threads_before


@pytest.mark.asyncio
async def test_cancel_before_writer_takes_it(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Counter, commit_in_thread=True) as store:
        gate = _CommitGate(store)
        first = asyncio.create_task(store.set(Counter()))
        await asyncio.to_thread(gate.entered.wait, 30)
        # The writer is busy with `first`, so these two wait in the queue.
        caller = asyncio.create_task(store.set(Counter(count=1)))
        keeper = asyncio.create_task(store.set(Counter(count=2)))
        await asyncio.wait([caller, keeper], timeout=0)
        caller.cancel()
        gate.release.set()

        with pytest.raises(asyncio.CancelledError):
            await caller
        assert (await first).version == 0
        kept = await keeper

    rows = journal_rows(db)
    assert [row[0] for row in rows] == [0, 1]
    assert kept.count == 2


@pytest.mark.asyncio
async def test_random_cancellations_leave_whole_events(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Counter) as store:
        start = asyncio.Event()

        async def writer(number: int) -> Counter:
            await start.wait()
            return await store.set(Counter(count=number))

        tasks = [asyncio.create_task(writer(n)) for n in range(200)]
        start.set()
        for number, task in enumerate(tasks):
            if number % 3 == 0:
                task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        head = await store.get()

    acknowledged = {r.version for r in results if isinstance(r, Counter)}
    rows = journal_rows(db)
    versions = [row[0] for row in rows]
    assert versions == list(range(len(versions)))
    assert acknowledged <= set(versions)
    assert head is not None and head.version == versions[-1]


def test_unclosed_store_warns_and_exits(db: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, gc
        from statelog import AsyncStateStore
        store = AsyncStateStore(path={str(db)!r})

        async def main():
            await store.initialize_if_empty()

        asyncio.run(main())
        print("done", flush=True)
        """
    )
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "always::ResourceWarning", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert len(journal_rows(db)) == 1


def test_unclosed_store_emits_resource_warning(db: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, gc, warnings
        from statelog import AsyncStateStore

        async def main():
            store = AsyncStateStore(path={str(db)!r})
            await store.initialize_if_empty()

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            asyncio.run(main())
            gc.collect()
        print(sorted({{w.category.__name__ for w in caught}}))
        print([str(w.message) for w in caught if "AsyncStateStore" in str(w.message)])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert "ResourceWarning" in result.stdout
    assert "was not closed; use `async with`" in result.stdout


def test_fsm_snapshot_is_default_type(db: Path) -> None:
    store: AsyncStateStore[FSMSnapshot] = AsyncStateStore(path=db)
    assert store.readonly is False
