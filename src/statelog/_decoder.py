"""Turn journal rows back into snapshots: full payloads directly, deltas on their predecessor."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import pydantic_core

from ._codec import SnapshotCodec
from ._encoding import DELTA, apply_to_document, delta_document, encoding_of, full_json
from ._errors import JournalCorruptError, SnapshotError
from ._events import StoredEvent
from ._journal import EventRow, SQLiteJournal

S = TypeVar("S")

# Decoded snapshots kept for the next batch of a sequential reader (catch-up, history).
_CACHE_SIZE = 64


class EventDecoder(Generic[S]):
    """Decode rows in version order, rebuilding a delta's predecessor only when unknown.

    A reader that asks for the rows after version N, where N is an event this
    decoder or ``lookup`` has in memory, pays nothing extra for deltas. Otherwise the
    predecessor is rebuilt from its last full snapshot, a bounded chain.
    """

    def __init__(
        self,
        codec: SnapshotCodec[S],
        journal: SQLiteJournal,
        lookup: Callable[[int], S | None],
    ) -> None:
        self._codec = codec
        self._journal = journal
        self._lookup = lookup
        self._recent: OrderedDict[int, S] = OrderedDict()
        self._last_document: tuple[int, dict[str, Any]] | None = None

    def recall(self, version: int) -> S | None:
        found = self._lookup(version)
        if found is not None:
            return found
        return self._recent.get(version)

    def _remember(self, version: int, snapshot: S) -> None:
        self._recent[version] = snapshot
        self._recent.move_to_end(version)
        while len(self._recent) > _CACHE_SIZE:
            self._recent.popitem(last=False)

    async def decode_rows(
        self, rows: Sequence[EventRow], after: int | None = None
    ) -> list[StoredEvent[S]]:
        """Decode consecutive rows of the stream; ``after`` is the version just before them."""
        previous = self.recall(after) if after is not None else None
        # The version of the row before each row, when it is known to be its predecessor.
        before = after
        events: list[StoredEvent[S]] = []
        codec, schema = self._codec, self._codec.schema_version
        for row in rows:
            payload = row.payload
            if payload[:1] == b"{" and row.schema_version == schema:
                # The common case, a plain full snapshot, without a coroutine per row.
                snapshot = codec.decode(payload, row.version)
            else:
                snapshot = await self._decode(row, previous, before)
            events.append(StoredEvent(row.version, row.recorded_at, row.state, snapshot))
            previous, before = snapshot, row.version
        if events:
            self._remember(events[-1].version, events[-1].snapshot)
        return events

    async def _decode(self, row: EventRow, previous: S | None, before: int | None) -> S:
        codec = self._codec
        if row.schema_version != codec.schema_version and not codec.is_raw:
            document = await self._document(row, before)
            return codec.decode_document(document, row.version, row.schema_version)
        if encoding_of(row.payload) != DELTA:
            return codec.decode(full_json(row.payload), row.version)
        if previous is None:
            previous = await self._rebuild_before(row.version)
        return codec.apply_delta(previous, delta_document(row.payload), row.version)

    async def _rebuild_before(self, version: int) -> S:
        """Rebuild the event before ``version`` from its last full snapshot.

        The deltas are applied to one JSON document in place and the result is
        validated once, so the cost grows with the chain plus the snapshot's size,
        not with their product as applying each delta to a snapshot object would.
        """
        chain = await self._journal.read_chain(version - 1)
        if not chain or encoding_of(chain[0].payload) == DELTA:
            raise JournalCorruptError(
                f"event {version} of {self._journal.path} is a delta, but no full snapshot "
                "precedes it; run `statelog verify` on the journal"
            )
        last = chain[-1]
        document = _parse(full_json(chain[0].payload), chain[0].version)
        for row in chain[1:]:
            _apply_in_place(document, delta_document(row.payload))
        snapshot = self._codec.decode_document(document, last.version, last.schema_version)
        self._remember(last.version, snapshot)
        return snapshot

    async def _document(self, row: EventRow, before: int | None) -> dict[str, Any]:
        """Return an old-schema event's JSON document, for upcasting."""
        if encoding_of(row.payload) != DELTA:
            document = _parse(full_json(row.payload), row.version)
        else:
            previous = self._last_document
            if previous is None or before is None or previous[0] != before:
                chain = await self._journal.read_chain(row.version - 1)
                previous = (chain[-1].version, await self._chain_document(chain)) if chain else None
            if previous is None:
                raise JournalCorruptError(
                    f"event {row.version} of {self._journal.path} is a delta with no full "
                    "snapshot before it; run `statelog verify` on the journal"
                )
            document = apply_to_document(previous[1], delta_document(row.payload))
        self._last_document = (row.version, document)
        return document

    async def _chain_document(self, chain: Sequence[EventRow]) -> dict[str, Any]:
        document = _parse(full_json(chain[0].payload), chain[0].version)
        for row in chain[1:]:
            document = apply_to_document(document, delta_document(row.payload))
        return document


def _apply_in_place(document: dict[str, Any], delta: dict[str, Any]) -> None:
    document.update(delta.get("set", {}))
    for name, items in delta.get("append", {}).items():
        document.setdefault(name, []).extend(items)


def _parse(payload: bytes, version: int) -> dict[str, Any]:
    try:
        document = pydantic_core.from_json(payload)
    except ValueError as exc:
        raise SnapshotError(
            f"the payload of event {version} is not valid JSON ({exc}); read it with "
            "`statelog show --raw`"
        ) from None
    if not isinstance(document, dict):
        raise SnapshotError(f"the payload of event {version} is not a JSON object")
    return document
