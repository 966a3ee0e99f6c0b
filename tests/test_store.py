"""The original store's API, kept on top of the journal."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from statelog import (
    AsyncStateStore,
    FSMSnapshot,
    FSMState,
    SnapshotError,
    StateStoreError,
    StateVersionError,
    StoreClosedError,
    initial_snapshot,
)
from tests.helpers import journal_rows
from tests.models import Counter, Phase, Reading


def test_construction_needs_no_loop(db: Path) -> None:
    store: AsyncStateStore[FSMSnapshot] = AsyncStateStore(path=db)

    assert not store.is_open
    assert not db.exists()

    async def use() -> FSMSnapshot | None:
        async with store:
            return await store.get()

    assert asyncio.run(use()) is None


@pytest.mark.asyncio
async def test_set_returns_stored_copy(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Reading) as store:
        first = await store.set(Reading(version=5, value=1.0))
        caller_copy = Reading(version=1, value=2.0)
        second = await store.set(caller_copy)

        assert first.version == 5
        assert second.version == 6
        assert caller_copy.version == 1
        assert await store.get() == second
    assert [row[0] for row in journal_rows(db)] == [5, 6]


@pytest.mark.asyncio
async def test_enforce_version_rejects_stale(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Reading) as store:
        await store.set(Reading(version=9))
        before = journal_rows(db)

        with pytest.raises(
            StateVersionError, match="version 7 is not newer than current version 9"
        ):
            await store.set(Reading(version=7), enforce_version=True)

        assert (await store.get_metrics())["version_conflicts"] == 1
        assert journal_rows(db) == before
        assert (await store.set(Reading(version=10), enforce_version=True)).version == 10


@pytest.mark.asyncio
async def test_get_with_meta(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Reading, state_field="phase") as store:
        snapshot, meta = await store.get_with_meta()
        assert snapshot is None
        assert meta["has_state"] is False
        assert meta["current_version"] == -1

        await store.set(Reading(version=1, phase=Phase.RUNNING))
        snapshot, meta = await store.get_with_meta()
        assert snapshot is not None
        assert meta["current_version"] == 1
        assert meta["subscriber_count"] == 0
        assert meta["store_metrics"]["current_state"] == "running"


@pytest.mark.asyncio
async def test_metrics_keys(db: Path) -> None:
    async with AsyncStateStore(path=db) as store:
        await store.initialize_if_empty()
        await store.get()
        metrics = await store.get_metrics()
        health = await store.health_check()

    for key in (
        "total_sets",
        "total_gets",
        "version_conflicts",
        "subscriber_count",
        "last_update_ts",
        "creation_ts",
        "uptime_seconds",
        "current_version",
        "current_state",
        "active_subscribers",
    ):
        assert key in metrics, key
    assert metrics["total_sets"] == 1
    assert metrics["total_gets"] == 1
    assert metrics["current_state"] == "booting"
    assert metrics["journal"]["events"] == 1
    assert metrics["journal"]["file_bytes"] > 0
    assert set(health) == {"healthy", "issues", "metrics"}
    assert health["healthy"] is True


@pytest.mark.asyncio
async def test_restart_restores_last_snapshot(db: Path) -> None:
    async with AsyncStateStore(path=db) as store:
        snapshot = await store.initialize_if_empty()
        for _ in range(10):
            snapshot = await store.set(snapshot.transition(FSMState.ACTIVE, "work"))

    async with AsyncStateStore(path=db) as reopened:
        restored = await reopened.initialize_if_empty()

    assert restored == snapshot
    assert restored.version == 10
    assert len(journal_rows(db)) == 11


@pytest.mark.asyncio
async def test_initial_state_only_when_empty(db: Path) -> None:
    async with AsyncStateStore(Counter(count=1), path=db, snapshot_type=Counter) as store:
        assert await store.get() == Counter(version=0, count=1)
        await store.set(Counter(count=2))

    async with AsyncStateStore(Counter(count=99), path=db, snapshot_type=Counter) as store:
        current = await store.get()

    assert current == Counter(version=1, count=2)
    assert len(journal_rows(db)) == 2


@pytest.mark.asyncio
async def test_initialize_if_empty_writes_once(db: Path) -> None:
    calls = 0

    def factory() -> Counter:
        nonlocal calls
        calls += 1
        return Counter()

    async with AsyncStateStore(path=db, snapshot_type=Counter, initial_factory=factory) as store:
        results = await asyncio.gather(*(store.initialize_if_empty() for _ in range(5)))

    assert calls == 1
    assert {result.version for result in results} == {0}
    assert len(journal_rows(db)) == 1


@pytest.mark.asyncio
async def test_initialize_without_factory(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Counter) as store:
        with pytest.raises(StateStoreError, match="no initial_factory"):
            await store.initialize_if_empty()
    assert journal_rows(db) == []


@pytest.mark.asyncio
async def test_dataclass_snapshots_round_trip(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Counter) as store:
        stored = await store.set(Counter(count=3, state="busy"))

    async with AsyncStateStore(path=db, snapshot_type=Counter) as store:
        assert await store.get() == stored
    assert journal_rows(db)[0][2] == "busy"


@pytest.mark.asyncio
async def test_state_field_is_configurable(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Reading, state_field="phase") as store:
        await store.set(Reading(phase=Phase.FAILED))

    assert journal_rows(db)[0][2] == "failed"


@pytest.mark.asyncio
async def test_concurrent_sets_get_distinct_versions(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Counter) as store:
        start = asyncio.Event()

        async def writer(number: int) -> Counter:
            await start.wait()
            return await store.set(Counter(count=number))

        tasks = [asyncio.create_task(writer(n)) for n in range(100)]
        start.set()
        results = await asyncio.gather(*tasks)

    versions = sorted(result.version for result in results)
    assert versions == list(range(100))
    rows = journal_rows(db)
    assert [row[0] for row in rows] == versions


@pytest.mark.asyncio
async def test_subscribe_gets_current_then_new(db: Path) -> None:
    async with AsyncStateStore(path=db) as store:
        first = await store.initialize_if_empty()
        queue = await store.subscribe("logger")
        second = await store.set(first.transition(FSMState.IDLE, "ready"))

        assert await queue.get() == first
        assert await queue.get() == second
        assert (await store.get_metrics())["active_subscribers"] == ["logger"]

        await store.unsubscribe(queue)
        await store.set(second.transition(FSMState.ACTIVE, "go"))
        assert queue.empty()
        await store.unsubscribe(asyncio.Queue())
        assert (await store.get_metrics())["subscriber_count"] == 0


@pytest.mark.asyncio
async def test_subscribe_to_empty_store(db: Path) -> None:
    async with AsyncStateStore(path=db) as store:
        queue = await store.subscribe()
        assert queue.empty()
        stored = await store.initialize_if_empty()
        assert await queue.get() == stored


@pytest.mark.asyncio
async def test_close_is_idempotent(db: Path) -> None:
    store: AsyncStateStore[FSMSnapshot] = AsyncStateStore(path=db)
    await store.initialize_if_empty()
    await store.close()
    await store.close()

    with pytest.raises(StoreClosedError, match="is closed"):
        await store.get()
    with pytest.raises(StoreClosedError, match="is closed"):
        await store.set(initial_snapshot())


@pytest.mark.asyncio
async def test_close_finishes_pending_sets(db: Path) -> None:
    store: AsyncStateStore[Counter] = AsyncStateStore(path=db, snapshot_type=Counter)
    await store.get()
    pending = [asyncio.create_task(store.set(Counter(count=n))) for n in range(20)]
    # Tasks start in creation order, so every set() is queued before close() begins.
    await asyncio.create_task(store.close())

    results = await asyncio.gather(*pending)
    assert len(results) == 20
    assert len(journal_rows(db)) == 20


@pytest.mark.asyncio
async def test_open_classmethod(db: Path) -> None:
    store = await AsyncStateStore.open(path=db, snapshot_type=Counter)
    try:
        assert store.is_open
        assert db.exists()
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_set_none_is_rejected(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Counter) as store:
        await store.set(Counter())
        before = journal_rows(db)

        with pytest.raises(SnapshotError, match="cannot store None; pass a .*Counter snapshot"):
            await store.set(None)  # type: ignore[arg-type]

        assert journal_rows(db) == before
        assert isinstance(SnapshotError("x"), StateStoreError)
