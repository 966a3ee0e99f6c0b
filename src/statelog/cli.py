"""The ``statelog`` command line: inspect journals read-only, and run the demo."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from . import _commands as commands
from ._errors import StateStoreError

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]

_TIME_HELP = "ISO 8601 (UTC when it has no zone) or epoch seconds"


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    if args.ticks < 3:
        raise StateStoreError(f"--ticks must be at least 3, got {args.ticks}")
    return run_demo(args.db, args.ticks, args.seed)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add(
    subparsers: Any,
    name: str,
    handler: Handler | Callable[[argparse.Namespace], int],
    summary: str,
    description: str,
    *,
    journal: bool = True,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=summary, description=description
    )
    if journal:
        parser.add_argument("path", type=Path, help="journal file (opened read-only)")
    parser.set_defaults(handler=handler)
    return parser


def _output_options(parser: argparse.ArgumentParser, *, times: bool = True) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    if times:
        parser.add_argument(
            "--local", action="store_true", help="print times in the local zone instead of UTC"
        )


def _range_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from-version", type=int, metavar="N", help="first version (inclusive)")
    parser.add_argument("--to-version", type=int, metavar="N", help="last version (inclusive)")
    parser.add_argument("--since", metavar="TIME", help=f"earliest time: {_TIME_HELP}")
    parser.add_argument("--until", metavar="TIME", help=f"latest time: {_TIME_HELP}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="statelog",
        description="Inspect statelog journals without disturbing their writer, and run the "
        "demo. Times print in UTC unless --local is given.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = _add(
        sub,
        "demo",
        _demo,
        "run an FSM agent, SIGKILL it, restart it, show the restore",
        "Run an FSM agent that writes every tick to a journal, kill it with SIGKILL "
        "part-way, start it again and show that it resumed from disk.",
        journal=False,
    )
    demo.add_argument(
        "--db",
        type=Path,
        default=Path("statelog-demo.db"),
        help="journal file (default: statelog-demo.db in the current folder)",
    )
    demo.add_argument("--ticks", type=int, default=200, help="ticks to run in all (default 200)")
    demo.add_argument("--seed", type=int, default=7, help="seed of the sensor input (default 7)")

    log = _add(
        sub,
        "log",
        commands.log,
        "list events: version, time, state, reason",
        "List the events of a journal in version order, streaming.",
    )
    _range_options(log)
    log.add_argument("--state", help="list only events in this FSM state")
    log.add_argument("--limit", type=_positive, metavar="N", help="stop after N events")
    _output_options(log)

    show = _add(
        sub,
        "show",
        commands.show,
        "print one snapshot as JSON",
        "Print the snapshot stored at VERSION as indented JSON.",
    )
    show.add_argument("version", type=int, help="version to print")
    show.add_argument(
        "--raw",
        action="store_true",
        help="print the stored payload bytes as they are, even if they do not decode",
    )

    transitions = _add(
        sub,
        "transitions",
        commands.transitions,
        "list state changes",
        "List the events where the FSM state changed, with the reason and how "
        "long the previous state lasted (seconds).",
    )
    _range_options(transitions)
    _output_options(transitions)

    state_at = _add(
        sub,
        "state-at",
        commands.state_at,
        "print the snapshot in force at a moment",
        "Print the last event at or before WHEN. A plain integer is a version; "
        f"anything else is a time: {_TIME_HELP}, or @EPOCH.",
    )
    state_at.add_argument("when", metavar="TIME|VERSION", help="a version, or a time")
    _output_options(state_at)

    diff = _add(
        sub,
        "diff",
        commands.diff,
        "print what changed between two versions",
        "Print the RFC 6902 JSON Patch that turns version A's snapshot into B's.",
    )
    diff.add_argument("a", type=int, help="older version")
    diff.add_argument("b", type=int, help="newer version")
    _output_options(diff, times=False)

    verify = _add(
        sub,
        "verify",
        commands.verify,
        "check the hash chain",
        "Walk the hash chain from the first event; exit 1 at the first event whose "
        "hash or link does not match.",
    )
    _output_options(verify, times=False)

    stats = _add(
        sub,
        "stats",
        commands.stats,
        "count events and time per state",
        "Print event counts, the time span, count and total time per state, "
        "transition counts, and the file and WAL sizes.",
    )
    _output_options(stats)

    tail = _add(
        sub,
        "tail",
        commands.tail,
        "print events as the writer commits them",
        "Print the last events, then each new one as the writing process commits it, "
        "until interrupted.",
    )
    tail.add_argument(
        "--from-version",
        type=int,
        metavar="N",
        help="first print every event after version N (-1: from the start)",
    )
    tail.add_argument(
        "--last",
        type=int,
        default=10,
        metavar="N",
        help="without --from-version, start with the last N events (default 10)",
    )
    tail.add_argument("--count", type=_positive, metavar="N", help="exit after printing N events")
    tail.add_argument(
        "--poll",
        type=float,
        default=0.05,
        metavar="SECONDS",
        help="seconds between checks for new commits (default 0.05)",
    )
    _output_options(tail)

    export = _add(
        sub,
        "export",
        commands.export,
        "write every event as JSONL or CSV",
        "Write every event, oldest first, as JSON lines (with a header line that "
        "names the snapshot type) or CSV.",
    )
    export.add_argument(
        "--format", choices=["jsonl", "csv"], default="jsonl", help="output format (default jsonl)"
    )
    export.add_argument("--out", type=Path, metavar="FILE", help="output file (default stdout)")

    import_ = _add(
        sub,
        "import",
        commands.import_,
        "load a JSONL export into a new journal",
        "Load a JSONL export (gzip-compressed if its name ends in .gz) into a new "
        "journal, keeping versions and times and writing a fresh hash chain. "
        "Nothing is written unless every line is valid.",
        journal=False,
    )
    import_.add_argument("file", type=Path, help="JSONL export to read")
    import_.add_argument("--db", type=Path, required=True, help="new journal file to create")
    import_.add_argument(
        "--snapshot-type",
        metavar="MODULE.CLASS",
        help="snapshot type to record, if the export has no header",
    )

    compact = _add(
        sub,
        "compact",
        commands.compact,
        "remove old events, optionally archived",
        "Remove the events before a version or a time, first writing them to a gzip JSONL "
        "archive if asked. The remaining journal still verifies. Opens the journal for "
        "writing, so its writer must be stopped.",
        journal=False,
    )
    compact.add_argument("path", type=Path, help="journal file (opened for writing)")
    bound = compact.add_mutually_exclusive_group(required=True)
    bound.add_argument(
        "--before-version", type=int, metavar="N", help="remove events with versions below N"
    )
    bound.add_argument(
        "--older-than", metavar="TIME", help=f"remove events recorded before TIME: {_TIME_HELP}"
    )
    compact.add_argument(
        "--archive",
        type=Path,
        metavar="FILE.jsonl.gz",
        help="write the removed events here first (statelog import reads it)",
    )

    vacuum = _add(
        sub,
        "vacuum",
        commands.vacuum,
        "return freed space to the file system",
        "Rebuild the journal file with SQLite's VACUUM so that space freed by compact goes "
        "back to the file system. Needs the writer stopped, and free disk space about the "
        "size of the journal.",
        journal=False,
    )
    vacuum.add_argument("path", type=Path, help="journal file (opened for writing)")

    graph = _add(
        sub,
        "graph",
        commands.graph,
        "draw the transitions that happened",
        "Print the FSM transitions observed in the journal, with counts, as a Mermaid "
        "state diagram or Graphviz dot.",
    )
    graph.add_argument(
        "--format",
        choices=["mermaid", "dot"],
        default="mermaid",
        help="diagram language (default mermaid)",
    )

    timeline = _add(
        sub,
        "timeline",
        commands.timeline,
        "write an HTML timeline of states",
        "Write a self-contained HTML page with an SVG timeline of states over "
        "time; hover over a segment for its version, times and reason.",
    )
    timeline.add_argument(
        "--out", type=Path, required=True, metavar="FILE.html", help="HTML file to write"
    )
    timeline.add_argument("--since", metavar="TIME", help=f"earliest time: {_TIME_HELP}")
    timeline.add_argument("--until", metavar="TIME", help=f"latest time: {_TIME_HELP}")
    timeline.add_argument("--local", action="store_true", help="label times in the local zone")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``statelog`` command; errors become one line on stderr and exit code 1."""
    args = build_parser().parse_args(argv)
    try:
        result = args.handler(args)
        code: int = asyncio.run(result) if asyncio.iscoroutine(result) else result
    except StateStoreError as exc:
        print(f"statelog {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader of a long listing went away, as in `statelog log ... | head`. Point
        # stdout at /dev/null so that the interpreter's final flush does not fail too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        # An output file that cannot be written, for example; the journal is untouched.
        print(f"statelog {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
