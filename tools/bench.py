#!/usr/bin/env python3
"""Side-by-side benchmark of statelog.AsyncStateStore; a development tool, not in the wheel.

Compares statelog with raw sqlite3 on the same table and pragmas, with an
in-memory lock-and-queue store, and with the eventsourcing library on SQLite.
Each round runs every contender of a row once, in an order that rotates from
round to round, and the table shows the median over the rounds. Rows 6 to 10c
cover subscribers (catch-up, fan-out, latency with live and stalled ones) and
post-mortem queries over a generated journal of a million events.

    .venv/bin/python tools/bench.py                  # about 5 minutes
    .venv/bin/python tools/bench.py --quick          # about 10 seconds: a smoke test
    .venv/bin/python tools/bench.py --json out.json  # also write the raw results

eventsourcing is optional (``.venv/bin/pip install eventsourcing``); without it
its rows are skipped with a note. To add a row, write an ``async def row_*``
that returns a ``Row`` and append it to ``ROWS``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import importlib.metadata
import json
import operator
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import statelog
from statelog import AsyncStateStore, FSMSnapshot, FSMState
from statelog._codec import SnapshotCodec

try:
    from eventsourcing.application import Application as EsApplication
    from eventsourcing.domain import Aggregate as EsAggregate
    from eventsourcing.domain import event as es_event
    from eventsourcing.sqlite import SQLiteConnectionPool as EsPool
except ImportError as exc:
    ES_MISSING: str | None = (
        f"eventsourcing is not importable ({exc}); its rows are skipped. "
        "Install it with `.venv/bin/pip install eventsourcing` to run them"
    )
else:
    ES_MISSING = None

    class EsMachine(EsAggregate):
        """An aggregate whose one event carries a whole snapshot's fields."""

        def __init__(self) -> None:
            self.snapshot: dict[str, Any] = {}

        @es_event("Changed")
        def change(self, snapshot: dict[str, Any]) -> None:
            self.snapshot = snapshot


Metrics = dict[str, float]
Contender = Callable[[], Awaitable[Metrics]]

# The pragmas statelog's journal sets on its writer connection (see _journal.py).
WAL_SIZE_LIMIT = 16 * 1024 * 1024
RAW_SCHEMA = """
CREATE TABLE events (
    stream TEXT NOT NULL, version INTEGER NOT NULL, recorded_at REAL NOT NULL,
    state TEXT, payload BLOB NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (stream, version)
);
CREATE INDEX events_by_state ON events (stream, state, version);
CREATE INDEX events_by_time ON events (stream, recorded_at);
"""
RAW_INSERT = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)"


@dataclass(frozen=True)
class Config:
    rounds: int
    sequential: int  # set() calls per sequential run
    tasks: int  # concurrent writer tasks
    per_task: int  # set() calls per task
    gets: int  # get() calls per run
    es_events: int  # events per eventsourcing comparison run
    full: int  # set() calls per durability="full" run
    catch_up: int  # events in the journal that a subscriber replays from version -1
    subscribers: int  # live subscribers in the fan-out and latency rows
    fan_events: int  # set() calls while those subscribers are live
    post_mortem: tuple[int, ...]  # journal lengths for state_at(); the last one for every query
    state_at_calls: int  # state_at() calls per run
    growth_ticks: int  # ticks of the growing-history loop, stored with deltas
    growth_full_ticks: int  # ticks of the same loop stored as full snapshots (grows as n^2)


QUICK = Config(
    rounds=2,
    sequential=600,
    tasks=100,
    per_task=5,
    gets=20_000,
    es_events=200,
    full=200,
    catch_up=10_000,
    subscribers=100,
    fan_events=100,
    post_mortem=(1_000, 5_000, 20_000),
    state_at_calls=50,
    growth_ticks=1_000,
    growth_full_ticks=300,
)
DEFAULT = Config(
    rounds=5,
    sequential=20_000,
    tasks=100,
    per_task=100,
    gets=200_000,
    es_events=2_000,
    full=3_000,
    catch_up=100_000,
    subscribers=1_000,
    fan_events=1_000,
    post_mortem=(10_000, 100_000, 1_000_000),
    state_at_calls=200,
    growth_ticks=10_000,
    growth_full_ticks=1_000,
)


@dataclass
class Line:
    """One printed comparison: statelog's figure, a baseline's, their ratio, a target."""

    row: str
    metric: str
    ours_name: str
    ours: float
    base_name: str
    base: float | None
    ratio: float | None
    target: str = ""
    result: str = ""


@dataclass
class Row:
    key: str
    title: str
    rounds: dict[str, list[Metrics]] = field(default_factory=dict)
    medians: dict[str, Metrics] = field(default_factory=dict)
    lines: list[Line] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    def compare(
        self,
        metric: str,
        ours: tuple[str, str],
        base: tuple[str, str] | None,
        target: tuple[str, float] | None = None,
        base_label: str | None = None,
    ) -> None:
        """Add a line: ``ours`` and ``base`` are (contender, metric key) pairs."""
        value = self.medians[ours[0]][ours[1]]
        base_value = self.medians[base[0]][base[1]] if base else None
        ratio = value / base_value if base_value else None
        label = base_label or (base[0] if base else "")
        line = Line(self.title, metric, ours[0], value, label, base_value, ratio)
        if target is not None and ratio is not None:
            line.target, line.result = judge(ratio, *target)
        self.lines.append(line)

    def compare_tail(self, name: str, target: tuple[str, float] | None = None) -> None:
        """Add a line comparing a contender's p99 latency with its own p50."""
        pair = ((name, "p99_us"), (name, "p50_us"))
        self.compare("p99 / p50", *pair, target, base_label=f"{name} p50")

    def require(self, metric: str, ours: tuple[str, str], op: str, bound: float) -> None:
        """Add a line that compares a figure itself, not a ratio, with an absolute bound."""
        value = self.medians[ours[0]][ours[1]]
        line = Line(self.title, metric, ours[0], value, "", None, None)
        line.target = f"{op} {number(bound)}"
        line.result = "PASS" if OPS[op](value, bound) else "MISS"
        self.lines.append(line)


OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


def judge(ratio: float, op: str, bound: float) -> tuple[str, str]:
    return f"{op} {bound:.2f}x", "PASS" if OPS[op](ratio, bound) else "MISS"


# -- data ----------------------------------------------------------------------


def make_snapshot(version: int) -> FSMSnapshot:
    """Build a snapshot of about 300 encoded bytes, like a worker FSM's."""
    return FSMSnapshot(
        version=version,
        state=FSMState.ACTIVE,
        reason="job step finished",
        previous_state=FSMState.IDLE,
        context={
            "job_id": "5f0c2a9e-8d1b-4c7e-9a63-2f4b7d1e0c58",
            "step": version % 97,
            "queue": "default",
            "host": "worker-07",
        },
        metadata={"source": "bench", "attempt": 1},
        wall_time=1_733_338_800.123456 + version,
        monotonic_time=81_234.567891 + version,
    )


def make_snapshots(count: int) -> list[FSMSnapshot]:
    return [make_snapshot(version) for version in range(1, count + 1)]


def encode(snapshot: FSMSnapshot) -> bytes:
    return snapshot.model_dump_json().encode()


def make_rows(snapshots: Sequence[FSMSnapshot]) -> list[tuple[Any, ...]]:
    """Build the hash-chained journal rows for ``snapshots`` that raw sqlite3 inserts."""
    rows, previous = [], bytes(32)
    for snapshot in snapshots:
        payload = encode(snapshot)
        previous = hashlib.sha256(previous + payload).digest()
        recorded_at = snapshot.wall_time
        rows.append(("default", snapshot.version, recorded_at, "active", payload, previous))
    return rows


# -- measuring helpers -----------------------------------------------------------


def percentile(ordered: Sequence[float], pct: float) -> float:
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def latency_metrics(count: int, elapsed: float, latencies: list[float]) -> Metrics:
    ordered = sorted(latencies)
    return {
        "ops_per_s": count / elapsed,
        "p50_us": percentile(ordered, 50) * 1e6,
        "p99_us": percentile(ordered, 99) * 1e6,
    }


async def run_rounds(row: Row, rounds: int, contenders: dict[str, Contender]) -> None:
    """Run each contender once per round in a rotating order, keeping every round's figures."""
    names = list(contenders)
    row.rounds = {name: [] for name in names}
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            with frozen_heap():
                row.rounds[name].append(await contenders[name]())
        print(f"  {row.title}: round {number + 1}/{rounds} done", file=sys.stderr, flush=True)
    row.medians = {
        name: {key: statistics.median(r[key] for r in results) for key in results[0]}
        for name, results in row.rounds.items()
    }


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the prepared inputs out of the garbage collector's passes during a run.

    Thousands of prebuilt snapshots would otherwise make each full collection,
    which can fire inside any contender's timed section, cost tens of ms.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="statelog-bench-") as folder:
        yield Path(folder)


@contextlib.contextmanager
def timed_appends(store: AsyncStateStore[Any], sink: list[float]) -> Iterator[None]:
    """Record the duration of every journal commit by wrapping the store's journal.append."""
    journal = store._journal
    original = journal.append

    def append(rows: Any) -> None:
        started = time.perf_counter()
        try:
            original(rows)
        finally:
            sink.append(time.perf_counter() - started)

    journal.append = append  # type: ignore[method-assign]
    try:
        yield
    finally:
        del journal.append


# -- contenders: statelog ----------------------------------------------------------


async def open_store(folder: Path, **options: Any) -> AsyncStateStore[FSMSnapshot]:
    return await AsyncStateStore.open(
        path=folder / "statelog.db", snapshot_type=FSMSnapshot, **options
    )


async def timed_sets(store: Any, snapshots: Sequence[FSMSnapshot]) -> Metrics:
    latencies = []
    started = time.perf_counter()
    for snapshot in snapshots:
        begun = time.perf_counter()
        await store.set(snapshot)
        latencies.append(time.perf_counter() - begun)
    return latency_metrics(len(snapshots), time.perf_counter() - started, latencies)


async def statelog_sequential(snapshots: Sequence[FSMSnapshot], **options: Any) -> Metrics:
    with scratch() as folder:
        store = await open_store(folder, **options)
        try:
            metrics = await timed_sets(store, snapshots)
            metrics["wal_mib"] = store._journal.file_sizes()[1] / 2**20
        finally:
            await store.close()
    return metrics


async def statelog_blocking(snapshots: Sequence[FSMSnapshot]) -> Metrics:
    commits: list[float] = []
    with scratch() as folder:
        store = await open_store(folder, commit_in_thread=False)
        try:
            with timed_appends(store, commits):
                metrics = await timed_sets(store, snapshots)
        finally:
            await store.close()
    ordered = sorted(commits)
    return {
        "commit_p50_us": percentile(ordered, 50) * 1e6,
        "commit_p99_us": percentile(ordered, 99) * 1e6,
        "commit_p999_us": percentile(ordered, 99.9) * 1e6,
        "commit_max_us": ordered[-1] * 1e6,
        "commit_share_pct": 100 * sum(commits) * metrics["ops_per_s"] / len(snapshots),
    }


async def statelog_concurrent(cfg: Config) -> Metrics:
    """``cfg.tasks`` tasks, released together, each awaiting ``cfg.per_task`` sets in turn."""
    snapshot = make_snapshot(0)  # version 0: the store assigns the next version to each
    commits: list[float] = []
    with scratch() as folder:
        store = await open_store(folder)
        gate = asyncio.Event()

        async def writer() -> None:
            await gate.wait()
            for _ in range(cfg.per_task):
                await store.set(snapshot)

        try:
            with timed_appends(store, commits):
                tasks = [asyncio.create_task(writer()) for _ in range(cfg.tasks)]
                await asyncio.sleep(0)
                started = time.perf_counter()
                gate.set()
                await asyncio.gather(*tasks)
                elapsed = time.perf_counter() - started
        finally:
            await store.close()
    total = cfg.tasks * cfg.per_task
    return {"ops_per_s": total / elapsed, "rows_per_commit": total / len(commits)}


async def timed_gets(store: Any, count: int) -> Metrics:
    get = store.get
    started = time.perf_counter()
    for _ in range(count):
        await get()
    return {"ns_per_call": (time.perf_counter() - started) / count * 1e9}


async def statelog_get(count: int) -> Metrics:
    with scratch() as folder:
        store = await open_store(folder)
        try:
            await store.set(make_snapshot(1))
            return await timed_gets(store, count)
        finally:
            await store.close()


async def statelog_write_file(path: Path, snapshots: Sequence[FSMSnapshot]) -> None:
    store = await AsyncStateStore.open(path=path, snapshot_type=FSMSnapshot)
    try:
        for snapshot in snapshots:
            await store.set(snapshot)
    finally:
        await store.close()


async def statelog_replay(path: Path, count: int) -> Metrics:
    """Read every event of ``path`` through ``follow(from_version=-1)`` of a reader store."""
    store = await AsyncStateStore.open(path=path, snapshot_type=FSMSnapshot, readonly=True)
    seen = 0
    try:
        started = time.perf_counter()
        async with store.follow(from_version=-1) as events:
            async for event in events:
                seen += 1
                if event.version >= count:
                    break
        elapsed = time.perf_counter() - started
    finally:
        await store.close()
    assert seen == count, f"replayed {seen} of {count} events"
    return {"events_per_s": count / elapsed}


# -- contenders: raw sqlite3 and the in-memory store ---------------------------------


def raw_connect(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    conn.executescript(RAW_SCHEMA)
    return conn


async def raw_per_row(rows: Sequence[tuple[Any, ...]], synchronous: str = "NORMAL") -> Metrics:
    """Insert ``rows`` with one BEGIN IMMEDIATE, INSERT, COMMIT per row."""
    with scratch() as folder, contextlib.closing(raw_connect(folder / "raw.db", synchronous)) as db:
        latencies = []
        started = time.perf_counter()
        for row in rows:
            begun = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            db.execute(RAW_INSERT, row)
            db.execute("COMMIT")
            latencies.append(time.perf_counter() - begun)
        return latency_metrics(len(rows), time.perf_counter() - started, latencies)


async def raw_batched(rows: Sequence[tuple[Any, ...]], batch: int) -> Metrics:
    with scratch() as folder, contextlib.closing(raw_connect(folder / "raw.db", "NORMAL")) as db:
        started = time.perf_counter()
        for start in range(0, len(rows), batch):
            db.execute("BEGIN IMMEDIATE")
            db.executemany(RAW_INSERT, rows[start : start + batch])
            db.execute("COMMIT")
        return {"ops_per_s": len(rows) / (time.perf_counter() - started)}


class MemoryStore:
    """The in-memory baseline: a lock-protected snapshot, a version bump, queue fan-out."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._current: FSMSnapshot | None = None
        self._version = 0
        self._subscribers: list[asyncio.Queue[FSMSnapshot]] = []

    async def subscribe(self, maxsize: int = 64) -> asyncio.Queue[FSMSnapshot]:
        queue: asyncio.Queue[FSMSnapshot] = asyncio.Queue(maxsize)
        self._subscribers.append(queue)
        return queue

    async def set(self, snapshot: FSMSnapshot) -> FSMSnapshot:
        async with self._lock:
            if snapshot.version <= self._version:
                snapshot = snapshot.model_copy(update={"version": self._version + 1})
            self._version = snapshot.version
            self._current = snapshot
            for queue in self._subscribers:
                queue.put_nowait(snapshot)
            return snapshot

    async def get(self) -> FSMSnapshot | None:
        async with self._lock:
            return self._current


async def memory_sequential(snapshots: Sequence[FSMSnapshot]) -> Metrics:
    return await timed_sets(MemoryStore(), snapshots)


async def memory_get(count: int) -> Metrics:
    store = MemoryStore()
    await store.set(make_snapshot(1))
    return await timed_gets(store, count)


# -- contenders: eventsourcing ------------------------------------------------------


def es_env(path: Path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}


@contextlib.contextmanager
def es_synchronous(level: str | None) -> Iterator[None]:
    """Set PRAGMA synchronous on each connection eventsourcing opens.

    eventsourcing has no option for it, so it runs at SQLite's default, which
    ``None`` keeps.
    """
    if level is None:
        yield
        return
    original = EsPool._create_connection

    def create(pool: Any) -> Any:
        connection = original(pool)
        connection._sqlite_conn.execute(f"PRAGMA synchronous={level}")
        return connection

    EsPool._create_connection = create  # type: ignore[method-assign]
    try:
        yield
    finally:
        EsPool._create_connection = original  # type: ignore[method-assign]


def es_synchronous_in_use(app: Any) -> float:
    pool = app.factory.datastore.pool
    connection = pool.get_connection(is_writer=True)
    try:
        return float(connection._sqlite_conn.execute("PRAGMA synchronous").fetchone()[0])
    finally:
        pool.put_connection(connection)


def es_save_all(path: Path, fields: Sequence[dict[str, Any]]) -> tuple[Any, Metrics]:
    """Create an aggregate, then change and save it once per item of ``fields``."""
    app = EsApplication(env=es_env(path))
    machine = EsMachine()
    app.save(machine)
    latencies = []
    started = time.perf_counter()
    for item in fields:
        begun = time.perf_counter()
        machine.change(snapshot=item)
        app.save(machine)
        latencies.append(time.perf_counter() - begun)
    metrics = latency_metrics(len(fields), time.perf_counter() - started, latencies)
    metrics["synchronous"] = es_synchronous_in_use(app)
    app.close()
    return machine.id, metrics


async def es_write(fields: Sequence[dict[str, Any]], synchronous: str | None) -> Metrics:
    with scratch() as folder, es_synchronous(synchronous):
        return es_save_all(folder / "es.db", fields)[1]


async def es_replay(path: Path, machine_id: Any, count: int) -> Metrics:
    """Reconstruct the aggregate from all of its events in a fresh application."""
    app = EsApplication(env=es_env(path))
    try:
        started = time.perf_counter()
        machine = app.repository.get(machine_id)
        elapsed = time.perf_counter() - started
    finally:
        app.close()
    assert machine.snapshot["version"] == count, "eventsourcing replayed a wrong aggregate"
    return {"events_per_s": count / elapsed}


# -- contenders: subscribers ---------------------------------------------------------

# A stalled subscriber's queue fills after this many events and is never read.
STALLED_MAXSIZE = 4
# set() calls in flight at once while a journal is generated: one commit each.
CATCH_UP_BATCH = 1_000
# The catch-up journal's rows as raw sqlite3 reads them: every column the store reads.
RAW_SCAN = (
    "SELECT version, recorded_at, state, payload, hash FROM events "
    "WHERE stream = ? ORDER BY version"
)


async def write_batches(
    store: AsyncStateStore[FSMSnapshot],
    make: Callable[[int], FSMSnapshot],
    first: int,
    last: int,
    batch: int,
    clock: SteppedClock | None = None,
) -> None:
    """Store versions ``first`` to ``last`` with ``batch`` concurrent set() calls at a time.

    The writer takes all of them into one transaction. With ``clock``, each batch
    is recorded at its first version's offset in seconds from the clock's start.
    """
    version = first
    while version <= last:
        upto = min(last, version + batch - 1)
        if clock is not None:
            clock.now = clock.start + version - 1
        await asyncio.gather(*(store.set(make(v)) for v in range(version, upto + 1)))
        version = upto + 1


async def build_catch_up_journal(path: Path, count: int) -> None:
    store = await AsyncStateStore.open(path=path, snapshot_type=FSMSnapshot)
    try:
        await write_batches(store, make_snapshot, 1, count, CATCH_UP_BATCH)
    finally:
        await store.close()


def build_raw_journal(path: Path, count: int) -> None:
    """Write the same snapshots as full JSON payloads with raw sqlite3, in the journal's schema."""
    with contextlib.closing(raw_connect(path, "NORMAL")) as db:
        db.execute("BEGIN IMMEDIATE")
        for start in range(1, count + 1, 10_000):
            chunk = [make_snapshot(v) for v in range(start, min(count, start + 9_999) + 1)]
            db.executemany(RAW_INSERT, make_rows(chunk))
        db.execute("COMMIT")


async def statelog_catch_up(path: Path, count: int, *, follow: bool, maxsize: int = 64) -> Metrics:
    """Deliver every event of ``path`` to one subscriber of a store that has just opened it."""
    store = await AsyncStateStore.open(path=path, snapshot_type=FSMSnapshot)
    seen = last = 0
    try:
        started = time.perf_counter()
        if follow:
            async with store.follow(from_version=-1, maxsize=maxsize) as events:
                async for event in events:
                    seen, last = seen + 1, event.version
                    if last >= count:
                        break
        else:
            queue = await store.subscribe("catch-up", from_version=-1, maxsize=maxsize)
            while last < count:
                snapshot = await queue.get()
                seen, last = seen + 1, snapshot.version
        elapsed = time.perf_counter() - started
    finally:
        await store.close()
    assert seen == count == last, f"delivered {seen} events up to version {last} of {count}"
    return {"events_per_s": count / elapsed}


async def raw_catch_up(path: Path, count: int) -> Metrics:
    """SELECT the rows in version order and validate each payload with pydantic."""
    validate = FSMSnapshot.model_validate_json
    seen = 0
    with contextlib.closing(sqlite3.connect(path)) as db:
        started = time.perf_counter()
        for row in db.execute(RAW_SCAN, ("default",)):
            validate(row[3])
            seen += 1
        elapsed = time.perf_counter() - started
    assert seen == count, f"read {seen} of {count} rows"
    return {"events_per_s": count / elapsed}


async def consume(queue: asyncio.Queue[Any], count: int) -> int:
    """Read ``count`` snapshots from ``queue``, checking that versions 1, 2, ... arrive in order."""
    for expected in range(1, count + 1):
        snapshot = await queue.get()
        if snapshot.version != expected:
            raise AssertionError(f"got version {snapshot.version}, expected {expected}")
    return count


@contextlib.contextmanager
def traced_peak(sink: Metrics) -> Iterator[None]:
    """Trace Python allocations and store the peak traced size in ``sink['peak_mib']``."""
    tracemalloc.start()
    try:
        yield
    finally:
        sink["peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()


async def fan_out(
    store: Any, subscribers: int, snapshots: Sequence[FSMSnapshot], trace: bool
) -> Metrics:
    """Subscribe ``subscribers`` consumer tasks, then set each snapshot in turn.

    The writer yields once after each set() so that the in-memory store, whose
    set() never suspends, lets its consumers run too; statelog's set() already
    has. With ``trace``, returns only the peak memory traced from the first
    subscription to the last delivery (tracing slows everything down).
    """
    memory: Metrics = {}
    with traced_peak(memory) if trace else contextlib.nullcontext():
        queues = [await store.subscribe(maxsize=64) for _ in range(subscribers)]
        consumers = [asyncio.create_task(consume(queue, len(snapshots))) for queue in queues]
        await asyncio.sleep(0)
        started = time.perf_counter()
        for snapshot in snapshots:
            await store.set(snapshot)
            await asyncio.sleep(0)
        delivered = sum(await asyncio.gather(*consumers))
        elapsed = time.perf_counter() - started
    assert delivered == subscribers * len(snapshots), f"{delivered} deliveries"
    return memory if trace else {"deliveries_per_s": delivered / elapsed}


async def statelog_fan_out(
    subscribers: int, snapshots: Sequence[FSMSnapshot], trace: bool = False
) -> Metrics:
    with scratch() as folder:
        store = await open_store(folder)
        try:
            return await fan_out(store, subscribers, snapshots, trace)
        finally:
            await store.close()


async def memory_fan_out(
    subscribers: int, snapshots: Sequence[FSMSnapshot], trace: bool = False
) -> Metrics:
    return await fan_out(MemoryStore(), subscribers, snapshots, trace)


@contextlib.contextmanager
def timed_publish(store: AsyncStateStore[Any], sink: list[float]) -> Iterator[None]:
    """Record how long each delivery to live subscribers takes inside the writer."""
    hub = store._hub
    original = hub._publish

    def publish(events: Any) -> None:
        started = time.perf_counter()
        try:
            original(events)
        finally:
            sink.append(time.perf_counter() - started)

    hub._publish = publish  # type: ignore[method-assign]
    try:
        yield
    finally:
        del hub._publish


async def statelog_sets_subscribed(
    snapshots: Sequence[FSMSnapshot], live: int, stalled: bool = False
) -> Metrics:
    """Time each set() while ``live`` consumer tasks read and, optionally, one subscriber stalls."""
    publish: list[float] = []
    with scratch() as folder:
        store = await open_store(folder)
        try:
            queues = [await store.subscribe(f"live-{n}") for n in range(live)]
            consumers = [asyncio.create_task(consume(queue, len(snapshots))) for queue in queues]
            # Kept referenced until the end, because the store drops a subscriber whose
            # queue is garbage-collected.
            stalled_queue = (
                await store.subscribe("stalled", maxsize=STALLED_MAXSIZE) if stalled else None
            )
            with timed_publish(store, publish):
                metrics = await timed_sets(store, snapshots)
            delivered = sum(await asyncio.gather(*consumers))
            assert delivered == live * len(snapshots), f"{delivered} deliveries"
            if stalled_queue is not None:
                figures = (await store.get_metrics())["subscribers"]
                lag = next(f["lag"] for f in figures if f["id"] == "stalled")
                assert stalled_queue.qsize() == STALLED_MAXSIZE, stalled_queue.qsize()
                assert lag == len(snapshots) - STALLED_MAXSIZE, f"stalled lag {lag}"
        finally:
            await store.close()
    metrics["publish_p50_us"] = statistics.median(publish) * 1e6
    return metrics


# -- contenders: post-mortem ---------------------------------------------------------

# 2026-01-01T00:00:00Z: the generated journal starts here, about one event a second.
POST_MORTEM_START = 1_767_225_600.0
POST_MORTEM_BATCH = 100
POST_MORTEM_CYCLE = (FSMState.IDLE, FSMState.ACTIVE, FSMState.ERROR, FSMState.RECOVERY)
# Events in each state before the next one.
POST_MORTEM_RUN = 5
STATE_SCAN = "SELECT version, recorded_at, state FROM events WHERE stream = ? ORDER BY version"


class SteppedClock:
    """A store clock that returns whatever time the generator last set."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.now = start

    def __call__(self) -> float:
        return self.now


def post_mortem_snapshot(version: int) -> FSMSnapshot:
    """Build a snapshot directly, not with transition(), so that its history stays empty."""
    state = POST_MORTEM_CYCLE[(version - 1) // POST_MORTEM_RUN % len(POST_MORTEM_CYCLE)]
    return FSMSnapshot(
        version=version,
        state=state,
        reason=f"step {version}",
        context={"step": version % 97},
        wall_time=POST_MORTEM_START + version - 1,
        monotonic_time=float(version),
    )


def post_mortem_changes(count: int) -> int:
    """Return the number of state changes ``transitions()`` reports over ``count`` events."""
    return -(-count // POST_MORTEM_RUN) - 1


@dataclass
class PostMortemJournals:
    paths: dict[int, Path]  # journal length -> file
    seconds: float
    payload_bytes: float  # mean stored payload bytes


@dataclass
class RunCache:
    """Journals generated once per run, in a temporary folder removed when the run ends."""

    folder: Path | None = None
    post_mortem: PostMortemJournals | None = None


CACHE = RunCache()


async def post_mortem_journals(cfg: Config) -> PostMortemJournals:
    if CACHE.post_mortem is None:
        assert CACHE.folder is not None, "run() sets the cache folder"
        CACHE.post_mortem = await generate_post_mortem(CACHE.folder, cfg.post_mortem)
    return CACHE.post_mortem


async def generate_post_mortem(folder: Path, lengths: Sequence[int]) -> PostMortemJournals:
    """Write one journal through the store and copy it aside at each length but the last."""
    path = folder / "post-mortem.db"
    clock = SteppedClock(POST_MORTEM_START)
    paths: dict[int, Path] = {}
    written = 0
    print(f"  generating a journal of {lengths[-1]:,} events", file=sys.stderr, flush=True)
    started = time.perf_counter()

    for length in lengths:
        store = await AsyncStateStore.open(path=path, snapshot_type=FSMSnapshot, clock=clock)
        try:
            make = post_mortem_snapshot
            await write_batches(store, make, written + 1, length, POST_MORTEM_BATCH, clock)
        finally:
            await store.close()
        written = length
        if length == lengths[-1]:
            paths[length] = path
            continue

        # The store is closed, so the file (and a WAL, if one is left) is a consistent copy.
        paths[length] = folder / f"post-mortem-{length}.db"
        for suffix in ("", "-wal"):
            if Path(f"{path}{suffix}").exists():
                shutil.copyfile(f"{path}{suffix}", f"{paths[length]}{suffix}")
    seconds = time.perf_counter() - started

    with contextlib.closing(sqlite3.connect(path.as_uri() + "?mode=ro", uri=True)) as db:
        payload_bytes = db.execute("SELECT avg(length(payload)) FROM events").fetchone()[0]
    print(
        f"  generated {written:,} events in {seconds:.1f} s ({written / seconds:,.0f}/s)",
        file=sys.stderr,
        flush=True,
    )
    return PostMortemJournals(paths, seconds, float(payload_bytes))


async def open_reader(path: Path) -> AsyncStateStore[FSMSnapshot]:
    return await AsyncStateStore.open(path=path, snapshot_type=FSMSnapshot, readonly=True)


async def statelog_transitions(path: Path, count: int) -> Metrics:
    store = await open_reader(path)
    found = 0
    try:
        started = time.perf_counter()
        async for _change in store.transitions():
            found += 1
        elapsed = time.perf_counter() - started
    finally:
        await store.close()
    assert found == post_mortem_changes(count), f"{found} transitions in {count} events"
    return {"events_per_s": count / elapsed}


async def statelog_stats(path: Path, count: int) -> Metrics:
    store = await open_reader(path)
    try:
        started = time.perf_counter()
        stats = await store.stats()
        elapsed = time.perf_counter() - started
    finally:
        await store.close()
    assert stats.events == count, f"stats counted {stats.events} of {count} events"
    return {"events_per_s": count / elapsed}


async def raw_state_scan(path: Path, count: int) -> Metrics:
    seen = 0
    with contextlib.closing(sqlite3.connect(path.as_uri() + "?mode=ro", uri=True)) as db:
        started = time.perf_counter()
        for _row in db.execute(STATE_SCAN, ("default",)):
            seen += 1
        elapsed = time.perf_counter() - started
    assert seen == count, f"scanned {seen} of {count} rows"
    return {"events_per_s": count / elapsed}


async def statelog_state_at(path: Path, length: int, calls: int, by_version: bool) -> Metrics:
    """Return the median time of ``state_at`` at moments (or versions) across the journal."""
    rng = random.Random(length)
    offsets = [rng.uniform(0, length - 1) for _ in range(calls)]
    store = await open_reader(path)
    timings = []
    try:
        for offset in offsets:
            moment = POST_MORTEM_START + offset
            begun = time.perf_counter()
            if by_version:
                event = await store.state_at(version=int(offset) + 1)
            else:
                event = await store.state_at(at=moment)
            timings.append(time.perf_counter() - begun)
            assert event is not None and event.recorded_at <= moment, (offset, event)
    finally:
        await store.close()
    return {"us_per_call": statistics.median(timings) * 1e6}


def statelog_command() -> list[str]:
    """Return the `statelog` script next to this Python, or the module when there is none."""
    script = Path(sys.executable).with_name("statelog")
    return [str(script)] if script.exists() else [sys.executable, "-m", "statelog.cli"]


async def cli_first_line(path: Path) -> Metrics:
    """Start `statelog log PATH` unbuffered and time its header and its first event line."""
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [*statelog_command(), "log", str(path)]
    header_s = first_s = 0.0
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=environment)
        assert child.stdout is not None
        try:
            for _ in range(5):
                line = child.stdout.readline()
                if not line:
                    break
                elapsed = time.perf_counter() - started
                header_s = header_s or elapsed
                if line.split()[:1] and line.split()[0].isdigit():
                    first_s = elapsed
                    break
        finally:
            child.kill()
            child.wait()
            child.stdout.close()
        errors.seek(0)
        assert first_s, f"no event line from {command}: {errors.read()[-2000:]!r}"
    return {"first_line_s": first_s, "header_s": header_s}


# Runs the command in argv with stdout to /dev/null, then prints its time and peak RSS.
# Linux counts the RSS high-water mark of the address space a child replaces at exec
# into the child's ru_maxrss, so a child started straight from the bench would report
# at least the bench's own peak. This small process starts the command instead.
RSS_PROBE = """
import resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
elapsed = time.perf_counter() - started
print(elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)
"""


async def cli_run(command: Sequence[str], events: int | None = None) -> Metrics:
    """Run ``command`` with stdout to /dev/null and return its time and its own peak RSS."""
    probe = [sys.executable, "-c", RSS_PROBE, *command]
    result = subprocess.run(probe, capture_output=True, text=True)
    assert result.returncode == 0, f"{command} failed: {result.stderr[-2000:]!r}"
    elapsed_text, rss_text = result.stdout.split()
    elapsed = float(elapsed_text)
    # ru_maxrss is in KiB on Linux.
    metrics = {"seconds": elapsed, "peak_rss_mib": int(rss_text) / 1024}
    if events is not None:
        metrics["events_per_s"] = events / elapsed
    return metrics


# -- rows ----------------------------------------------------------------------------


async def row_sequential_set(cfg: Config) -> Row:
    row = Row("sequential_set", "1 sequential set()")
    snapshots = make_snapshots(cfg.sequential)
    rows = make_rows(snapshots)
    await run_rounds(
        row,
        cfg.rounds,
        {
            "statelog": partial(statelog_sequential, snapshots),
            "raw sqlite3 per-row commit": partial(raw_per_row, rows),
            "in-memory store": partial(memory_sequential, snapshots),
        },
    )
    raw, memory = "raw sqlite3 per-row commit", "in-memory store"
    row.compare("ops/s", ("statelog", "ops_per_s"), (raw, "ops_per_s"), (">=", 0.2))
    row.compare("ops/s", ("statelog", "ops_per_s"), (memory, "ops_per_s"))
    row.compare("p50 latency, us", ("statelog", "p50_us"), (raw, "p50_us"))
    row.compare("p99 latency, us", ("statelog", "p99_us"), (raw, "p99_us"))
    row.compare_tail("statelog", ("<=", 3.0))
    row.compare("p50 latency, us", ("statelog", "p50_us"), (memory, "p50_us"))
    row.notes.append(
        f"WAL file after {cfg.sequential} sets, before close: "
        f"{row.medians['statelog']['wal_mib']:.1f} MiB (median)"
    )
    return row


async def row_commit_blocking(cfg: Config) -> Row:
    row = Row("commit_blocking", "1b loop blocked by commit")
    snapshots = make_snapshots(cfg.sequential)
    await run_rounds(row, cfg.rounds, {"statelog": partial(statelog_blocking, snapshots)})
    for label, key in (
        ("p50, us", "commit_p50_us"),
        ("p99, us", "commit_p99_us"),
        ("p99.9, us", "commit_p999_us"),
        ("max, us", "commit_max_us"),
        ("share of set() time, %", "commit_share_pct"),
    ):
        row.compare(label, ("statelog", key), None)
    row.notes.append(
        "Row 1b times each synchronous commit on the event-loop thread by wrapping "
        "store._journal.append with a timer (commit_in_thread=False, the default at "
        "durability='normal'); max is the median over rounds of each round's maximum"
    )
    return row


async def row_sequential_set_thread(cfg: Config) -> Row:
    row = Row("sequential_set_thread", "1c sequential set(), commit_in_thread")
    snapshots = make_snapshots(cfg.sequential)
    raw = "raw sqlite3 per-row commit"
    await run_rounds(
        row,
        cfg.rounds,
        {
            "statelog thread": partial(statelog_sequential, snapshots, commit_in_thread=True),
            raw: partial(raw_per_row, make_rows(snapshots)),
        },
    )
    row.compare("ops/s", ("statelog thread", "ops_per_s"), (raw, "ops_per_s"))
    row.compare("p50 latency, us", ("statelog thread", "p50_us"), (raw, "p50_us"))
    row.compare("p99 latency, us", ("statelog thread", "p99_us"), (raw, "p99_us"))
    row.compare_tail("statelog thread")
    return row


async def row_concurrent_set(cfg: Config) -> Row:
    row = Row("concurrent_set", f"2 {cfg.tasks} concurrent tasks set()")
    rows = make_rows(make_snapshots(cfg.tasks * cfg.per_task))
    raw = f"raw sqlite3, {cfg.tasks} rows per commit"
    await run_rounds(
        row,
        cfg.rounds,
        {"statelog": partial(statelog_concurrent, cfg), raw: partial(raw_batched, rows, cfg.tasks)},
    )
    row.compare("ops/s", ("statelog", "ops_per_s"), (raw, "ops_per_s"), (">=", 0.4))
    row.compare("rows per commit", ("statelog", "rows_per_commit"), None)
    return row


async def row_get(cfg: Config) -> Row:
    row = Row("get", "3 get()")
    await run_rounds(
        row,
        cfg.rounds,
        {
            "statelog": partial(statelog_get, cfg.gets),
            "in-memory store": partial(memory_get, cfg.gets),
        },
    )
    row.compare(
        "ns per call", ("statelog", "ns_per_call"), ("in-memory store", "ns_per_call"), ("<=", 1.5)
    )
    row.notes.append("The in-memory store's get() takes its asyncio.Lock; statelog's takes none")
    return row


async def row_eventsourcing_write(cfg: Config) -> Row:
    row = Row("eventsourcing_write", "4 save vs eventsourcing")
    if ES_MISSING:
        row.skipped = ES_MISSING
        return row
    snapshots = make_snapshots(cfg.es_events)
    fields = [snapshot.model_dump(mode="json") for snapshot in snapshots]
    await run_rounds(
        row,
        cfg.rounds,
        {
            "statelog full": partial(statelog_sequential, snapshots, durability="full"),
            "eventsourcing default": partial(es_write, fields, None),
            "statelog normal": partial(statelog_sequential, snapshots),
            "eventsourcing NORMAL": partial(es_write, fields, "NORMAL"),
        },
    )
    ahead = (">", 1.0)
    row.compare(
        "ops/s", ("statelog full", "ops_per_s"), ("eventsourcing default", "ops_per_s"), ahead
    )
    row.compare(
        "ops/s", ("statelog normal", "ops_per_s"), ("eventsourcing NORMAL", "ops_per_s"), ahead
    )
    sync = int(row.medians["eventsourcing default"]["synchronous"])
    row.notes.append(
        f"eventsourcing has no synchronous option and runs at SQLite's default ({sync}; "
        "2 = FULL), so 'statelog full' is its like-for-like; 'eventsourcing NORMAL' sets "
        "PRAGMA synchronous=NORMAL on each connection it opens, through a hook in the bench"
    )
    return row


async def row_eventsourcing_replay(cfg: Config) -> Row:
    row = Row("eventsourcing_replay", "4b replay vs eventsourcing")
    if ES_MISSING:
        row.skipped = ES_MISSING
        return row
    snapshots = make_snapshots(cfg.es_events)
    with scratch() as folder:
        await statelog_write_file(folder / "statelog.db", snapshots)
        fields = [snapshot.model_dump(mode="json") for snapshot in snapshots]
        machine_id, _ = es_save_all(folder / "es.db", fields)
        contenders: dict[str, Contender] = {
            "statelog follow(-1)": partial(statelog_replay, folder / "statelog.db", len(snapshots)),
            "eventsourcing get()": partial(es_replay, folder / "es.db", machine_id, len(fields)),
        }
        await run_rounds(row, cfg.rounds, contenders)
    row.compare(
        "events/s",
        ("statelog follow(-1)", "events_per_s"),
        ("eventsourcing get()", "events_per_s"),
        (">", 1.0),
    )
    return row


async def row_sequential_set_full(cfg: Config) -> Row:
    row = Row("sequential_set_full", "5 sequential set(), durability=full")
    snapshots = make_snapshots(cfg.full)
    raw = "raw sqlite3 per-row, FULL"
    await run_rounds(
        row,
        cfg.rounds,
        {
            "statelog full": partial(statelog_sequential, snapshots, durability="full"),
            raw: partial(raw_per_row, make_rows(snapshots), "FULL"),
            "statelog full, on loop": partial(
                statelog_sequential, snapshots, durability="full", commit_in_thread=False
            ),
        },
    )
    row.compare("ops/s", ("statelog full", "ops_per_s"), (raw, "ops_per_s"), (">=", 0.2))
    row.compare("p50 latency, us", ("statelog full", "p50_us"), (raw, "p50_us"))
    row.compare("p99 latency, us", ("statelog full", "p99_us"), (raw, "p99_us"))
    row.compare_tail("statelog full", ("<=", 3.0))
    row.compare("ops/s", ("statelog full, on loop", "ops_per_s"), (raw, "ops_per_s"))
    row.notes.append(
        "'statelog full' commits on the journal's worker thread, the default at "
        "durability='full'; 'statelog full, on loop' passes commit_in_thread=False"
    )
    return row


async def row_catch_up(cfg: Config) -> Row:
    row = Row("catch_up", "6 catch-up from disk")
    raw = "raw sqlite3 + model_validate_json"
    count = cfg.catch_up
    with scratch() as folder:
        started = time.perf_counter()
        await build_catch_up_journal(folder / "statelog.db", count)
        built = time.perf_counter() - started
        build_raw_journal(folder / "raw.db", count)
        journal = folder / "statelog.db"
        await run_rounds(
            row,
            cfg.rounds,
            {
                "statelog subscribe(-1)": partial(statelog_catch_up, journal, count, follow=False),
                "statelog follow(-1)": partial(statelog_catch_up, journal, count, follow=True),
                "subscribe(-1), maxsize 1024": partial(
                    statelog_catch_up, journal, count, follow=False, maxsize=1024
                ),
                raw: partial(raw_catch_up, folder / "raw.db", count),
            },
        )
    for name in ("statelog subscribe(-1)", "statelog follow(-1)"):
        row.compare("events/s", (name, "events_per_s"), (raw, "events_per_s"), (">=", 0.6))
    row.compare("events/s", ("subscribe(-1), maxsize 1024", "events_per_s"), (raw, "events_per_s"))
    row.notes.append(
        f"{count:,} events written through the store in batches of {CATCH_UP_BATCH:,} concurrent "
        f"set() calls ({built:.1f} s); each run opens a new store on the file and delivers every "
        "event to one consumer; raw sqlite3 reads a file of the same snapshots as full JSON rows"
    )
    return row


async def row_fan_out(cfg: Config) -> Row:
    row = Row("fan_out", "7 fan-out to live subscribers")
    snapshots = make_snapshots(cfg.fan_events)
    contenders: dict[str, Callable[..., Awaitable[Metrics]]] = {
        "statelog": partial(statelog_fan_out, cfg.subscribers, snapshots),
        "in-memory store": partial(memory_fan_out, cfg.subscribers, snapshots),
    }
    await run_rounds(row, cfg.rounds, contenders)
    for name, contender in contenders.items():
        with frozen_heap():
            row.medians[name].update(await contender(trace=True))
    ours, memory = ("statelog", "deliveries_per_s"), ("in-memory store", "deliveries_per_s")
    row.require("deliveries/s", ours, ">=", 200_000)
    row.compare("deliveries/s", ours, memory)
    row.compare(
        "peak traced memory, MiB", ("statelog", "peak_mib"), ("in-memory store", "peak_mib")
    )
    per_subscriber = row.medians["statelog"]["peak_mib"] * 2**10 / cfg.subscribers
    row.notes.append(
        f"{cfg.subscribers:,} subscribers x {cfg.fan_events:,} sequential set() calls, every "
        f"delivery counted and checked in order; peak memory from one extra run under "
        f"tracemalloc, from the first subscription to the last delivery "
        f"({per_subscriber:.1f} KiB per subscriber for statelog)"
    )
    return row


async def row_set_live_subscribers(cfg: Config) -> Row:
    row = Row("set_live_subscribers", "8 set() with live subscribers")
    snapshots = make_snapshots(cfg.fan_events)
    live, none = f"statelog, {cfg.subscribers} subscribers", "statelog, no subscribers"
    await run_rounds(
        row,
        cfg.rounds,
        {
            live: partial(statelog_sets_subscribed, snapshots, cfg.subscribers),
            none: partial(statelog_sets_subscribed, snapshots, 0),
        },
    )
    row.compare("p50 latency, us", (live, "p50_us"), (none, "p50_us"))
    row.compare("p99 latency, us", (live, "p99_us"), (none, "p99_us"))
    row.compare("publish p50, us", (live, "publish_p50_us"), (none, "publish_p50_us"))
    row.notes.append(
        f"{cfg.fan_events:,} sequential set() calls; each subscriber's consumer task reads "
        "every snapshot; 'publish' is the writer's delivery to the subscriber queues, timed "
        "inside set() by wrapping the store's SubscriptionHub._publish"
    )
    return row


async def row_set_stalled_subscriber(cfg: Config) -> Row:
    row = Row("set_stalled_subscriber", "9 set() with a stalled subscriber")
    snapshots = make_snapshots(cfg.sequential)
    stalled, none = "statelog, 1 stalled", "statelog, no subscribers"
    await run_rounds(
        row,
        cfg.rounds,
        {
            stalled: partial(statelog_sets_subscribed, snapshots, 0, stalled=True),
            none: partial(statelog_sets_subscribed, snapshots, 0),
        },
    )
    row.compare("p50 latency, us", (stalled, "p50_us"), (none, "p50_us"), ("<=", 1.2))
    row.compare("p99 latency, us", (stalled, "p99_us"), (none, "p99_us"), ("<=", 1.2))
    row.compare("ops/s", (stalled, "ops_per_s"), (none, "ops_per_s"))
    row.notes.append(
        f"the stalled subscriber subscribes with maxsize={STALLED_MAXSIZE} and is never read; "
        f"the bench checks that it is still registered and {cfg.sequential - STALLED_MAXSIZE:,} "
        "versions behind at the end"
    )
    return row


async def row_post_mortem(cfg: Config) -> Row:
    row = Row("post_mortem", "10 transitions() and stats()")
    journals = await post_mortem_journals(cfg)
    count = cfg.post_mortem[-1]
    path = journals.paths[count]
    raw = "raw sqlite3 state scan"
    await run_rounds(
        row,
        cfg.rounds,
        {
            "statelog transitions()": partial(statelog_transitions, path, count),
            "statelog stats()": partial(statelog_stats, path, count),
            raw: partial(raw_state_scan, path, count),
        },
    )
    for name in ("statelog transitions()", "statelog stats()"):
        row.compare("events/s", (name, "events_per_s"), (raw, "events_per_s"))
    row.notes.append(
        f"journal of {count:,} events generated through the store in "
        f"{journals.seconds:.1f} s ({count / journals.seconds:,.0f} events/s): batches of "
        f"{POST_MORTEM_BATCH} concurrent set() calls, one commit and one recorded_at each, one "
        f"second per event; the state changes every {POST_MORTEM_RUN} events "
        f"({post_mortem_changes(count):,} transitions); stored payloads average "
        f"{journals.payload_bytes:.0f} bytes; the raw scan only iterates over the rows"
    )
    return row


async def row_state_at(cfg: Config) -> Row:
    row = Row("state_at", "10b state_at(at=) by journal length")
    journals = await post_mortem_journals(cfg)
    calls, longest = cfg.state_at_calls, cfg.post_mortem[-1]
    contenders: dict[str, Contender] = {
        f"at=, {length:,} events": partial(
            statelog_state_at, journals.paths[length], length, calls, False
        )
        for length in cfg.post_mortem
    }
    by_version = f"version=, {longest:,} events"
    contenders[by_version] = partial(
        statelog_state_at, journals.paths[longest], longest, calls, True
    )
    await run_rounds(row, cfg.rounds, contenders)
    lengths = list(contenders)[:-1]
    for name in lengths:
        row.compare("us per call", (name, "us_per_call"), None)
    # Growth with the journal's length: the longest journal against the shortest.
    pair = ((lengths[-1], "us_per_call"), (lengths[0], "us_per_call"))
    row.compare("longest / shortest journal", *pair, ("<=", 1.5))
    row.compare(
        "us per call", (f"at=, {longest:,} events", "us_per_call"), (by_version, "us_per_call")
    )
    row.notes.append(
        f"median of {calls} calls per run at moments spread over each journal; the journals are "
        f"copies of the generated one at {', '.join(f'{n:,}' for n in cfg.post_mortem)} events; "
        f"{POST_MORTEM_BATCH} events share each recorded_at"
    )
    return row


async def row_cli_log(cfg: Config) -> Row:
    row = Row("cli_log", "10c statelog log")
    journals = await post_mortem_journals(cfg)
    count = cfg.post_mortem[-1]
    path = journals.paths[count]
    log = [*statelog_command(), "log", str(path)]
    first, startup = "statelog log", "python -c 'import statelog.cli'"
    full, limited = "log > /dev/null", "log --limit 10 > /dev/null"
    await run_rounds(
        row,
        cfg.rounds,
        {
            first: partial(cli_first_line, path),
            startup: partial(cli_run, [sys.executable, "-c", "import statelog.cli"]),
            full: partial(cli_run, log, count),
            limited: partial(cli_run, [*log, "--limit", "10"], 10),
        },
    )
    row.require("first event line, s", (first, "first_line_s"), "<", 0.5)
    row.compare("first event line, s", (first, "first_line_s"), (startup, "seconds"))
    row.compare(
        "child peak RSS, MiB", (full, "peak_rss_mib"), (limited, "peak_rss_mib"), ("<=", 1.5)
    )
    row.compare("events/s", (full, "events_per_s"), None)
    row.notes.append(
        f"on the generated journal of {count:,} events; the first-line run sets "
        "PYTHONUNBUFFERED=1 so that each line leaves the child when printed, and is killed "
        "after the first event line; the other runs go through a small Python process that "
        "reports the command's time and its RUSAGE_CHILDREN ru_maxrss"
    )
    return row


# -- 11: storage growth --------------------------------------------------------------------

GROWTH_CYCLE = (FSMState.IDLE, FSMState.ACTIVE, FSMState.IDLE, FSMState.ERROR, FSMState.RECOVERY)
# Ticks at the start whose set() latency is the "early" figure (after the first full ones).
GROWTH_EARLY = range(100, 200)


def journal_bytes(path: Path) -> int:
    """Return the bytes of the journal and its WAL files on disk."""
    return sum(
        candidate.stat().st_size
        for candidate in (path, path.with_name(path.name + "-wal"))
        if candidate.exists()
    )


async def growth_loop(ticks: int, ratio: float) -> Metrics:
    """Run an FSM that appends one transition to its history on every tick.

    ``changed_bytes`` adds up, per tick, the JSON of the fields that changed: the
    new history entry and the fields a transition rewrites (version, state, reason,
    context, timestamps), measured as statelog's own delta encoding of that tick.
    """
    codec = SnapshotCodec(FSMSnapshot)
    early: list[float] = []
    late: list[float] = []
    changed = 0
    with scratch() as folder:
        path = folder / "growth.db"
        store: AsyncStateStore[FSMSnapshot] = AsyncStateStore(path=path, full_snapshot_ratio=ratio)
        async with store:
            snapshot = await store.initialize_if_empty()
            for tick in range(ticks):
                state = GROWTH_CYCLE[tick % len(GROWTH_CYCLE)]
                proposed = snapshot.transition(state, f"tick {tick}", load=tick % 100)
                started = time.perf_counter()
                stored = await store.set(proposed)
                elapsed = time.perf_counter() - started
                if tick in GROWTH_EARLY:
                    early.append(elapsed)
                elif tick >= ticks - len(GROWTH_EARLY):
                    late.append(elapsed)
                changed += len(codec.make_delta(snapshot, stored, stored.version)[0]) - 1
                snapshot = stored
            reads = await growth_reads(store, ticks)
        size = journal_bytes(path)
    return {
        "journal_bytes": size,
        "changed_bytes": changed,
        "bytes_per_changed_byte": size / changed,
        "p50_early_us": statistics.median(early) * 1e6,
        "p50_late_us": statistics.median(late) * 1e6,
        **reads,
    }


async def growth_reads(store: AsyncStateStore[FSMSnapshot], ticks: int) -> Metrics:
    """Time reading single versions spread over the journal, then replaying all of them."""
    versions = [round(ticks * (k + 0.5) / 20) for k in range(20)]
    single = []
    for version in versions:
        started = time.perf_counter()
        event = await store.state_at(version=version)
        single.append(time.perf_counter() - started)
        assert event is not None and event.version == version
    started = time.perf_counter()
    replayed = 0
    async for _event in store.history():
        replayed += 1
    elapsed = time.perf_counter() - started
    assert replayed == ticks + 1
    return {
        "read_one_ms": statistics.median(single) * 1e3,
        "read_one_max_ms": max(single) * 1e3,
        "replay_events_per_s": replayed / elapsed,
    }


async def row_growth(cfg: Config) -> Row:
    row = Row("growth", "11 journal growth, growing history")
    deltas, short = (
        f"deltas, {cfg.growth_ticks:,} ticks",
        f"deltas, {cfg.growth_full_ticks:,} ticks",
    )
    full = f"full snapshots, {cfg.growth_full_ticks:,} ticks"
    # One round: the sizes are deterministic and each run takes tens of seconds.
    await run_rounds(
        row,
        1,
        {
            deltas: partial(growth_loop, cfg.growth_ticks, 2.0),
            short: partial(growth_loop, cfg.growth_full_ticks, 2.0),
            full: partial(growth_loop, cfg.growth_full_ticks, 0.0),
        },
    )
    row.compare("journal bytes / changed bytes", (deltas, "bytes_per_changed_byte"), None)
    row.require("journal bytes / changed bytes", (deltas, "bytes_per_changed_byte"), "<=", 3.0)
    row.compare("journal bytes", (short, "journal_bytes"), (full, "journal_bytes"))
    row.compare(
        "set() p50, us, last ticks vs ticks 100-199",
        (deltas, "p50_late_us"),
        (deltas, "p50_early_us"),
    )
    row.compare(
        "set() p50, us, last ticks vs ticks 100-199", (full, "p50_late_us"), (full, "p50_early_us")
    )
    row.compare("read one version, ms (median of 20)", (deltas, "read_one_ms"), None)
    row.compare("read one version, ms (max of 20)", (deltas, "read_one_max_ms"), None)
    row.compare("replay all versions, events/s", (deltas, "replay_events_per_s"), None)
    row.notes.append(
        "each tick appends one transition to FSMSnapshot.history; changed bytes are the JSON "
        "of what each tick changed, as statelog's delta encoding writes it; full snapshots "
        "store every version whole (full_snapshot_ratio=0) and grow as the square of the ticks"
    )
    return row


ROWS: list[Callable[[Config], Awaitable[Row]]] = [
    row_sequential_set,
    row_commit_blocking,
    row_sequential_set_thread,
    row_concurrent_set,
    row_get,
    row_eventsourcing_write,
    row_eventsourcing_replay,
    row_sequential_set_full,
    row_catch_up,
    row_fan_out,
    row_set_live_subscribers,
    row_set_stalled_subscriber,
    row_post_mortem,
    row_state_at,
    row_cli_log,
    row_growth,
]
ROW_KEYS = [make_row.__name__.removeprefix("row_") for make_row in ROWS]


# -- output --------------------------------------------------------------------------


def source_state() -> str:
    """Return where the statelog under test lives, its commit, and whether it has changes."""
    src = Path(statelog.__file__).resolve().parent
    git = ["git", "-C", str(src)]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changes = subprocess.run(
            [*git, "status", "--porcelain", "--", "."], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"{src} (not a git checkout)"
    return f"{src} at {commit}" + (", with uncommitted changes" if changes else "")


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    try:
        es_version = importlib.metadata.version("eventsourcing")
    except importlib.metadata.PackageNotFoundError:
        es_version = "not installed"
    return {
        "source": source_state(),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "statelog": statelog.__version__,
        "eventsourcing": es_version,
        "platform": platform.platform(),
    }


def number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


HEADER = ("row", "metric", "statelog", "value", "baseline", "value", "ratio", "target", "result")
TABLE = "{:<38} {:<23} {:<20} {:>10}  {:<30} {:>10} {:>8}  {:<9} {}"


def print_table(rows: Sequence[Row]) -> None:
    print(TABLE.format(*HEADER))
    for row in rows:
        if row.skipped:
            print(f"{row.title:<38} SKIPPED: {row.skipped}")
            continue
        for line in row.lines:
            ratio = f"{line.ratio:.2f}x" if line.ratio is not None else "-"
            print(
                TABLE.format(
                    line.row,
                    line.metric,
                    line.ours_name,
                    number(line.ours),
                    line.base_name or "-",
                    number(line.base),
                    ratio,
                    line.target or "-",
                    line.result,
                ).rstrip()
            )


def print_notes(rows: Sequence[Row], snapshot_bytes: float) -> None:
    print()
    print(f"Snapshot: statelog.FSMSnapshot, {snapshot_bytes:.0f} bytes encoded (JSON, mean)")
    for row in rows:
        for note in row.notes:
            print(f"{row.title}: {note}")
    results = [line.result for row in rows for line in row.lines if line.result]
    print(f"Targets: {results.count('PASS')} PASS, {results.count('MISS')} MISS")


async def run(cfg: Config, only: Sequence[str] | None) -> list[Row]:
    rows = []
    with scratch() as folder:
        CACHE.folder = folder
        try:
            for key, make_row in zip(ROW_KEYS, ROWS, strict=True):
                if only and key not in only:
                    continue
                print(f"running {key}", file=sys.stderr, flush=True)
                row = await make_row(cfg)
                assert row.key == key, f"{make_row.__name__} returned row {row.key!r}"
                rows.append(row)
        finally:
            CACHE.folder, CACHE.post_mortem = None, None
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke test")
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the raw results here")
    parser.add_argument("--only", nargs="+", choices=ROW_KEYS, help="run only these rows")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else DEFAULT
    if args.rounds:
        cfg = Config(**{**asdict(cfg), "rounds": args.rounds})

    info = machine()
    for key, value in info.items():
        print(f"{key + ':':<15}{value}")
    print(f"{'mode:':<15}{'quick' if args.quick else 'default'} {asdict(cfg)}")
    print()
    started = time.perf_counter()
    rows = asyncio.run(run(cfg, args.only))
    snapshot_bytes = statistics.mean(len(encode(s)) for s in make_snapshots(cfg.sequential))
    print_table(rows)
    print_notes(rows, snapshot_bytes)
    print(f"Wall time: {time.perf_counter() - started:.0f} s")
    if args.json:
        report = {
            "machine": info,
            "config": asdict(cfg),
            "quick": args.quick,
            "snapshot_bytes": snapshot_bytes,
            "rows": [asdict(row) for row in rows],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
