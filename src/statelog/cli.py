"""The ``statelog`` command line: inspect journals read-only, and run the demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from ._errors import StateStoreError
from ._journal import EventRow, SQLiteJournal
from ._store import AsyncStateStore
from ._timefmt import format_time, parse_time

__all__ = ["main"]

# Rows fetched per read while streaming a listing.
_BATCH = 1000


@asynccontextmanager
async def open_journal(path: Path) -> AsyncIterator[SQLiteJournal]:
    """Open ``path`` read-only, for any snapshot type; the writer may keep writing."""
    journal = SQLiteJournal(path, readonly=True)
    try:
        await journal.open(None)
        yield journal
    finally:
        await journal.close()


def _reason(row: EventRow) -> str:
    try:
        document = json.loads(row.payload)
    except ValueError:
        return ""
    reason = document.get("reason", "") if isinstance(document, dict) else ""
    return str(reason)


async def _iter_rows(
    journal: SQLiteJournal, after: int, upto: int | None
) -> AsyncIterator[EventRow]:
    while True:
        rows = await journal.read_after(after, _BATCH, upto)
        for row in rows:
            yield row
        if len(rows) < _BATCH:
            return
        after = rows[-1].version


async def _log(args: argparse.Namespace) -> int:
    since = parse_time(args.since) if args.since else None
    until = parse_time(args.until) if args.until else None
    after = args.from_version - 1 if args.from_version is not None else -1
    printed = 0
    async with open_journal(args.path) as journal:
        async for row in _iter_rows(journal, after, args.to_version):
            if since is not None and row.recorded_at < since:
                continue
            if until is not None and row.recorded_at > until:
                continue
            if args.state is not None and row.state != args.state:
                continue
            _print_event(row, args)
            printed += 1
            if args.limit is not None and printed >= args.limit:
                break
    return 0


def _print_event(row: EventRow, args: argparse.Namespace) -> None:
    _print_line(row.version, row.recorded_at, row.state, _reason(row), args)


def _print_line(
    version: int, recorded_at: float, state: str | None, reason: str, args: argparse.Namespace
) -> None:
    if args.json:
        record = {"version": version, "recorded_at": recorded_at, "state": state, "reason": reason}
        sys.stdout.write(json.dumps(record) + "\n")
    else:
        when = format_time(recorded_at, local=args.local)
        sys.stdout.write(f"{version:>10}  {when:<29} {state or '-':<12} {reason}\n")
    sys.stdout.flush()


async def _tail(args: argparse.Namespace) -> int:
    store: AsyncStateStore[dict[str, Any]] = AsyncStateStore(
        path=args.path, snapshot_type=dict, readonly=True, poll_interval=args.poll
    )
    async with store:
        start = args.from_version
        if start is None:
            # Like tail(1): the last few events first, then new ones as they commit.
            head = (await store.get_metrics())["current_version"]
            start = max(head - args.last, -1)
        printed = 0
        async with store.follow(from_version=start, subscriber_id="statelog-tail") as events:
            async for event in events:
                reason = str(event.snapshot.get("reason", ""))
                _print_line(event.version, event.recorded_at, event.state, reason, args)
                printed += 1
                if args.count is not None and printed >= args.count:
                    break
    return 0


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    if args.ticks < 3:
        raise StateStoreError(f"--ticks must be at least 3, got {args.ticks}")
    return run_demo(args.db, args.ticks, args.seed)


def _agent(args: argparse.Namespace) -> int:
    from ._demo import run_agent

    asyncio.run(run_agent(args.db, args.ticks, args.seed, args.tick_seconds))
    return 0


def _run_async(handler: Callable[[argparse.Namespace], Any]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        result: int = asyncio.run(handler(args))
        return result

    return run


def _add_time_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--local", action="store_true", help="print times in the local zone")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="statelog",
        description="Inspect statelog journals (read-only) and run the demo.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run an FSM agent, SIGKILL it mid-run, restart it and show the restored state",
        description="Run an FSM agent that writes every tick to a journal, kill it with "
        "SIGKILL part-way, start it again and show that it resumed from disk.",
    )
    demo.add_argument(
        "--db",
        type=Path,
        default=Path("statelog-demo.db"),
        help="journal file (default: statelog-demo.db in the current folder)",
    )
    demo.add_argument("--ticks", type=int, default=200, help="ticks to run in all (default 200)")
    demo.add_argument("--seed", type=int, default=7, help="seed of the sensor input (default 7)")
    demo.set_defaults(handler=_demo)

    agent = commands.add_parser("_agent")
    agent.add_argument("--db", type=Path, required=True)
    agent.add_argument("--ticks", type=int, required=True)
    agent.add_argument("--seed", type=int, required=True)
    agent.add_argument("--tick-seconds", type=float, default=0.005)
    agent.set_defaults(handler=_agent)

    log = commands.add_parser(
        "log",
        help="list the events of a journal",
        description="List events: version, time, FSM state and reason, oldest first.",
    )
    log.add_argument("path", type=Path, help="journal file")
    log.add_argument("--from-version", type=int, help="first version to list")
    log.add_argument("--to-version", type=int, help="last version to list")
    log.add_argument("--since", help="earliest time (ISO 8601 or epoch seconds; UTC if no zone)")
    log.add_argument("--until", help="latest time (ISO 8601 or epoch seconds; UTC if no zone)")
    log.add_argument("--state", help="list only events in this FSM state")
    log.add_argument("--limit", type=int, help="stop after this many events")
    _add_time_options(log)
    log.set_defaults(handler=_run_async(_log))

    tail = commands.add_parser(
        "tail",
        help="print events as the writing process commits them",
        description="Print the last events of a journal, then each new one as another "
        "process commits it, until interrupted.",
    )
    tail.add_argument("path", type=Path, help="journal file")
    tail.add_argument(
        "--from-version",
        type=int,
        help="print every event after this version first (-1: from the start)",
    )
    tail.add_argument(
        "--last",
        type=int,
        default=10,
        help="without --from-version, start with this many events (default 10)",
    )
    tail.add_argument("--count", type=int, help="exit after printing this many events")
    tail.add_argument(
        "--poll",
        type=float,
        default=0.05,
        help="seconds between checks for new commits (default 0.05)",
    )
    _add_time_options(tail)
    tail.set_defaults(handler=_run_async(_tail))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``statelog`` command; errors become one line on stderr and exit code 1."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except StateStoreError as exc:
        print(f"statelog {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader of a long listing went away (`statelog log ... | head`).
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
