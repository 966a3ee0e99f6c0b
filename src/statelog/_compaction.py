"""Retention: remove old events, optionally archiving them first, keeping the chain verifiable."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._encoding import DELTA, encoding_of
from ._errors import StateStoreError
from ._timefmt import to_epoch
from ._version import __version__

if TYPE_CHECKING:
    from ._store import AsyncStateStore

# Events deleted per transaction: each chunk is short, so set() calls interleave.
CHUNK = 5000


@dataclass(frozen=True, slots=True)
class CompactReport:
    """The outcome of ``compact()``: events removed and where the journal now starts."""

    removed: int
    # The last removed version, now the anchor the remaining chain starts from.
    anchor_version: int | None
    first_version: int | None
    archive: Path | None


async def resolve_cut(
    store: AsyncStateStore[Any],
    before_version: int | None,
    older_than: dt.datetime | dt.timedelta | float | None,
) -> int:
    """Return the first version to keep: never the head, never a delta without its base."""
    if (before_version is None) == (older_than is None):
        raise StateStoreError("pass exactly one of before_version= and older_than=")
    journal = store._journal
    if before_version is None:
        moment = (
            dt.datetime.now(dt.UTC) - older_than
            if isinstance(older_than, dt.timedelta)
            else older_than
        )
        assert moment is not None
        first_kept = await journal.first_version_since(to_epoch(moment))
        before_version = first_kept if first_kept is not None else store._hub.head

    # Keep the head, and keep the full snapshot that the first kept delta builds on.
    keep_from = min(before_version, store._hub.head)
    chain = await journal.read_chain(keep_from)
    if chain and encoding_of(chain[0].payload) == DELTA:
        raise StateStoreError(f"event {keep_from} of {store.path} has no full snapshot before it")
    if chain:
        keep_from = min(keep_from, chain[0].version)
    return keep_from


async def write_archive(store: AsyncStateStore[Any], keep_from: int, archive: Path) -> int:
    """Write the events before ``keep_from`` as gzip JSONL that `statelog import` reads."""
    partial = archive.with_name(archive.name + ".partial")
    header = {
        "statelog_export": 1,
        "snapshot_type": store._journal.meta.get("snapshot_type"),
        "stream": store._journal.stream,
        "exported_by": f"statelog {__version__}",
    }
    count = 0
    with gzip.open(partial, "wt", encoding="utf-8") as out:
        out.write(json.dumps(header) + "\n")
        async for event in store.history(to_version=keep_from - 1):
            record = {
                "version": event.version,
                "recorded_at": event.recorded_at,
                "state": event.state,
                "snapshot": store._codec.to_document(event.snapshot),
            }
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
            count += 1
    with partial.open("rb") as written:
        os.fsync(written.fileno())
    # Only a complete archive gets its name, and only then are events deleted.
    partial.replace(archive)
    return count
