"""Export a journal to JSONL or CSV, and import JSONL into a new journal."""

from __future__ import annotations

import asyncio
import csv
import gzip
import importlib
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

from ._codec import qualified_name
from ._errors import StateStoreError
from ._events import StoredEvent
from ._hashing import GENESIS_HASH, chain_hash
from ._journal import EventRow, SQLiteJournal
from ._timefmt import format_time
from ._version import __version__

EXPORT_FORMAT = 1


def export_header(journal: SQLiteJournal) -> dict[str, Any]:
    return {
        "statelog_export": EXPORT_FORMAT,
        "snapshot_type": journal.meta.get("snapshot_type"),
        "stream": journal.stream,
        "exported_by": f"statelog {__version__}",
    }


def export_record(event: StoredEvent[dict[str, Any]]) -> dict[str, Any]:
    return {
        "version": event.version,
        "recorded_at": event.recorded_at,
        "state": event.state,
        "snapshot": event.snapshot,
    }


async def export_jsonl(
    journal: SQLiteJournal, out: IO[str], events: AsyncIterator[StoredEvent[dict[str, Any]]]
) -> int:
    """Write a header line, then one full snapshot per line (deltas are resolved)."""
    out.write(json.dumps(export_header(journal)) + "\n")
    count = 0
    async for event in events:
        out.write(json.dumps(export_record(event), separators=(",", ":")) + "\n")
        count += 1
    return count


async def export_csv(out: IO[str], events: AsyncIterator[StoredEvent[dict[str, Any]]]) -> int:
    writer = csv.writer(out)
    writer.writerow(["version", "recorded_at", "time_utc", "state", "snapshot"])
    count = 0
    async for event in events:
        snapshot = json.dumps(event.snapshot, separators=(",", ":"))
        when = format_time(event.recorded_at)
        writer.writerow([event.version, repr(event.recorded_at), when, event.state or "", snapshot])
        count += 1
    return count


def open_text(path: Path) -> IO[str]:
    """Open a JSONL file for reading, gzip-compressed when its name ends in .gz."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")


def _parse_line(line: str, number: int, previous: int | None) -> EventRow:
    """Check one event line of an export and return it as a row without its hash."""
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise StateStoreError(f"line {number}: invalid JSON ({exc}); fix or remove it") from None
    if not isinstance(record, dict):
        raise StateStoreError(f"line {number}: expected a JSON object, got {type(record).__name__}")
    version, recorded_at = record.get("version"), record.get("recorded_at")
    state, snapshot = record.get("state"), record.get("snapshot")
    if not isinstance(version, int) or isinstance(version, bool):
        raise StateStoreError(f"line {number}: 'version' must be an integer, got {version!r}")
    if previous is not None and version <= previous:
        raise StateStoreError(
            f"line {number}: version {version} does not follow version {previous}; "
            "events must be in increasing version order"
        )
    if not isinstance(recorded_at, int | float) or isinstance(recorded_at, bool):
        raise StateStoreError(
            f"line {number}: 'recorded_at' must be epoch seconds, got {recorded_at!r}"
        )
    if state is not None and not isinstance(state, str):
        raise StateStoreError(f"line {number}: 'state' must be a string or null, got {state!r}")
    if not isinstance(snapshot, dict):
        raise StateStoreError(f"line {number}: 'snapshot' must be a JSON object")
    payload = json.dumps(snapshot, separators=(",", ":")).encode()
    return EventRow(version, float(recorded_at), state, payload, b"")


def read_export(path: Path) -> Iterator[EventRow]:
    """Yield the events of an export file, raising on the first malformed line."""
    previous: int | None = None
    with open_text(path) as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            if number == 1 and '"statelog_export"' in line:
                continue
            row = _parse_line(line, number, previous)
            previous = row.version
            yield row


def read_export_header(path: Path) -> dict[str, Any]:
    with open_text(path) as lines:
        first = lines.readline()
    with suppress(ValueError):
        header = json.loads(first)
        if isinstance(header, dict) and "statelog_export" in header:
            return header
    return {}


def _chained(rows: Iterator[EventRow]) -> Iterator[EventRow]:
    previous = GENESIS_HASH
    for row in rows:
        digest = chain_hash(previous, row.version, row.recorded_at, row.payload)
        yield EventRow(row.version, row.recorded_at, row.state, row.payload, digest)
        previous = digest


def _check_import(source: Path, target: Path, snapshot_type: str | None) -> tuple[str, str, int]:
    """Check every line of ``source`` before anything is written; return type, stream, count."""
    if not source.exists():
        raise StateStoreError(f"import file {source} not found")
    header = read_export_header(source)
    type_name = snapshot_type or header.get("snapshot_type")
    if not type_name:
        raise StateStoreError(
            f"{source} names no snapshot type; pass --snapshot-type module.ClassName"
        )
    checked = sum(1 for _ in read_export(source))
    return _resolve_type_name(str(type_name)), str(header.get("stream") or "default"), checked


def _resolve_type_name(name: str) -> str:
    """Return the name a store records for ``name``, such as statelog.FSMSnapshot.

    A public alias is recorded under the class's own module, because the store
    that later opens the journal looks for that name. A name that does not import
    here is kept as given.
    """
    module_name, _, attribute = name.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError):
        return name
    return qualified_name(found) if isinstance(found, type) else name


async def import_jsonl(source: Path, target: Path, snapshot_type: str | None) -> int:
    """Import an export into a new or empty journal, with a fresh hash chain; all or nothing."""
    type_name, stream, checked = await asyncio.to_thread(
        _check_import, source, target, snapshot_type
    )
    created = not await asyncio.to_thread(target.exists)
    journal = SQLiteJournal(target, stream=stream)
    try:
        head = await journal.open(type_name)
        if head.last is not None:
            raise StateStoreError(
                f"{target} already contains {head.event_count} events; import into a new file"
            )
        written = await asyncio.to_thread(journal.append_all, _chained(read_export(source)))
    except BaseException:
        await journal.close()
        if created:
            _remove_journal_files(target)
        raise
    await journal.close()
    if written != checked:
        raise StateStoreError(f"{source} changed during the import; import it again")
    return written


def _remove_journal_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".lock"):
        with suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()
