"""The SQLite journal: one file, one writer connection, batched reads off the event loop.

Everything SQLite-specific lives here, behind the small surface the store uses:
open, append a batch, read a range, look for new commits, checkpoint, close.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar
from urllib.parse import quote

import aiosqlite

from ._errors import (
    JournalCorruptError,
    JournalError,
    JournalFormatError,
    JournalWriteError,
    journal_error_from,
)
from ._hashing import GENESIS_HASH, chain_hash
from ._lock import WriterLock
from ._migrations import apply_migrations, default_migrations_dir, load_migrations, schema_version
from ._version import __version__

logger = logging.getLogger(__name__)

Durability = Literal["normal", "full"]
T = TypeVar("T")

_SQLITE_HEADER = b"SQLite format 3\x00"
_EVENT_COLUMNS = "version, recorded_at, state, payload, hash, encoding, schema_version"
# Journals of schema 1 (before deltas and snapshot schema versions) hold full
# snapshots of snapshot schema 1; a read-only store reads them without migrating.
_EVENT_COLUMNS_SCHEMA_1 = "version, recorded_at, state, payload, hash, 0, 1"
_INSERT = (
    "INSERT INTO events (stream, version, recorded_at, state, payload, hash, encoding, "
    "schema_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


class EventRow(NamedTuple):
    """One journal row, undecoded (a named tuple: built from a fetched row in C)."""

    version: int
    recorded_at: float
    state: str | None
    payload: bytes
    hash: bytes
    # FULL, PACKED or DELTA (see _encoding.py), and the snapshot schema version.
    encoding: int = 0
    schema_version: int = 1


@dataclass(frozen=True, slots=True)
class JournalHead:
    """The journal at open: its last event, first version, event count and anchor."""

    last: EventRow | None
    first_version: int | None
    event_count: int
    # The last removed version, when older events were compacted away.
    anchor_version: int | None = None


class SQLiteJournal:
    """One stream of one SQLite journal file, opened for writing or read-only.

    The writer connection is a plain ``sqlite3`` connection used by one task at a
    time: the store's writer calls ``append`` either on the event-loop thread or on
    this journal's single worker thread, never both at once. Every read goes
    through an aiosqlite connection, one thread hop per batch, and fetches whole
    result sets so that no read transaction stays open across an ``await``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        stream: str = "default",
        readonly: bool = False,
        durability: Durability = "normal",
        busy_timeout: float = 5.0,
        migrations_dir: Path | None = None,
    ) -> None:
        if durability not in ("normal", "full"):
            raise ValueError(f"durability must be 'normal' or 'full', got {durability!r}")
        self.path = Path(path)
        self.stream = stream
        self.readonly = readonly
        self.durability = durability
        self.busy_timeout = busy_timeout
        self._migrations_dir = migrations_dir or default_migrations_dir()
        self._lock = WriterLock(self.path)
        self._wal_path = self.path.with_name(self.path.name + "-wal")
        self._columns = _EVENT_COLUMNS
        self._writer: sqlite3.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.last_commit_seconds = 0.0
        self.page_size = 4096
        # The journal's meta table: snapshot_type, created_by, created_at.
        self.meta: dict[str, str] = {}

    # -- opening ---------------------------------------------------------------

    async def open(self, snapshot_type_name: str | None, *, check_head: bool = True) -> JournalHead:
        """Open the file, migrate it if writable, and return its head, hash-checked.

        ``check_head=False`` skips the head's hash check, for ``verify``, which
        must open a damaged journal to report where the damage starts.

        ``snapshot_type_name=None`` accepts a journal of any snapshot type, for
        tools that handle payloads as plain JSON; such a writable journal must
        already exist, since a new one records its snapshot type.
        """
        head = await asyncio.to_thread(self._open_sync, snapshot_type_name, check_head)
        try:
            self._reader = await _connect_reader(self._uri(), self.busy_timeout)
        except BaseException:
            await asyncio.to_thread(self._close_writer)
            raise
        return head

    def _uri(self) -> str:
        mode = "ro" if self.readonly else "rw"
        return f"file:{quote(str(self.path.resolve()))}?mode={mode}"

    def _open_sync(self, snapshot_type_name: str | None, check_head: bool) -> JournalHead:
        self._check_header(may_create=snapshot_type_name is not None)
        if not self.readonly:
            self._lock.acquire()
        try:
            conn = self._connect()
        except BaseException:
            self._lock.release()
            raise
        try:
            self._check_schema(conn, snapshot_type_name)
            if not self.readonly:
                self._configure_writer(conn)
                self.page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
                migrations = load_migrations(self._migrations_dir)
                apply_migrations(conn, migrations, self.path)
                self._record_meta(conn, snapshot_type_name or "")
            if schema_version(conn) < 2:
                self._columns = _EVENT_COLUMNS_SCHEMA_1
            head = self._read_head(conn, check_head)
        except BaseException:
            conn.close()
            self._lock.release()
            raise
        if self.readonly:
            # Read-only stores read through the aiosqlite connection alone.
            conn.close()
        else:
            self._writer = conn
        return head

    def _check_header(self, *, may_create: bool) -> None:
        if not self.path.exists():
            # Only a writer given its snapshot type may create a journal.
            if self.readonly or not may_create:
                raise JournalError(f"journal {self.path} not found; check the path")
            return
        with self.path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
        if header and header != _SQLITE_HEADER:
            raise JournalFormatError(
                f"{self.path} is not an SQLite database (its first bytes are {header[:8]!r}); "
                "pass the path of a statelog journal or of a new file"
            )

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self._uri() if self.readonly else str(self.path),
                uri=self.readonly,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise journal_error_from(exc, "open", self.path) from exc
        return conn

    def _check_schema(self, conn: sqlite3.Connection, snapshot_type_name: str | None) -> None:
        """Reject, before any write, a file that is not a journal this statelog can use."""
        try:
            version = schema_version(conn)
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_schema")}
        except sqlite3.Error as exc:
            raise journal_error_from(exc, "open", self.path) from exc

        latest = len(load_migrations(self._migrations_dir))
        if version > latest:
            raise JournalFormatError(
                f"{self.path} has journal schema {version}, written by a newer statelog; this "
                f"statelog {__version__} reads schema {latest} at most: upgrade statelog"
            )
        if version == 0 and tables:
            raise JournalFormatError(
                f"{self.path} is an SQLite database but not a statelog journal "
                f"(it has tables {sorted(tables)[:3]} and no journal schema); pass another path"
            )
        if version == 0 and (self.readonly or snapshot_type_name is None):
            raise JournalFormatError(
                f"{self.path} is empty, not a statelog journal; write to it first"
            )
        if version > 0:
            self.meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            stored_type = self.meta.get("snapshot_type")
            if snapshot_type_name is None or stored_type is None:
                return
            if stored_type != snapshot_type_name:
                raise JournalFormatError(
                    f"{self.path} contains {stored_type} snapshots, not {snapshot_type_name}; "
                    "pass that class as snapshot_type (its module and name must match) "
                    "or use another file"
                )

    def _configure_writer(self, conn: sqlite3.Connection) -> None:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise JournalError(
                f"cannot switch {self.path} to WAL mode (SQLite kept {mode!r}); "
                "put the journal on a local file system"
            )
        synchronous = "FULL" if self.durability == "full" else "NORMAL"
        conn.execute(f"PRAGMA synchronous={synchronous}")
        # Checkpoints run from the store, off the set() path (see checkpoint()).
        conn.execute("PRAGMA wal_autocheckpoint=0")
        # No journal_size_limit: SQLite would truncate the WAL inside the first commit
        # after a checkpoint, on the event loop (about 45 ms for a 180 MB WAL). The
        # store checkpoints by WAL size instead, which bounds the file's high-water mark.

    def _record_meta(self, conn: sqlite3.Connection, snapshot_type_name: str) -> None:
        existing = conn.execute("SELECT 1 FROM meta WHERE key = 'snapshot_type'").fetchone()
        if existing is not None:
            return
        rows = [
            ("snapshot_type", snapshot_type_name),
            ("created_by", f"statelog {__version__}"),
            ("created_at", repr(time.time())),
        ]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", rows)
        conn.execute("COMMIT")
        self.meta = dict(rows)

    def _read_head(self, conn: sqlite3.Connection, check: bool) -> JournalHead:
        last_two = conn.execute(
            f"SELECT {self._columns} FROM events WHERE stream = ? ORDER BY version DESC LIMIT 2",
            (self.stream,),
        ).fetchall()
        if not last_two:
            return JournalHead(last=None, first_version=None, event_count=0)

        last = _event_row(last_two[0])
        previous = _event_row(last_two[1]).hash if len(last_two) == 2 else self._anchor_hash(conn)
        if (
            check
            and chain_hash(previous, last.version, last.recorded_at, last.payload) != last.hash
        ):
            raise JournalCorruptError(
                f"event {last.version} of {self.path} fails its hash check: its payload, time "
                "or link does not match the stored hash; the journal was not modified. Run "
                f"`statelog verify {self.path}` to find the first damaged event"
            )
        first, count = conn.execute(
            "SELECT min(version), count(*) FROM events WHERE stream = ?", (self.stream,)
        ).fetchone()
        anchor = conn.execute(
            "SELECT version FROM anchors WHERE stream = ?", (self.stream,)
        ).fetchone()
        return JournalHead(last, first, count, anchor[0] if anchor else None)

    def _anchor_hash(self, conn: sqlite3.Connection) -> bytes:
        row = conn.execute("SELECT hash FROM anchors WHERE stream = ?", (self.stream,)).fetchone()
        return bytes(row[0]) if row else GENESIS_HASH

    # -- writing ---------------------------------------------------------------

    def append(self, rows: Sequence[EventRow]) -> None:
        """Write ``rows`` in one transaction and commit; on failure, roll back all of them."""
        conn = self._require_writer()
        started = time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_INSERT, [self._parameters(row) for row in rows])
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback_quietly(conn)
            raise journal_error_from(exc, "append", self.path) from exc
        self.last_commit_seconds = time.perf_counter() - started

    def _parameters(self, row: EventRow) -> tuple[Any, ...]:
        """Return the values of ``_INSERT`` for one row, in its column order."""
        return (
            self.stream,
            row.version,
            row.recorded_at,
            row.state,
            row.payload,
            row.hash,
            row.encoding,
            row.schema_version,
        )

    def append_all(self, rows: Iterable[EventRow]) -> int:
        """Write every row of ``rows`` in one transaction, for bulk import; all or nothing."""
        conn = self._require_writer()
        count = 0

        def parameters() -> Iterator[tuple[Any, ...]]:
            nonlocal count
            for row in rows:
                count += 1
                yield self._parameters(row)

        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_INSERT, parameters())
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback_quietly(conn)
            raise journal_error_from(exc, "import", self.path) from exc
        except BaseException:
            _rollback_quietly(conn)
            raise
        return count

    def remove_before(self, version: int, limit: int) -> tuple[int, int | None]:
        """Delete up to ``limit`` of the oldest events below ``version`` in one transaction.

        The same transaction records the last deleted event's hash as the stream's
        anchor, so the remaining journal still verifies from its first event.
        Returns how many events were deleted and the last deleted version.
        """
        conn = self._require_writer()
        try:
            conn.execute("BEGIN IMMEDIATE")
            last = conn.execute(
                "SELECT max(version) FROM (SELECT version FROM events WHERE stream = ? AND "
                "version < ? ORDER BY version LIMIT ?)",
                (self.stream, version, limit),
            ).fetchone()[0]
            if last is None:
                conn.execute("COMMIT")
                return 0, None
            digest = conn.execute(
                "SELECT hash FROM events WHERE stream = ? AND version = ?", (self.stream, last)
            ).fetchone()[0]
            conn.execute(
                "INSERT OR REPLACE INTO anchors (stream, version, hash) VALUES (?, ?, ?)",
                (self.stream, last, digest),
            )
            removed = conn.execute(
                "DELETE FROM events WHERE stream = ? AND version <= ?", (self.stream, last)
            ).rowcount
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback_quietly(conn)
            raise journal_error_from(exc, "compact", self.path) from exc
        return removed, last

    def vacuum(self) -> None:
        """Rebuild the database file to return the space of deleted events to the OS."""
        conn = self._require_writer()
        try:
            conn.execute("VACUUM")
            # In WAL mode VACUUM writes the new file into the WAL; checkpoint it so the
            # database file shrinks now rather than at the next checkpoint.
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise journal_error_from(exc, "vacuum", self.path) from exc

    async def run_in_worker(self, function: Callable[..., T], *args: Any) -> T:
        """Run a writer-connection call on this journal's worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker(), function, *args)

    def append_in_thread(self, rows: Sequence[EventRow]) -> asyncio.Future[None]:
        """Run ``append`` on this journal's single worker thread (one hop per batch)."""
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._worker(), self.append, rows)

    def _worker(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="statelog-writer")
        return self._executor

    def _require_writer(self) -> sqlite3.Connection:
        if self._writer is None or self.readonly:
            raise JournalWriteError(f"{self.path} is not open for writing")
        return self._writer

    # -- reading ---------------------------------------------------------------

    async def read_after(
        self, after_version: int, limit: int, upto_version: int | None = None
    ) -> list[EventRow]:
        """Return up to ``limit`` events with ``after_version < version <= upto_version``."""
        sql = f"SELECT {self._columns} FROM events WHERE stream = ? AND version > ?"
        params: list[Any] = [self.stream, after_version]
        if upto_version is not None:
            sql += " AND version <= ?"
            params.append(upto_version)
        sql += " ORDER BY version LIMIT ?"
        params.append(limit)
        rows = await self._fetchall(sql, params)
        return [_event_row(row) for row in rows]

    async def read_window(
        self,
        after_version: int,
        limit: int,
        upto_version: int | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[EventRow]:
        """Like ``read_after``, keeping only events recorded within [since, until]."""
        sql = f"SELECT {self._columns} FROM events WHERE stream = ? AND version > ?"
        params: list[Any] = [self.stream, after_version]
        for clause, value in (
            (" AND version <= ?", upto_version),
            (" AND recorded_at >= ?", since),
            (" AND recorded_at <= ?", until),
        ):
            if value is not None:
                sql += clause
                params.append(value)
        sql += " ORDER BY version LIMIT ?"
        params.append(limit)
        return [_event_row(row) for row in await self._fetchall(sql, params)]

    async def read_states(
        self, after_version: int, limit: int, upto_version: int | None = None
    ) -> list[tuple[int, float, str | None]]:
        """Return (version, recorded_at, state) of up to ``limit`` events, without payloads."""
        sql = "SELECT version, recorded_at, state FROM events WHERE stream = ? AND version > ?"
        params: list[Any] = [self.stream, after_version]
        if upto_version is not None:
            sql += " AND version <= ?"
            params.append(upto_version)
        sql += " ORDER BY version LIMIT ?"
        params.append(limit)
        return [(row[0], row[1], row[2]) for row in await self._fetchall(sql, params)]

    async def state_before(self, version: int) -> tuple[int, float, str | None] | None:
        """Return (version, recorded_at, state) of the last event before ``version``."""
        rows = await self._fetchall(
            "SELECT version, recorded_at, state FROM events WHERE stream = ? AND version < ? "
            "ORDER BY version DESC LIMIT 1",
            [self.stream, version],
        )
        return (rows[0][0], rows[0][1], rows[0][2]) if rows else None

    async def state_entered_at(self, version: int, state: str | None) -> float:
        """Return when the run of ``state`` that includes event ``version`` began."""
        rows = await self._fetchall(
            "SELECT recorded_at FROM events WHERE stream = ? AND version <= ? AND version > "
            "coalesce((SELECT version FROM events WHERE stream = ? AND version < ? AND "
            "state IS NOT ? ORDER BY version DESC LIMIT 1), -9223372036854775808) "
            "ORDER BY version LIMIT 1",
            [self.stream, version, self.stream, version, state],
        )
        entered: float = rows[0][0]
        return entered

    async def read_version(self, version: int) -> EventRow | None:
        rows = await self._fetchall(
            f"SELECT {self._columns} FROM events WHERE stream = ? AND version = ?",
            [self.stream, version],
        )
        return _event_row(rows[0]) if rows else None

    async def read_versions(self, versions: Sequence[int]) -> list[EventRow]:
        """Return the events with these versions, in version order; missing ones are skipped."""
        rows: list[EventRow] = []
        # SQLite allows 32766 host parameters per statement since 3.32; stay well below.
        for start in range(0, len(versions), 500):
            chunk = list(versions[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            found = await self._fetchall(
                f"SELECT {self._columns} FROM events WHERE stream = ? AND version IN ({marks}) "
                "ORDER BY version",
                [self.stream, *chunk],
            )
            rows.extend(_event_row(row) for row in found)
        return rows

    async def read_chain(self, version: int) -> list[EventRow]:
        """Return the events needed to rebuild ``version``: its last full snapshot onwards.

        The chain runs from the last full or packed event at or before ``version``
        to ``version`` itself, so its length is bounded by how often the writer
        stores a full snapshot.
        """
        rows = await self._fetchall(
            f"SELECT {self._columns} FROM events WHERE stream = ? AND version <= ? AND "
            "version >= coalesce((SELECT version FROM events WHERE stream = ? AND "
            f"version <= ? AND {self._full_only} ORDER BY version DESC LIMIT 1), ?) "
            "ORDER BY version",
            [self.stream, version, self.stream, version, version],
        )
        return [_event_row(row) for row in rows]

    @property
    def _full_only(self) -> str:
        return "encoding != 2" if self._columns == _EVENT_COLUMNS else "1"

    async def read_at_or_before(self, version: int) -> EventRow | None:
        rows = await self._fetchall(
            f"SELECT {self._columns} FROM events WHERE stream = ? AND version <= ? "
            "ORDER BY version DESC LIMIT 1",
            [self.stream, version],
        )
        return _event_row(rows[0]) if rows else None

    async def read_at_time(self, moment: float) -> EventRow | None:
        """Return the last event recorded at or before ``moment``, through the time index."""
        rows = await self._fetchall(
            f"SELECT {self._columns} FROM events INDEXED BY events_by_time "
            "WHERE stream = ? AND recorded_at <= ? ORDER BY recorded_at DESC, version DESC "
            "LIMIT 1",
            [self.stream, moment],
        )
        return _event_row(rows[0]) if rows else None

    async def first_version_since(self, moment: float) -> int | None:
        """Return the version of the first event recorded at or after ``moment``."""
        rows = await self._fetchall(
            "SELECT version FROM events INDEXED BY events_by_time "
            "WHERE stream = ? AND recorded_at >= ? ORDER BY recorded_at LIMIT 1",
            [self.stream, moment],
        )
        return int(rows[0][0]) if rows else None

    async def anchor(self) -> tuple[int, bytes] | None:
        """Return (version, hash) of the last removed event, or None if none was removed."""
        rows = await self._fetchall(
            "SELECT version, hash FROM anchors WHERE stream = ?", [self.stream]
        )
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else None

    async def first_version(self) -> int | None:
        rows = await self._fetchall(
            "SELECT min(version) FROM events WHERE stream = ?", [self.stream]
        )
        first: int | None = rows[0][0]
        return first

    async def data_version(self) -> int:
        """Return SQLite's data_version: it changes when another connection commits."""
        rows = await self._fetchall("PRAGMA data_version", [])
        value: int = rows[0][0]
        return value

    async def checkpoint(self) -> tuple[int, int, int]:
        """Run a PASSIVE checkpoint on the reader connection, concurrently with writes.

        It copies WAL frames into the database and syncs it without taking the
        write lock, and returns SQLite's (busy, WAL frames, frames copied). The
        writer keeps appending meanwhile, so the WAL cannot restart until
        ``finish_checkpoint`` copies the frames written during this one.
        """
        rows = await self._fetchall("PRAGMA wal_checkpoint(PASSIVE)", [])
        busy, log_frames, done = rows[0]
        return int(busy), int(log_frames), int(done)

    def finish_checkpoint(self) -> tuple[int, int, int]:
        """Copy the last WAL frames from the writer connection, between two batches.

        SQLite restarts the WAL from its beginning at the next commit only when
        every frame has been copied; nothing can be appended while the writer
        runs this, so afterwards that is true. Cheap after ``checkpoint``.
        """
        conn = self._require_writer()
        try:
            busy, log_frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            raise journal_error_from(exc, "checkpoint", self.path) from exc
        return int(busy), int(log_frames), int(done)

    async def finish_checkpoint_in_thread(self) -> tuple[int, int, int]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker(), self.finish_checkpoint)

    async def _fetchall(self, sql: str, params: Sequence[Any]) -> list[Any]:
        if self._reader is None:
            raise JournalError(f"{self.path} is not open")
        try:
            return list(await self._reader.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise journal_error_from(exc, "read", self.path) from exc

    def wal_bytes(self) -> int:
        return _size(self._wal_path)

    def file_sizes(self) -> tuple[int, int]:
        """Return the byte sizes of the database file and of its WAL file."""
        return _size(self.path), _size(self._wal_path)

    # -- closing ---------------------------------------------------------------

    async def close(self) -> None:
        """Close both connections and release the writer lock; safe to call twice."""
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.close()
            thread = _worker_thread(reader)
            if thread is not None:
                # close() resolves before the worker thread has returned.
                await asyncio.to_thread(thread.join, 5.0)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        # The last connection to close checkpoints and removes the WAL file: off the loop.
        await asyncio.to_thread(self._close_writer)

    def _close_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        self._lock.release()


async def _connect_reader(uri: str, busy_timeout: float) -> aiosqlite.Connection:
    connection = aiosqlite.connect(
        uri, uri=True, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    # NOTE: aiosqlite starts a non-daemon worker thread, which would keep the
    # interpreter from exiting if a store is never closed. Marking it daemon
    # before it starts relies on aiosqlite's private `_thread` attribute.
    thread = _worker_thread(connection)
    if thread is not None and not thread.is_alive():
        thread.daemon = True
        thread.name = "statelog-reader"
    return await connection


def _worker_thread(connection: aiosqlite.Connection) -> threading.Thread | None:
    thread = getattr(connection, "_thread", None)
    return thread if isinstance(thread, threading.Thread) else None


def _event_row(values: Sequence[Any]) -> EventRow:
    """Build a row; a payload or hash edited into TEXT by hand reads as its UTF-8 bytes."""
    if type(values[3]) is bytes and type(values[4]) is bytes:
        return EventRow._make(values)
    version, recorded_at, state, payload, digest, encoding, schema = values
    if isinstance(payload, str):
        payload = payload.encode()
    if isinstance(digest, str):
        digest = digest.encode()
    return EventRow(version, recorded_at, state, payload, digest, encoding, schema)


def _rollback_quietly(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            logger.warning("rollback failed after a failed append", exc_info=True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
