"""Post-mortem queries over a journal: history, transitions, point-in-time state, diffs."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import jsonpatch

from ._encoding import DELTA, delta_document, encoding_of
from ._errors import VersionNotAvailableError
from ._events import StoredEvent
from ._hashing import GENESIS_HASH, chain_hash
from ._journal import EventRow, SQLiteJournal

if TYPE_CHECKING:
    from ._store import AsyncStateStore

S = TypeVar("S")

# Events read per batch: large enough to amortise a thread hop (about 120 us),
# small enough to keep memory flat on any journal.
BATCH = 2000


@dataclass(frozen=True, slots=True)
class StateChange:
    """An event whose FSM state differs from the previous event's."""

    version: int
    # UTC epoch seconds.
    recorded_at: float
    from_state: str | None
    to_state: str | None
    reason: str
    # Seconds the previous state lasted, from its first event to this one; None for the first.
    previous_duration: float | None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of walking a journal's hash chain."""

    intact: bool
    checked: int
    first_version: int | None
    last_version: int | None
    bad_version: int | None = None
    problem: str | None = None


@dataclass
class JournalStats:
    """Figures over a whole stream: counts and time per state, transition counts."""

    events: int = 0
    first_version: int | None = None
    last_version: int | None = None
    first_recorded_at: float | None = None
    last_recorded_at: float | None = None
    events_per_state: dict[str, int] = field(default_factory=dict)
    # Seconds in each state, from its first event to the next state's first event.
    seconds_per_state: dict[str, float] = field(default_factory=dict)
    transitions: dict[tuple[str, str], int] = field(default_factory=dict)
    file_bytes: int = 0
    wal_bytes: int = 0


def reason_of(snapshot: Any, field_name: str = "reason") -> str:
    value = (
        snapshot.get(field_name)
        if isinstance(snapshot, dict)
        else getattr(snapshot, field_name, None)
    )
    return "" if value is None else str(value)


async def iter_rows(
    journal: SQLiteJournal,
    from_version: int | None = None,
    to_version: int | None = None,
    since: float | None = None,
    until: float | None = None,
) -> AsyncIterator[EventRow]:
    """Stream rows in version order, ``BATCH`` at a time, with no transaction across batches."""
    after = -(2**63) if from_version is None else from_version - 1
    if since is not None:
        start = await journal.first_version_since(since)
        if start is None:
            return
        after = max(after, start - 1)
    while True:
        rows = await journal.read_window(after, BATCH, to_version, since, until)
        for row in rows:
            yield row
        if len(rows) < BATCH:
            return
        after = rows[-1].version


async def history(
    store: AsyncStateStore[S],
    from_version: int | None,
    to_version: int | None,
    since: float | None,
    until: float | None,
) -> AsyncIterator[StoredEvent[S]]:
    """Decode consecutive rows, so each delta applies to the event just decoded."""
    journal = store._journal
    after = -(2**63) if from_version is None else from_version - 1
    if since is not None:
        start = await journal.first_version_since(since)
        if start is None:
            return
        after = max(after, start - 1)
    if until is not None:
        last = await journal.read_at_time(until)
        if last is None:
            return
        to_version = last.version if to_version is None else min(to_version, last.version)
    while True:
        rows = await journal.read_after(after, BATCH, to_version)
        for event in await store._decoder.decode_rows(rows, after):
            in_window = (since is None or event.recorded_at >= since) and (
                until is None or event.recorded_at <= until
            )
            if in_window:
                yield event
        if len(rows) < BATCH:
            return
        after = rows[-1].version


async def iter_states(
    journal: SQLiteJournal, from_version: int | None, to_version: int | None
) -> AsyncIterator[tuple[int, float, str | None]]:
    after = -(2**63) if from_version is None else from_version - 1
    while True:
        rows = await journal.read_states(after, BATCH * 10, to_version)
        for row in rows:
            yield row
        if len(rows) < BATCH * 10:
            return
        after = rows[-1][0]


async def transitions(
    store: AsyncStateStore[S],
    from_version: int | None,
    to_version: int | None,
    since: float | None,
    until: float | None,
) -> AsyncIterator[StateChange]:
    """Yield each state change; reads the state column, and payloads only of changes."""
    previous_state: str | None = None
    entered_at: float | None = None
    started = False
    after = -(2**63) if from_version is None else from_version - 1
    if from_version is not None:
        # Start from the state in force before from_version, so that a change at
        # from_version is listed and its duration counts from when that state began.
        seed = await store._journal.state_before(from_version)
        if seed is not None:
            started, previous_state = True, seed[2]
            entered_at = await store._journal.state_entered_at(seed[0], seed[2])
    while True:
        rows = await store._journal.read_states(after, BATCH * 10, to_version)
        found: list[tuple[int, float, str | None, str | None, float | None]] = []
        for version, recorded_at, state in rows:
            if started and state == previous_state:
                continue
            in_window = (since is None or recorded_at >= since) and (
                until is None or recorded_at <= until
            )
            if started and in_window:
                duration = recorded_at - entered_at if entered_at is not None else None
                found.append((version, recorded_at, previous_state, state, duration))
            started = True
            previous_state, entered_at = state, recorded_at
        for change in await _with_reasons(store, found):
            yield change
        if len(rows) < BATCH * 10:
            return
        after = rows[-1][0]


async def _with_reasons(
    store: AsyncStateStore[Any],
    found: list[tuple[int, float, str | None, str | None, float | None]],
) -> list[StateChange]:
    payloads = await store._journal.read_versions([change[0] for change in found])
    reasons = {row.version: await _reason_of_row(store, row) for row in payloads}
    return [
        StateChange(version, at, old, new, reasons.get(version, ""), duration)
        for version, at, old, new, duration in found
    ]


async def _reason_of_row(store: AsyncStateStore[Any], row: EventRow) -> str:
    """Read the reason field, from a delta's own fields when it changed there."""
    if encoding_of(row.payload) == DELTA:
        changed = delta_document(row.payload).get("set", {})
        if "reason" in changed:
            return "" if changed["reason"] is None else str(changed["reason"])
    event = (await store._decoder.decode_rows([row]))[0]
    return reason_of(event.snapshot)


async def state_at(
    store: AsyncStateStore[S], version: int | None, at: float | None
) -> StoredEvent[S] | None:
    if (version is None) == (at is None):
        raise ValueError("pass exactly one of version= and at=")
    if version is not None:
        row = await store._journal.read_at_or_before(version)
    else:
        assert at is not None
        row = await store._journal.read_at_time(at)
    if row is None:
        return None
    return (await store._decoder.decode_rows([row]))[0]


async def diff(store: AsyncStateStore[Any], a: int, b: int) -> list[dict[str, Any]]:
    """Return the RFC 6902 JSON Patch that turns version ``a``'s snapshot into ``b``'s."""
    documents = []
    for version in (a, b):
        row = await store._journal.read_version(version)
        if row is None:
            raise VersionNotAvailableError(
                f"version {version} not found in {store.path}; {await _range_hint(store._journal)}"
            )
        event = (await store._decoder.decode_rows([row]))[0]
        documents.append(store._codec.to_document(event.snapshot))
    patch: list[dict[str, Any]] = jsonpatch.make_patch(documents[0], documents[1]).patch
    return patch


async def _range_hint(journal: SQLiteJournal) -> str:
    first = await journal.first_version()
    if first is None:
        return "the journal is empty"
    last = await journal.read_at_or_before(2**63 - 1)
    last_version = last.version if last else first
    return f"it contains versions {first} to {last_version}"


async def verify(journal: SQLiteJournal) -> VerifyReport:
    """Walk the chain from the first event (or the removal anchor) and report the first break."""
    anchor = await journal.anchor()
    previous_version, previous_hash = anchor if anchor else (None, GENESIS_HASH)
    checked = 0
    first: int | None = None
    last: int | None = None
    async for row in iter_rows(journal):
        if first is None:
            first = row.version
        problem = None
        if previous_version is not None and row.version <= previous_version:
            problem = f"version {row.version} does not follow version {previous_version}"
        elif chain_hash(previous_hash, row.version, row.recorded_at, row.payload) != row.hash:
            problem = (
                f"the hash of event {row.version} does not match its payload, time and link "
                f"to the previous event"
            )
        if problem is not None:
            return VerifyReport(False, checked, first, last, row.version, problem)
        checked += 1
        last = row.version
        previous_version, previous_hash = row.version, row.hash
    return VerifyReport(True, checked, first, last)


async def stats(journal: SQLiteJournal) -> JournalStats:
    result = JournalStats()
    per_state: Tally[str] = Tally()
    seconds: dict[str, float] = {}
    changes: Tally[tuple[str, str]] = Tally()
    current: str | None = None
    entered_at = 0.0
    async for version, recorded_at, state in iter_states(journal, None, None):
        name = state or "-"
        if result.first_version is None:
            result.first_version, result.first_recorded_at = version, recorded_at
            current, entered_at = name, recorded_at
        elif name != current and current is not None:
            seconds[current] = seconds.get(current, 0.0) + recorded_at - entered_at
            changes[(current, name)] += 1
            current, entered_at = name, recorded_at
        per_state[name] += 1
        result.events += 1
        result.last_version, result.last_recorded_at = version, recorded_at
    if current is not None and result.last_recorded_at is not None:
        seconds[current] = seconds.get(current, 0.0) + result.last_recorded_at - entered_at
    result.events_per_state = dict(per_state)
    result.seconds_per_state = seconds
    result.transitions = dict(changes)
    result.file_bytes, result.wal_bytes = journal.file_sizes()
    return result
