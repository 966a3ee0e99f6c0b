"""Subscribers as cursors: catch-up from the journal, then live, never lost or blocked."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from statelog import AsyncStateStore, StoredEvent
from tests.helpers import journal_rows
from tests.models import Counter, Reading


async def _drain_until(queue: asyncio.Queue[Any], last_version: int) -> list[int]:
    versions: list[int] = []
    async with asyncio.timeout(60):
        while not versions or versions[-1] < last_version:
            versions.append((await queue.get()).version)
    return versions


@pytest.mark.asyncio
async def test_gapless_switch_from_any_start(db: Path) -> None:
    last = 2000
    async with AsyncStateStore(path=db, snapshot_type=Counter) as store:
        await store.set(Counter())
        start = asyncio.Event()

        async def writer() -> None:
            await start.wait()
            for number in range(1, last + 1):
                await store.set(Counter(count=number))

        async def subscriber(from_version: int, maxsize: int) -> list[int]:
            await start.wait()
            queue = await store.subscribe(
                f"from-{from_version}", from_version=from_version, maxsize=maxsize
            )
            return await _drain_until(queue, last)

        starts = [0, 1000, 0, 1500, 1999]
        tasks = [
            asyncio.create_task(subscriber(v, maxsize))
            for v, maxsize in zip(starts, [16, 16, 4096, 8, 1], strict=True)
        ]
        writing = asyncio.create_task(writer())
        start.set()
        received = await asyncio.gather(*tasks)
        await writing

    for from_version, versions in zip(starts, received, strict=True):
        assert versions == list(range(from_version + 1, last + 1)), from_version


@pytest.mark.asyncio
async def test_subscriber_beyond_head_waits(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Counter) as store:
        await store.set(Counter())
        queue = await store.subscribe("ahead", from_version=5)
        for _ in range(5):
            await store.set(Counter())
        assert queue.empty()

        await store.set(Counter())
        assert (await queue.get()).version == 6
        figures = (await store.get_metrics())["subscribers"][0]
        assert figures["mode"] == "live"
        assert figures["lag"] == 0


@pytest.mark.asyncio
async def test_stalled_subscriber_never_blocks_set(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Counter, stalled_after=0.0) as store:
        await store.set(Counter())
        queue = await store.subscribe("stalled", from_version=0, maxsize=8)

        for number in range(500):
            await store.set(Counter(count=number))

        assert queue.qsize() == 8
        figures = (await store.get_metrics())["subscribers"][0]
        assert figures["mode"] == "catch-up"
        assert figures["cursor"] == 8
        assert figures["lag"] == 492
        health = await store.health_check()
        assert health["healthy"] is False
        assert "subscriber 'stalled' has not read for" in health["issues"][0]
        assert "492 versions behind" in health["issues"][0]

        versions = await _drain_until(queue, 500)
        assert versions == list(range(1, 501))
        assert queue.qsize() == 0
        assert (await store.get_metrics())["subscribers"][0]["mode"] == "live"


@pytest.mark.asyncio
async def test_stalled_subscriber_memory_is_bounded(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Reading, tail_size=16) as store:
        queue = await store.subscribe("slow", from_version=-1, maxsize=4)
        for number in range(300):
            await store.set(Reading(note="n" * 1000, value=number))
            assert queue.qsize() <= 4
        assert len(store._hub._tail) <= 16

        versions = await _drain_until(queue, 299)
    assert versions == list(range(300))


@pytest.mark.asyncio
async def test_dropped_queues_are_forgotten(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Counter) as store:
        await store.set(Counter())
        baseline = (await store.get_metrics())["subscriber_count"]

        for _ in range(1000):
            ready = asyncio.Event()

            async def consume(ready: asyncio.Event) -> None:
                queue = await store.subscribe("short-lived", from_version=0)
                ready.set()
                await queue.get()

            task = asyncio.create_task(consume(ready))
            await ready.wait()
            task.cancel()
            # wait() rather than `await task`: a CancelledError raised here would keep
            # the consumer's frame, and so its queue, alive in this frame's traceback.
            await asyncio.wait([task])
            assert task.cancelled()
            del task

        gc.collect()
        assert (await store.get_metrics())["subscriber_count"] == baseline

        queue = await store.subscribe("dropped")
        assert (await store.get_metrics())["subscriber_count"] == baseline + 1
        del queue
        gc.collect()
        assert (await store.get_metrics())["subscriber_count"] == baseline
        await store.set(Counter())


@pytest.mark.asyncio
async def test_cancelled_sets_delivered_once(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Counter) as store:
        queues = [
            await store.subscribe(f"s{n}", from_version=-1, maxsize=m)
            for n, m in enumerate([1000, 7])
        ]
        start = asyncio.Event()

        async def writer(number: int) -> Counter:
            await start.wait()
            return await store.set(Counter(count=number))

        tasks = [asyncio.create_task(writer(n)) for n in range(200)]
        start.set()
        for number, task in enumerate(tasks):
            if number % 4 == 1:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        head = await store.get()
        assert head is not None

        received = [await _drain_until(queue, head.version) for queue in queues]

    stored = [row[0] for row in journal_rows(db)]
    for versions in received:
        assert versions == stored


@pytest.mark.asyncio
async def test_consumer_may_call_the_store(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Counter) as store:
        await store.set(Counter())
        queue = await store.subscribe("reentrant", from_version=-1, maxsize=2)
        nested: list[asyncio.Queue[Counter]] = []

        async def consume() -> int:
            seen = 0
            while seen < 20:
                snapshot = await queue.get()
                seen += 1
                assert await store.get() is not None
                if snapshot.count < 10:
                    await store.set(Counter(count=snapshot.count + 1))
                nested.append(await store.subscribe("nested"))
            return seen

        async with asyncio.timeout(30):
            consumer = asyncio.create_task(consume())
            for _ in range(9):
                await store.set(Counter(count=100))
            assert await consumer == 20
        for inner in nested:
            await store.unsubscribe(inner)


@pytest.mark.asyncio
async def test_follow_yields_events_and_unsubscribes(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Counter) as store:
        for number in range(5):
            await store.set(Counter(count=number))

        received: list[StoredEvent[Counter]] = []
        async with store.follow(from_version=1, subscriber_id="reader") as events:
            assert (await store.get_metrics())["active_subscribers"] == ["reader"]
            async for event in events:
                received.append(event)
                if event.version == 4:
                    break
        assert [event.version for event in received] == [2, 3, 4]
        assert received[0].snapshot == Counter(version=2, count=2)
        assert received[0].state == "idle"
        assert (await store.get_metrics())["subscriber_count"] == 0

        ready = asyncio.Event()

        async def follower() -> None:
            async for _event in store.follow(from_version=4):
                ready.set()

        task = asyncio.create_task(follower())
        await store.set(Counter())
        await ready.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await store.get_metrics())["subscriber_count"] == 0


@pytest.mark.asyncio
async def test_wal_stays_bounded_during_slow_catch_up(db: Path) -> None:
    payload = "x" * 10_000
    wal = db.with_name(db.name + "-wal")
    largest_wal = 0
    async with AsyncStateStore(
        path=db, snapshot_type=Reading, checkpoint_bytes=2 * 1024 * 1024
    ) as store:
        queue = await store.subscribe("slow", from_version=-1, maxsize=4)
        for number in range(5000):
            await store.set(Reading(note=payload, value=number))
            if number % 2 == 0:
                await queue.get()
            if number % 100 == 0:
                largest_wal = max(largest_wal, wal.stat().st_size)
        versions = await _drain_until(queue, 4999)

    total = 5000 * 10_000
    assert len(versions) == 2500
    # The WAL is checkpointed every 2 MiB and cut back to 16 MiB when it restarts.
    assert largest_wal < 24 * 1024 * 1024, largest_wal
    assert largest_wal < total / 2


_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from statelog import AsyncStateStore
    from tests.models import Counter

    async def main():
        async with AsyncStateStore(path=sys.argv[1], snapshot_type=Counter) as store:
            print("ready", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
            for number in range(int(sys.argv[2])):
                await store.set(Counter(count=number))
            print("done", flush=True)

    asyncio.run(main())
    """
)


def _start_writer(db: Path, count: int) -> subprocess.Popen[str]:
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(db), str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "ready"
    return writer


def _finish_writer(writer: subprocess.Popen[str]) -> None:
    assert writer.stdout is not None and writer.stdin is not None
    assert writer.stdout.readline().strip() == "done"
    writer.stdin.close()
    writer.stdout.close()
    assert writer.wait(timeout=30) == 0


@pytest.mark.asyncio
async def test_readonly_store_follows_other_process(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Counter) as store:
        await store.set(Counter())
    writer = _start_writer(db, 300)
    try:
        async with AsyncStateStore(
            path=db, snapshot_type=Counter, readonly=True, poll_interval=0.01
        ) as reader:
            queue = await reader.subscribe("remote", from_version=-1, maxsize=16)
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
            versions = await _drain_until(queue, 300)
            assert (await reader.get()) == Counter(version=300, count=299)
    finally:
        _finish_writer(writer)
    assert versions == list(range(301))


def test_tail_prints_commits_of_other_process(db: Path) -> None:
    asyncio.run(_create_empty_counter_journal(db))
    writer = _start_writer(db, 50)
    tail = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "statelog.cli",
            "tail",
            str(db),
            "--from-version",
            "-1",
            "--count",
            "50",
            "--json",
            "--poll",
            "0.01",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
        output, _ = tail.communicate(timeout=60)
    finally:
        _finish_writer(writer)
    assert tail.returncode == 0
    lines = output.splitlines()
    assert len(lines) == 50
    assert lines[0].startswith('{"version": 0, ')
    assert lines[-1].startswith('{"version": 49, ')


async def _create_empty_counter_journal(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Counter) as store:
        await store.get()
