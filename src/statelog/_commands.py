"""Handlers of the ``statelog`` subcommands; each reads its journal read-only."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

from ._encoding import display_json
from ._errors import StateStoreError, VersionNotAvailableError
from ._events import StoredEvent
from ._history import StateChange, reason_of
from ._history import verify as verify_chain
from ._journal import SQLiteJournal
from ._store import AsyncStateStore
from ._timefmt import format_time, parse_time
from ._timeline import Segment, render_timeline
from ._transfer import export_csv, export_jsonl, import_jsonl

RawStore = AsyncStateStore[dict[str, Any]]


@asynccontextmanager
async def open_raw(path: Path, poll_interval: float = 0.05) -> AsyncIterator[RawStore]:
    """Open any journal read-only, snapshots as plain JSON objects; writers may go on."""
    store: RawStore = AsyncStateStore(
        path=path, snapshot_type=dict, readonly=True, poll_interval=poll_interval
    )
    async with store:
        yield store


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def print_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows under a header with columns aligned; numbers align right."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(header)]
    numeric = [all(isinstance(row[i], int | float) for row in rows) for i in range(len(header))]

    def line(values: Sequence[str]) -> str:
        padded = [
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(padded).rstrip()

    out(line(header))
    for row in cells:
        out(line(row))


async def check_version(store: RawStore, version: int) -> None:
    metrics = await store.get_metrics()
    first, last = metrics["journal"]["first_version"], metrics["current_version"]
    if first is None:
        raise VersionNotAvailableError(f"version {version} is out of range: {store.path} is empty")
    if not first <= version <= last:
        raise VersionNotAvailableError(
            f"version {version} is out of range: {store.path} contains versions {first} to {last}"
        )


def _time_bounds(args: argparse.Namespace) -> tuple[float | None, float | None]:
    since = parse_time(args.since) if getattr(args, "since", None) else None
    until = parse_time(args.until) if getattr(args, "until", None) else None
    return since, until


def _event_line(event: StoredEvent[dict[str, Any]], args: argparse.Namespace) -> str:
    reason = reason_of(event.snapshot)
    if args.json:
        record = {
            "version": event.version,
            "recorded_at": event.recorded_at,
            "state": event.state,
            "reason": reason,
        }
        return json.dumps(record)
    when = format_time(event.recorded_at, local=args.local)
    return f"{event.version:>10}  {when:<29} {event.state or '-':<12} {reason}"


async def log(args: argparse.Namespace) -> int:
    since, until = _time_bounds(args)
    printed = 0
    async with open_raw(args.path) as store:
        for bound in (args.from_version, args.to_version):
            if bound is not None:
                await check_version(store, bound)
        if not args.json:
            out(f"{'version':>10}  {'recorded_at':<29} {'state':<12} reason")
        events = store.history(
            from_version=args.from_version, to_version=args.to_version, since=since, until=until
        )
        async for event in events:
            if args.state is not None and event.state != args.state:
                continue
            out(_event_line(event, args))
            printed += 1
            if args.limit is not None and printed >= args.limit:
                break
    return 0


async def show(args: argparse.Namespace) -> int:
    async with open_raw(args.path) as store:
        await check_version(store, args.version)
        row = await store._journal.read_version(args.version)
        if row is None:
            raise VersionNotAvailableError(f"version {args.version} not found in {args.path}")
        if args.raw:
            # The stored JSON as it is: a delta stays a delta, and nothing is decoded.
            sys.stdout.buffer.write(display_json(row.payload) + b"\n")
            return 0
        event = await store.state_at(version=args.version)
    if event is None or event.version != args.version:
        raise VersionNotAvailableError(f"version {args.version} not found in {args.path}")
    record = {
        "version": event.version,
        "recorded_at": event.recorded_at,
        "recorded_at_utc": format_time(event.recorded_at),
        "state": event.state,
        "snapshot": event.snapshot,
    }
    out(json.dumps(record, indent=2, ensure_ascii=False))
    return 0


def _change_record(change: StateChange) -> dict[str, Any]:
    return {
        "version": change.version,
        "recorded_at": change.recorded_at,
        "from_state": change.from_state,
        "to_state": change.to_state,
        "reason": change.reason,
        "previous_duration": change.previous_duration,
    }


async def transitions(args: argparse.Namespace) -> int:
    since, until = _time_bounds(args)
    async with open_raw(args.path) as store:
        for bound in (args.from_version, args.to_version):
            if bound is not None:
                await check_version(store, bound)
        changes = store.transitions(
            from_version=args.from_version, to_version=args.to_version, since=since, until=until
        )
        if not args.json:
            out(f"{'version':>10}  {'recorded_at':<29} {'change':<26} {'lasted_s':>10}  reason")
        async for change in changes:
            if args.json:
                out(json.dumps(_change_record(change)))
                continue
            lasted = "-" if change.previous_duration is None else f"{change.previous_duration:.3f}"
            arrow = f"{change.from_state} -> {change.to_state}"
            when = format_time(change.recorded_at, local=args.local)
            out(f"{change.version:>10}  {when:<29} {arrow:<26} {lasted:>10}  {change.reason}")
    return 0


async def state_at(args: argparse.Namespace) -> int:
    text = args.when.strip()
    async with open_raw(args.path) as store:
        if text.lstrip("-").isdigit():
            await check_version(store, int(text))
            event = await store.state_at(version=int(text))
        else:
            moment = parse_time(text.removeprefix("@"))
            event = await store.state_at(at=moment)
            if event is None:
                raise VersionNotAvailableError(
                    f"no event was recorded at or before {format_time(moment)} in {args.path}"
                )
    if event is None:
        raise VersionNotAvailableError(f"no event at or before {text} in {args.path}")
    record = {
        "version": event.version,
        "recorded_at": event.recorded_at,
        "recorded_at_utc": format_time(event.recorded_at),
        "state": event.state,
        "snapshot": event.snapshot,
    }
    if args.json:
        out(json.dumps(record))
    else:
        out(
            f"version {event.version}, state {event.state}, recorded "
            f"{format_time(event.recorded_at, local=args.local)}"
        )
        out(json.dumps(event.snapshot, indent=2, ensure_ascii=False))
    return 0


async def diff(args: argparse.Namespace) -> int:
    async with open_raw(args.path) as store:
        patch = await store.diff(args.a, args.b)
    if args.json:
        out(json.dumps(patch))
        return 0
    if not patch:
        out(f"versions {args.a} and {args.b} hold equal snapshots")
    rows = [[op["op"], op["path"], _patch_value(op)] for op in patch]
    if rows:
        print_table(["op", "path", "value"], rows)
    return 0


def _patch_value(operation: dict[str, Any]) -> str:
    """Return what a table shows for one JSON Patch operation: its value, its source, or -."""
    if "value" in operation:
        return json.dumps(operation["value"])[:80]
    if "from" in operation:
        return f"from {operation['from']}"
    return "-"


async def verify(args: argparse.Namespace) -> int:
    # The journal alone, without a store: a store would not open past a damaged head.
    journal = SQLiteJournal(args.path, readonly=True)
    await journal.open(None, check_head=False)
    try:
        report = await verify_chain(journal)
    finally:
        await journal.close()
    if args.json:
        out(
            json.dumps(
                {
                    "intact": report.intact,
                    "checked": report.checked,
                    "first_version": report.first_version,
                    "last_version": report.last_version,
                    "bad_version": report.bad_version,
                    "problem": report.problem,
                }
            )
        )
    elif report.intact:
        out(
            f"intact: {report.checked} events checked, versions {report.first_version} to "
            f"{report.last_version}"
        )
    else:
        out(
            f"damaged at version {report.bad_version}: {report.problem} "
            f"({report.checked} events before it verified)"
        )
    return 0 if report.intact else 1


async def stats(args: argparse.Namespace) -> int:
    async with open_raw(args.path) as store:
        figures = await store.stats()
    if args.json:
        record = dict(vars(figures))
        record["transitions"] = [
            {"from": a, "to": b, "count": n} for (a, b), n in figures.transitions.items()
        ]
        out(json.dumps(record))
        return 0
    span = (figures.last_recorded_at or 0.0) - (figures.first_recorded_at or 0.0)
    out(f"events: {figures.events}, versions {figures.first_version} to {figures.last_version}")
    if figures.first_recorded_at is not None and figures.last_recorded_at is not None:
        out(
            f"time span: {format_time(figures.first_recorded_at, local=args.local)} to "
            f"{format_time(figures.last_recorded_at, local=args.local)} ({span:.3f} s)"
        )
    out(f"file: {figures.file_bytes} bytes, WAL: {figures.wal_bytes} bytes")
    out()
    print_table(
        ["state", "events", "seconds", "share"],
        [
            [
                state,
                count,
                round(figures.seconds_per_state.get(state, 0.0), 3),
                f"{100 * figures.seconds_per_state.get(state, 0.0) / span:.1f}%" if span else "-",
            ]
            for state, count in sorted(figures.events_per_state.items())
        ],
    )
    out()
    print_table(
        ["from", "to", "count"], [[a, b, n] for (a, b), n in sorted(figures.transitions.items())]
    )
    return 0


async def tail(args: argparse.Namespace) -> int:
    async with open_raw(args.path, args.poll) as store:
        start = args.from_version
        if start is None:
            # Like tail(1): the last few events first, then new ones as they commit.
            head = (await store.get_metrics())["current_version"]
            start = max(head - args.last, -1)
        printed = 0
        async with store.follow(from_version=start, subscriber_id="statelog-tail") as events:
            async for event in events:
                out(_event_line(event, args))
                sys.stdout.flush()
                printed += 1
                if args.count is not None and printed >= args.count:
                    break
    return 0


async def export(args: argparse.Namespace) -> int:
    async with open_raw(args.path) as store:
        target: IO[str] = (
            sys.stdout
            if args.out is None
            else await asyncio.to_thread(args.out.open, "w", encoding="utf-8", newline="")
        )
        try:
            events = store.history()
            if args.format == "jsonl":
                count = await export_jsonl(store._journal, target, events)
            else:
                count = await export_csv(target, events)
        finally:
            if target is not sys.stdout:
                target.close()
    if args.out is not None:
        print(f"exported {count} events to {args.out}", file=sys.stderr)
    return 0


async def import_(args: argparse.Namespace) -> int:
    count = await import_jsonl(args.file, args.db, args.snapshot_type)
    out(f"imported {count} events into {args.db}")
    return 0


async def _observed_transitions(store: RawStore) -> dict[tuple[str, str], int]:
    return (await store.stats()).transitions


async def graph(args: argparse.Namespace) -> int:
    async with open_raw(args.path) as store:
        edges = await _observed_transitions(store)
    if args.format == "mermaid":
        out("stateDiagram-v2")
        for (source, target), count in sorted(edges.items()):
            out(f"    {source} --> {target}: {count}")
    else:
        out("digraph fsm {")
        for (source, target), count in sorted(edges.items()):
            out(f'    "{source}" -> "{target}" [label="{count}"];')
        out("}")
    return 0


async def timeline(args: argparse.Namespace) -> int:
    since, until = _time_bounds(args)
    async with open_raw(args.path) as store:
        segments = await _segments(store, since, until)
    if not segments:
        raise StateStoreError(f"{args.path} has no events in that range to draw")
    page = render_timeline(f"statelog timeline of {args.path.name}", segments, local=args.local)
    await asyncio.to_thread(args.out.write_text, page, "utf-8")
    out(f"wrote {len(segments)} segments to {args.out}")
    return 0


async def _segments(store: RawStore, since: float | None, until: float | None) -> list[Segment]:
    """Cut the journal into stretches of one state, reading payloads only at changes."""
    first = None
    async for event in store.history(since=since, until=until):
        first = event
        break
    last = (
        await store.state_at(at=until) if until is not None else await store.state_at(version=2**62)
    )
    if first is None or last is None:
        return []
    segments = [
        Segment(
            first.state or "-",
            first.recorded_at,
            first.recorded_at,
            first.version,
            reason_of(first.snapshot),
        )
    ]
    async for change in store.transitions(from_version=first.version, to_version=last.version):
        previous = segments[-1]
        segments[-1] = Segment(
            previous.state, previous.start, change.recorded_at, previous.version, previous.reason
        )
        segments.append(
            Segment(
                change.to_state or "-",
                change.recorded_at,
                change.recorded_at,
                change.version,
                change.reason,
            )
        )
    final = segments[-1]
    segments[-1] = Segment(final.state, final.start, last.recorded_at, final.version, final.reason)
    return segments


async def compact(args: argparse.Namespace) -> int:
    older_than = parse_time(args.older_than) if args.older_than else None
    store: RawStore = AsyncStateStore(path=args.path, snapshot_type=dict)
    async with store:
        report = await store.compact(
            before_version=args.before_version, older_than=older_than, archive=args.archive
        )
    where = f", archived to {report.archive}" if report.archive else ""
    out(
        f"removed {report.removed} events{where}; the journal now starts at version "
        f"{report.first_version}, anchored to version {report.anchor_version}"
    )
    return 0


async def vacuum(args: argparse.Namespace) -> int:
    store: RawStore = AsyncStateStore(path=args.path, snapshot_type=dict)
    async with store:
        before = store._journal.file_sizes()[0]
        await store.vacuum()
        after = store._journal.file_sizes()[0]
    out(f"vacuumed {args.path}: {before} bytes before, {after} bytes after")
    return 0
