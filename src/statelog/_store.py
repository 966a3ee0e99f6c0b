"""AsyncStateStore: the durable, drop-in replacement for the in-memory FSM state store."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import os
import time
import warnings
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, cast

from . import _compaction, _history
from ._checkpoint import Checkpointer
from ._codec import SnapshotCodec, Upcaster
from ._compaction import CompactReport
from ._decoder import EventDecoder
from ._encoding import DELTA, pack_full
from ._errors import (
    JournalCorruptError,
    JournalError,
    SnapshotError,
    StateStoreError,
    StateVersionError,
    StoreClosedError,
    VersionNotAvailableError,
)
from ._events import StoredEvent
from ._follower import Follower
from ._hashing import GENESIS_HASH, chain_hash
from ._histogram import BATCH_BUCKETS, LATENCY_BUCKETS, Histogram
from ._history import JournalStats, StateChange, VerifyReport
from ._journal import Durability, EventRow, SQLiteJournal
from ._model import FSMSnapshot, initial_snapshot
from ._policy import FullSnapshotPolicy
from ._subscriptions import SubscriberQueue, SubscriptionHub
from ._timefmt import to_epoch

logger = logging.getLogger(__name__)

S = TypeVar("S")

# WAL bytes that start a checkpoint: about 900 single-event commits of 4-5 pages
# (table plus indexes). SQLite's own default is 4 MiB, but each checkpoint's
# fsync slows the commits that overlap it; see docs/benchmarks.md.
DEFAULT_CHECKPOINT_BYTES = 16 * 1024 * 1024


class _Lifecycle(enum.Enum):
    UNOPENED = "unopened"
    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(slots=True)
class _PendingSet(Generic[S]):
    snapshot: S
    enforce_version: bool
    future: asyncio.Future[S]


class AsyncStateStore(Generic[S]):
    """A versioned FSM state store whose every ``set()`` is a committed journal event.

    Construct it anywhere (no event loop, no I/O); it opens on first use. One
    process writes a journal; any number may open it with ``readonly=True``.
    """

    def __init__(
        self,
        initial_state: S | None = None,
        *,
        path: str | os.PathLike[str],
        snapshot_type: type[S] | None = None,
        initial_factory: Callable[[], S] | None = None,
        state_field: str = "state",
        durability: Durability = "normal",
        readonly: bool = False,
        stream: str = "default",
        clock: Callable[[], float] = time.time,
        commit_in_thread: bool | None = None,
        checkpoint_bytes: int = DEFAULT_CHECKPOINT_BYTES,
        poll_interval: float = 0.05,
        stalled_after: float = 30.0,
        tail_size: int = 256,
        read_batch_size: int = 256,
        schema_version: int = 1,
        upcasters: Mapping[int, Upcaster] | None = None,
        full_snapshot_ratio: float = 2.0,
    ) -> None:
        if snapshot_type is None:
            snapshot_type = cast(type[S], FSMSnapshot)
            if initial_factory is None:
                initial_factory = cast(Callable[[], S], initial_snapshot)
        self._codec: SnapshotCodec[S] = SnapshotCodec(
            snapshot_type, state_field, schema_version=schema_version, upcasters=upcasters
        )
        if initial_state is not None:
            self._codec.check_type(initial_state)
        self._initial_state = initial_state
        self._initial_factory = initial_factory
        self._journal = SQLiteJournal(path, stream=stream, readonly=readonly, durability=durability)
        self._clock = clock
        # A FULL commit waits for fsync (about 200 us), too long to block the loop.
        self._commit_in_thread = (
            durability == "full" if commit_in_thread is None else bool(commit_in_thread)
        )
        self._poll_interval = poll_interval
        self._stalled_after = stalled_after
        self._read_batch_size = read_batch_size
        self._hub: SubscriptionHub[S] = SubscriptionHub(
            self._read_events, tail_size=tail_size, batch_size=read_batch_size
        )
        self._decoder = EventDecoder(self._codec, self._journal, self._hub.find)
        self._policy = FullSnapshotPolicy(ratio=full_snapshot_ratio)
        self._next_policy = self._policy

        self._lifecycle = _Lifecycle.UNOPENED
        self._opening: asyncio.Task[None] | None = None
        self._current: S | None = None
        # The hash the next event chains to.
        self._head_hash = GENESIS_HASH
        self._first_version: int | None = None
        self._anchor_version: int | None = None
        # Held by the writer per batch, and by compaction per chunk of deletions.
        self._write_lock = asyncio.Lock()
        self._event_count = 0
        self._pending: list[_PendingSet[S]] = []
        self._writer_wake: asyncio.Event | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._checkpointer = Checkpointer(
            self._journal, checkpoint_bytes, self._spawn, self._wake_writer
        )
        self._initializing: asyncio.Task[S] | None = None
        self._fault: str | None = None

        self._total_sets = 0
        self._set_latency = Histogram(LATENCY_BUCKETS)
        self._batch_sizes = Histogram(BATCH_BUCKETS)
        self._total_gets = 0
        self._version_conflicts = 0
        self._failed_commits = 0
        self._last_update_ts: float | None = None
        self._creation_ts = time.time()
        self._created_monotonic = time.monotonic()

    # -- lifecycle -------------------------------------------------------------

    @classmethod
    async def open(cls, initial_state: S | None = None, **options: Any) -> AsyncStateStore[S]:
        """Construct a store and open its journal now, not on first use."""
        store: AsyncStateStore[S] = cls(initial_state, **options)
        await store._ensure_open()
        return store

    async def __aenter__(self) -> Self:
        await self._ensure_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def path(self) -> Path:
        return self._journal.path

    @property
    def readonly(self) -> bool:
        return self._journal.readonly

    @property
    def is_open(self) -> bool:
        return self._lifecycle is _Lifecycle.OPEN

    async def _ensure_open(self) -> None:
        if self._lifecycle is _Lifecycle.OPEN:
            return
        if self._lifecycle in (_Lifecycle.CLOSING, _Lifecycle.CLOSED):
            raise StoreClosedError(
                f"the store on {self.path} is closed; create a new AsyncStateStore to use it again"
            )
        if self._opening is None:
            self._lifecycle = _Lifecycle.OPENING
            self._opening = asyncio.get_running_loop().create_task(self._open())
        opening = self._opening
        try:
            await asyncio.shield(opening)
        except BaseException:
            if opening.done() and self._lifecycle is _Lifecycle.OPENING:
                # A failed open may be retried, e.g. once the other writer is gone.
                self._lifecycle = _Lifecycle.UNOPENED
                self._opening = None
            raise

    async def _open(self) -> None:
        head = await self._journal.open(None if self._codec.is_raw else self._codec.type_name)
        try:
            last = None
            if head.last is not None:
                last = (await self._decoder.decode_rows([head.last]))[0]
                self._current = last.snapshot
                self._head_hash = head.last.hash
            self._first_version = head.first_version
            self._anchor_version = head.anchor_version
            self._event_count = head.event_count
            self._hub.reset(last)
            self._writer_wake = asyncio.Event()
            loop = asyncio.get_running_loop()
            if self.readonly:
                self._spawn(self._poll_journal(), "statelog-poller")
            else:
                self._writer_task = loop.create_task(self._run_writer(), name="statelog-writer")
            self._lifecycle = _Lifecycle.OPEN
        except BaseException:
            await self._journal.close()
            raise
        logger.info(
            "opened %s%s at version %d",
            self.path,
            " read-only" if self.readonly else "",
            self._hub.head,
        )
        if self._current is None and self._initial_state is not None and not self.readonly:
            await self.set(self._initial_state)

    async def close(self) -> None:
        """Finish pending writes, stop subscribers and close the journal; safe to call twice."""
        if self._lifecycle in (_Lifecycle.CLOSING, _Lifecycle.CLOSED):
            return
        if self._lifecycle is _Lifecycle.OPENING and self._opening is not None:
            try:
                await self._opening
            except Exception:
                self._lifecycle = _Lifecycle.CLOSED
                return
        if self._lifecycle is _Lifecycle.UNOPENED:
            self._lifecycle = _Lifecycle.CLOSED
            return

        self._lifecycle = _Lifecycle.CLOSING
        if self._writer_task is not None and self._writer_wake is not None:
            self._writer_wake.set()
            await self._writer_task
        self._hub.close()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self._journal.close()
        self._lifecycle = _Lifecycle.CLOSED
        logger.info("closed %s at version %d", self.path, self._hub.head)

    def __del__(self) -> None:
        if getattr(self, "_lifecycle", None) in (_Lifecycle.OPEN, _Lifecycle.OPENING):
            warnings.warn(
                f"AsyncStateStore on {self._journal.path} was not closed; use `async with` "
                "or `await store.close()`",
                ResourceWarning,
                stacklevel=2,
            )

    def _wake_writer(self) -> None:
        if self._writer_wake is not None:
            self._writer_wake.set()

    def _spawn(self, coroutine: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # -- the original API ------------------------------------------------------

    async def get(self) -> S | None:
        """Return the current snapshot, or None for an empty journal; no I/O once open."""
        if self._lifecycle is not _Lifecycle.OPEN:
            await self._ensure_open()
        self._total_gets += 1
        return self._current

    async def get_with_meta(self) -> tuple[S | None, dict[str, Any]]:
        snapshot = await self.get()
        meta = {
            "store_metrics": self._metrics(),
            "subscriber_count": len(self._hub.subscribers),
            "has_state": snapshot is not None,
            "current_version": self._hub.head,
        }
        return snapshot, meta

    async def set(self, snapshot: S, enforce_version: bool = False) -> S:
        """Persist ``snapshot`` as the next event and return the stored copy after the commit.

        If its version is not newer than the current one, the stored copy gets
        current + 1, and ``snapshot`` itself is never changed. With
        ``enforce_version=True`` that case raises ``StateVersionError`` instead.
        """
        if self._lifecycle is not _Lifecycle.OPEN:
            await self._ensure_open()
        if self.readonly:
            raise StateStoreError(
                f"the store on {self.path} is read-only; open it without readonly=True to write"
            )
        if self._codec.is_raw:
            raise SnapshotError(
                "a store opened with snapshot_type=dict reads and maintains any journal but "
                "cannot write snapshots; pass your snapshot model as snapshot_type"
            )
        self._codec.check_type(snapshot)
        if self._lifecycle is not _Lifecycle.OPEN:
            raise StoreClosedError(f"the store on {self.path} is closing; the set was not stored")

        started = time.perf_counter()
        future: asyncio.Future[S] = asyncio.get_running_loop().create_future()
        self._pending.append(_PendingSet(snapshot, enforce_version, future))
        assert self._writer_wake is not None
        self._writer_wake.set()
        # If the caller is cancelled, the writer skips this set unless it already took
        # it into a batch; then the event commits whole and no caller awaits the result.
        stored = await future
        self._set_latency.observe(time.perf_counter() - started)
        return stored

    async def subscribe(
        self,
        subscriber_id: str = "unknown",
        *,
        from_version: int | None = None,
        maxsize: int = 64,
    ) -> asyncio.Queue[S]:
        """Return a queue that receives snapshots in version order.

        With ``from_version=None``: the current snapshot first, then every new one.
        With ``from_version=N``: every snapshot newer than N, from the journal and
        then live, each exactly once. Use ``-1`` to replay the whole journal.
        """
        queue: SubscriberQueue[S] = SubscriberQueue(maxsize)
        await self._register(queue, subscriber_id, from_version, as_events=False)
        return queue

    async def unsubscribe(self, queue: asyncio.Queue[Any]) -> None:
        """Stop delivering to ``queue``; an unknown queue is ignored."""
        self._hub.remove(queue)

    async def _register(
        self,
        queue: SubscriberQueue[Any],
        subscriber_id: str,
        from_version: int | None,
        *,
        as_events: bool,
    ) -> None:
        await self._ensure_open()
        if from_version is None:
            cursor = self._hub.head
            if self._current is not None:
                queue.put_nowait(self._current_event() if as_events else self._current)
        else:
            self._check_available(from_version)
            cursor = from_version
        subscriber = self._hub.add(queue, subscriber_id, cursor, as_events=as_events)
        if from_version is None and self._current is not None:
            subscriber.delivered = 1

    def _check_available(self, from_version: int) -> None:
        anchor = self._anchor_version
        if anchor is not None and from_version < anchor:
            raise VersionNotAvailableError(
                f"cannot resume after version {from_version}: events up to version {anchor} "
                f"were removed from {self.path} and the first available version is "
                f"{self._first_version}; resume from version {anchor} or later"
            )

    def follow(
        self, from_version: int | None = None, *, subscriber_id: str = "follower", maxsize: int = 64
    ) -> Follower[S]:
        """Iterate over stored events newer than ``from_version``, from the journal then live.

        Use as ``async with store.follow(from_version=n) as events: async for event in
        events``; leaving the block or cancelling the consumer unsubscribes.
        """
        return Follower(self, from_version, subscriber_id, maxsize)

    async def initialize_if_empty(self) -> S:
        """Return the current snapshot; an empty journal gets ``initial_factory()`` first."""
        await self._ensure_open()
        if self._current is not None:
            return self._current
        if self._initializing is None or self._initializing.done():
            # Concurrent callers share one write of initial_factory().
            self._initializing = asyncio.get_running_loop().create_task(self._initialize())
        return await asyncio.shield(self._initializing)

    async def _initialize(self) -> S:
        if self._current is not None:
            return self._current
        if self._initial_factory is None:
            raise StateStoreError(
                f"the journal {self.path} is empty and the store has no initial_factory; "
                "pass initial_factory= or initial_state="
            )
        return await self.set(self._initial_factory())

    # -- writing ---------------------------------------------------------------

    async def _run_writer(self) -> None:
        """Take every pending set, write them as one batch, repeat until closing."""
        wake = self._writer_wake
        assert wake is not None
        while True:
            await wake.wait()
            wake.clear()
            if self._pending:
                batch, self._pending = self._pending, []
                try:
                    async with self._write_lock:
                        await self._write_batch(batch)
                except Exception as exc:  # a bug here must not strand the callers
                    logger.exception("writer failed on a batch of %d", len(batch))
                    for item in batch:
                        if not item.future.done():
                            item.future.set_exception(exc)
            if self._checkpointer.writer_should_finish:
                await self._checkpointer.finish()
            if self._lifecycle is _Lifecycle.CLOSING and not self._pending:
                return

    async def _write_batch(self, batch: Sequence[_PendingSet[S]]) -> None:
        rows, accepted = self._prepare_rows(batch)
        if not rows:
            return
        try:
            if self._commit_in_thread:
                # Shielded: a cancelled writer still waits for the thread's commit.
                await asyncio.shield(self._journal.append_in_thread(rows))
            else:
                self._journal.append(rows)
        except JournalError as exc:
            self._failed_commits += 1
            self._fault = str(exc)
            logger.warning("commit of %d events failed: %s", len(rows), exc)
            for item, _ in accepted:
                if not item.future.done():
                    item.future.set_exception(exc)
            return

        self._fault = None
        self._policy = self._next_policy
        self._batch_sizes.observe(len(rows))
        # Resolve the callers first: resolving only schedules them, so they resume
        # ahead of the subscribers' consumers that the publish below wakes up.
        for item, event in accepted:
            if not item.future.done():
                item.future.set_result(event.snapshot)
        self._apply_committed([event for _, event in accepted], rows[-1].hash)
        self._checkpointer.after_commit(rows)

    def _prepare_rows(
        self, batch: Sequence[_PendingSet[S]]
    ) -> tuple[list[EventRow], list[tuple[_PendingSet[S], StoredEvent[S]]]]:
        """Assign versions in arrival order and encode; reject sets that cannot be stored."""
        head, previous_hash, previous = self._hub.head, self._head_hash, self._current
        policy = dataclasses.replace(self._policy)
        schema_version = self._codec.schema_version
        recorded_at = self._clock()
        rows: list[EventRow] = []
        accepted: list[tuple[_PendingSet[S], StoredEvent[S]]] = []
        for item in batch:
            if item.future.done():  # cancelled before the writer took it
                continue
            version = self._codec.version_of(item.snapshot)
            if version <= head:
                if item.enforce_version:
                    self._version_conflicts += 1
                    item.future.set_exception(
                        StateVersionError(
                            f"version {version} is not newer than current version {head}; pass a "
                            "higher version or drop enforce_version"
                        )
                    )
                    continue
                version = head + 1
            try:
                encoding, payload, decoded = self._encode(policy, previous, item.snapshot, version)
            except SnapshotError as exc:
                item.future.set_exception(exc)
                continue
            state = self._codec.state_of(decoded)
            digest = chain_hash(previous_hash, version, recorded_at, payload)
            rows.append(
                EventRow(version, recorded_at, state, payload, digest, encoding, schema_version)
            )
            accepted.append((item, StoredEvent(version, recorded_at, state, decoded)))
            head, previous_hash, previous = version, digest, decoded
        self._next_policy = policy
        return rows, accepted

    def _encode(
        self, policy: FullSnapshotPolicy, previous: S | None, snapshot: S, version: int
    ) -> tuple[int, bytes, S]:
        """Return (encoding, payload, stored copy): a delta when the policy allows one."""
        if previous is not None and self._codec.can_delta and not policy.wants_full():
            payload, decoded = self._codec.make_delta(previous, snapshot, version)
            policy.record_delta(len(payload))
            return DELTA, payload, decoded
        document, decoded = self._codec.encode_as(snapshot, version)
        encoding, payload = pack_full(document)
        policy.record_full(len(document))
        return encoding, payload, decoded

    def _apply_committed(self, events: Sequence[StoredEvent[S]], last_hash: bytes) -> None:
        """Move the projection forward and deliver; runs only after a commit."""
        self._current = events[-1].snapshot
        self._head_hash = last_hash
        if self._first_version is None:
            self._first_version = events[0].version
        self._event_count += len(events)
        self._total_sets += len(events)
        self._last_update_ts = time.time()
        self._hub.extend(events)

    # -- reading ---------------------------------------------------------------

    def _current_event(self) -> StoredEvent[S]:
        latest = self._hub.latest()
        if latest is None:
            raise StateStoreError(f"the journal {self.path} has no events yet")
        return latest

    async def _read_events(self, after: int, upto: int, limit: int) -> list[StoredEvent[S]]:
        rows = await self._journal.read_after(after, limit, upto)
        return await self._decoder.decode_rows(rows, after)

    async def _poll_journal(self) -> None:
        """Follow another process's commits: look at data_version every poll_interval."""
        seen = await self._journal.data_version()
        while True:
            await asyncio.sleep(self._poll_interval)
            version = await self._journal.data_version()
            if version == seen:
                continue
            seen = version
            try:
                await self._read_new_commits()
            except JournalCorruptError as exc:
                self._fault = str(exc)
                logger.error("stopped following %s: %s", self.path, exc)
                return

    async def _read_new_commits(self) -> None:
        while True:
            rows = await self._journal.read_after(self._hub.head, self._read_batch_size)
            if not rows:
                return
            previous = self._head_hash
            for row in rows:
                if chain_hash(previous, row.version, row.recorded_at, row.payload) != row.hash:
                    raise JournalCorruptError(
                        f"event {row.version} of {self.path} does not chain to event "
                        f"{self._hub.head}; run `statelog verify {self.path}`"
                    )
                previous = row.hash
            events = await self._decoder.decode_rows(rows, self._hub.head)
            self._apply_committed(events, rows[-1].hash)

    # -- post-mortem queries -----------------------------------------------------

    def history(
        self,
        *,
        from_version: int | None = None,
        to_version: int | None = None,
        since: datetime | float | None = None,
        until: datetime | float | None = None,
    ) -> AsyncIterator[StoredEvent[S]]:
        """Stream stored events in version order, in batches (constant memory).

        Version bounds are inclusive; times are datetimes (naive means UTC) or
        epoch seconds. Works on a read-only store while another process writes.
        """
        return self._query(
            _history.history,
            from_version,
            to_version,
            _epoch_or_none(since),
            _epoch_or_none(until),
        )

    def transitions(
        self,
        *,
        from_version: int | None = None,
        to_version: int | None = None,
        since: datetime | float | None = None,
        until: datetime | float | None = None,
    ) -> AsyncIterator[StateChange]:
        """Stream the events where the FSM state changed, with how long the old one lasted."""
        return self._query(
            _history.transitions,
            from_version,
            to_version,
            _epoch_or_none(since),
            _epoch_or_none(until),
        )

    async def _query(self, query: Any, *args: Any) -> AsyncIterator[Any]:
        await self._ensure_open()
        async for item in query(self, *args):
            yield item

    async def state_at(
        self, *, version: int | None = None, at: datetime | float | None = None
    ) -> StoredEvent[S] | None:
        """Return the last event at or before ``version``, or recorded at or before ``at``."""
        await self._ensure_open()
        return await _history.state_at(self, version, _epoch_or_none(at))

    async def diff(self, a: int, b: int) -> list[dict[str, Any]]:
        """Return the RFC 6902 JSON Patch from version ``a``'s snapshot to version ``b``'s."""
        await self._ensure_open()
        return await _history.diff(self, a, b)

    async def verify(self) -> VerifyReport:
        """Walk the hash chain from the first event and report the first break, if any."""
        await self._ensure_open()
        return await _history.verify(self._journal)

    async def stats(self) -> JournalStats:
        """Count events and time per state and transitions, streaming over the journal."""
        await self._ensure_open()
        return await _history.stats(self._journal)

    # -- retention -----------------------------------------------------------------

    async def compact(
        self,
        *,
        before_version: int | None = None,
        older_than: datetime | timedelta | float | None = None,
        archive: str | os.PathLike[str] | None = None,
    ) -> CompactReport:
        """Remove the events before ``before_version``, or recorded before ``older_than``.

        With ``archive``, they are first written there as gzip JSONL that
        ``statelog import`` reads back. The remaining journal still verifies: the
        last removed event's hash becomes its anchor. The head is never removed,
        nor the full snapshot that the first remaining delta needs, so a few
        events before the requested version may stay.
        """
        await self._ensure_open()
        self._require_writable()
        keep_from = await _compaction.resolve_cut(self, before_version, older_than)
        archive_path = Path(archive) if archive is not None else None
        if archive_path is not None:
            await _compaction.write_archive(self, keep_from, archive_path)

        removed = 0
        while True:
            async with self._write_lock:
                count, last = await self._journal.run_in_worker(
                    self._journal.remove_before, keep_from, _compaction.CHUNK
                )
            if last is None:
                break
            removed += count
            self._anchor_version = last
            self._event_count -= count
            self._first_version = await self._journal.first_version()
        logger.info(
            "compacted %s: removed %d events before version %d", self.path, removed, keep_from
        )
        return CompactReport(removed, self._anchor_version, self._first_version, archive_path)

    async def vacuum(self) -> None:
        """Rebuild the file to return freed space to the OS; blocks writes while it runs."""
        await self._ensure_open()
        self._require_writable()
        async with self._write_lock:
            await self._journal.run_in_worker(self._journal.vacuum)

    def _require_writable(self) -> None:
        if self.readonly:
            raise StateStoreError(
                f"the store on {self.path} is read-only; open it without readonly=True to write"
            )

    # -- figures ---------------------------------------------------------------

    def _metrics(self) -> dict[str, Any]:
        file_bytes, wal_bytes = self._journal.file_sizes()
        head = self._hub.head
        subscribers = self._hub.subscribers
        return {
            "total_sets": self._total_sets,
            "total_gets": self._total_gets,
            "version_conflicts": self._version_conflicts,
            "failed_commits": self._failed_commits,
            "subscriber_count": len(subscribers),
            "last_update_ts": self._last_update_ts,
            "creation_ts": self._creation_ts,
            "uptime_seconds": time.monotonic() - self._created_monotonic,
            "current_version": head,
            "current_state": (
                self._codec.state_of(self._current) if self._current is not None else None
            ),
            "active_subscribers": [s.subscriber_id for s in subscribers],
            "subscribers": [s.figures(head) for s in subscribers],
            "journal": {
                "path": str(self.path),
                "readonly": self.readonly,
                "durability": self._journal.durability,
                "events": self._event_count,
                "first_version": self._first_version,
                "anchor_version": self._anchor_version,
                "file_bytes": file_bytes,
                "wal_bytes": wal_bytes,
                "last_commit_ms": round(self._journal.last_commit_seconds * 1000, 3),
            },
        }

    async def get_metrics(self) -> dict[str, Any]:
        await self._ensure_open()
        return self._metrics()

    async def health_check(self) -> dict[str, Any]:
        """Return ``{"healthy", "issues", "metrics"}``; stalled subscribers are issues."""
        await self._ensure_open()
        metrics = self._metrics()
        issues: list[str] = []
        if self._fault is not None:
            issues.append(f"last journal operation failed: {self._fault}")
        for figures in metrics["subscribers"]:
            if figures["lag"] > 0 and figures["seconds_since_read"] > self._stalled_after:
                issues.append(
                    f"subscriber {figures['id']!r} has not read for "
                    f"{figures['seconds_since_read']:.0f} s and is {figures['lag']} versions behind"
                )
        return {"healthy": not issues, "issues": issues, "metrics": metrics}


def _epoch_or_none(moment: datetime | float | None) -> float | None:
    return None if moment is None else to_epoch(moment)
