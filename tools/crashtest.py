#!/usr/bin/env python3
"""Kill a writing statelog process with SIGKILL at random moments and check its journal.

Each round starts this script again in child mode. The child opens an
AsyncStateStore on the journal and sets snapshots forever, alternating single
sets with bursts of concurrent sets, and prints one ``ack <version>`` line for
each set only after ``await store.set()`` has returned. The parent reads those
lines, sends SIGKILL after a random number of them (drawn from ``--seed``),
reads the lines still in the pipe, and then reopens the journal and checks that:

- the store reopens, so the killed writer left no writer lock behind;
- every acknowledged version is in the journal;
- the versions are contiguous and the hash chain verifies from the first event;
- the store's projection equals the decoded last event, at the maximum version;
- a new set() after the reopen stores the next version and chains to the head.

The next round's child must resume at the version the check wrote last.
Exit status: 0 when every round passed, 1 on the first violation, 2 on bad usage.

    .venv/bin/python tools/crashtest.py --kills 20 --durability full --seed 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import select
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote

from statelog import (
    AsyncStateStore,
    FSMSnapshot,
    FSMState,
    JournalLockedError,
    StateStoreError,
    initial_snapshot,
)
from statelog._encoding import DELTA, apply_to_document, delta_document, encoding_of, full_json
from statelog._hashing import GENESIS_HASH, chain_hash
from statelog._journal import Durability

STREAM = "default"
# Sizes of the child's bursts of concurrent sets. A size of 1 is a single sequential set.
BURST_SIZES = (1, 1, 1, 2, 3, 5, 8)
HISTORY_KEPT = 8
# Random padding per snapshot, in bytes, so that the WAL grows and the child's
# checkpoints (every CHILD_CHECKPOINT_BYTES) run while kills land.
PADDING_MAX = 2048
CHILD_CHECKPOINT_BYTES = 64 * 1024
# Kill point -1 kills the child right after it prints "opening", during the open.
KILL_DURING_OPEN = -1


class Violation(Exception):
    """A failed crash-safety property. The message names the property and the versions."""


# -- child mode: write until killed ---------------------------------------------------


def next_snapshot(current: FSMSnapshot | None, rng: random.Random) -> FSMSnapshot:
    if current is None:
        return initial_snapshot()
    padding = "x" * rng.randrange(PADDING_MAX)
    following = current.transition(rng.choice(list(FSMState)), "crashtest", padding=padding)
    # transition() appends to the history, which would make payloads grow without bound.
    return following.model_copy(update={"history": following.history[-HISTORY_KEPT:]})


def print_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def set_and_acknowledge(store: AsyncStateStore[FSMSnapshot], rng: random.Random) -> None:
    snapshot = next_snapshot(await store.get(), rng)
    stored = await store.set(snapshot)
    # The parent counts a version as acknowledged only once this line is out.
    print_line(f"ack {stored.version}")


async def write_until_killed(db: Path, durability: Durability, seed: int) -> None:
    rng = random.Random(seed)
    print_line("opening")
    store: AsyncStateStore[FSMSnapshot] = AsyncStateStore(
        path=db, durability=durability, checkpoint_bytes=CHILD_CHECKPOINT_BYTES
    )
    async with store:
        current = await store.get()
        print_line(f"open {current.version if current is not None else -1}")
        while True:
            burst = rng.choice(BURST_SIZES)
            await asyncio.gather(*(set_and_acknowledge(store, rng) for _ in range(burst)))


# -- parent mode: run a child and kill it ---------------------------------------------


class LineReader:
    """Read newline-terminated lines from a pipe, waiting at most ``timeout`` s for each."""

    def __init__(self, stream: IO[bytes], timeout: float) -> None:
        self._fd = stream.fileno()
        self._timeout = timeout
        self._buffer = b""
        self._at_eof = False

    def readline(self) -> str | None:
        """Return the next complete line, or None at the end of the output.

        A last fragment without its newline is dropped because the child was
        killed while writing it, so its set is not acknowledged.
        """
        deadline = time.monotonic() + self._timeout
        while b"\n" not in self._buffer:
            if self._at_eof:
                return None
            self._read_chunk(deadline)
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def _read_chunk(self, deadline: float) -> None:
        remaining = max(deadline - time.monotonic(), 0.0)
        ready, _, _ = select.select([self._fd], [], [], remaining)
        if not ready:
            raise Violation(
                f"timed out after {self._timeout:g} s waiting for the child's next line, "
                "so the child may be deadlocked"
            )
        chunk = os.read(self._fd, 65536)
        self._at_eof = not chunk
        self._buffer += chunk

    def read_to_end(self) -> list[str]:
        lines = []
        while (line := self.readline()) is not None:
            lines.append(line)
        return lines


@dataclass
class ChildRun:
    """Output of one child: the version it opened at and the versions it acknowledged."""

    opened_at: int | None
    acknowledged: list[int]


def child_command(db: Path, durability: Durability, seed: int) -> list[str]:
    script = str(Path(__file__).resolve())
    options = ["--child", f"--db={db}", f"--durability={durability}", f"--seed={seed}"]
    return [sys.executable, script, *options]


def lines_until_kill(kill_after_acks: int) -> int:
    """Return how many lines to read before SIGKILL: "opening", "open N", then acks."""
    return kill_after_acks + 2


def run_child(
    db: Path, durability: Durability, seed: int, kill_after_acks: int, timeout: float
) -> ChildRun:
    """Start a child on ``db``, SIGKILL it at the kill point and return what it printed."""
    command = child_command(db, durability, seed)
    expected_lines = lines_until_kill(kill_after_acks)
    with (
        tempfile.TemporaryFile() as errors,
        subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors
        ) as child,
    ):
        assert child.stdout is not None
        reader = LineReader(child.stdout, timeout)
        lines: list[str] = []
        try:
            while len(lines) < expected_lines and (line := reader.readline()) is not None:
                lines.append(line)
        finally:
            child.kill()
            child.wait()
        if len(lines) < expected_lines:
            raise Violation(early_exit_message(child.returncode, errors))
        # Lines still in the pipe were printed after their set() returned, so they count too.
        lines += reader.read_to_end()
    return parse_child_lines(lines)


def early_exit_message(returncode: int, errors: IO[bytes]) -> str:
    errors.seek(0)
    tail = errors.read().decode(errors="replace").strip().splitlines()[-5:]
    output = "\n    ".join(tail) or "(no stderr output)"
    return (
        f"the child exited with code {returncode} before the kill; "
        f"its stderr ends with:\n    {output}"
    )


def parse_child_lines(lines: Sequence[str]) -> ChildRun:
    run = ChildRun(opened_at=None, acknowledged=[])
    for line in lines:
        word, _, value = line.partition(" ")
        if word == "open":
            run.opened_at = int(value)
        elif word == "ack":
            run.acknowledged.append(int(value))
        elif word != "opening":
            raise Violation(f"the child printed an unexpected line: {line!r}")
    return run


def child_problems(run: ChildRun, expected_open: int | None) -> list[str]:
    problems = []
    if run.opened_at is not None and expected_open is not None and run.opened_at != expected_open:
        problems.append(f"the child reopened at version {run.opened_at}, expected {expected_open}")
    duplicates = sorted({v for v in run.acknowledged if run.acknowledged.count(v) > 1})
    if duplicates:
        problems.append(f"versions acknowledged twice: {format_versions(duplicates)}")
    if run.opened_at is not None:
        stale = sorted(v for v in run.acknowledged if v <= run.opened_at)
        if stale:
            problems.append(
                f"versions acknowledged at or below the reopened version {run.opened_at}: "
                + format_versions(stale)
            )
    return problems


# -- the check: reopen the journal and compare -----------------------------------------


@dataclass(frozen=True)
class Event:
    version: int
    recorded_at: float
    payload: bytes
    hash: bytes


@dataclass
class JournalCheck:
    """The journal as found after the kill, and every property it failed."""

    events: int
    head: int | None
    chain_verified: bool
    # Version stored by the check's own set(), where the next child must resume.
    next_head: int | None
    problems: list[str]


def read_events(path: Path) -> list[Event]:
    """Return the stream's events in version order, read with sqlite3 directly."""
    try:
        connection = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
        try:
            rows = connection.execute(
                "SELECT version, recorded_at, payload, hash FROM events WHERE stream = ? "
                "ORDER BY version",
                (STREAM,),
            ).fetchall()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise Violation(f"sqlite3 cannot read the events of {path}: {exc}") from exc
    return [
        Event(version, at, bytes(payload), bytes(digest)) for version, at, payload, digest in rows
    ]


def is_linked(previous_hash: bytes, event: Event) -> bool:
    expected = chain_hash(previous_hash, event.version, event.recorded_at, event.payload)
    return expected == event.hash


def chain_problems(events: Sequence[Event]) -> list[str]:
    """Check that versions are contiguous and each hash chains to the one before it.

    The first event chains to 32 zero bytes because statelog does not remove
    events yet, so no journal here has an anchor. Versions are contiguous only
    because every snapshot set here is at most one past the head: set() keeps a
    higher version as given and so leaves a gap.
    """
    problems = []
    previous: Event | None = None
    for event in events:
        if previous is not None and event.version != previous.version + 1:
            problems.append(f"versions jump from {previous.version} to {event.version}")
        if not is_linked(previous.hash if previous else GENESIS_HASH, event):
            link = f"event {previous.version}" if previous else "the genesis hash"
            problems.append(f"event {event.version} does not match its hash chained from {link}")
        previous = event
    return problems


def acknowledgement_problems(events: Sequence[Event], acknowledged: Collection[int]) -> list[str]:
    missing = sorted(set(acknowledged) - {event.version for event in events})
    if not missing:
        return []
    noun = "version" if len(missing) == 1 else "versions"
    return [
        f"{len(missing)} acknowledged {noun} missing from the journal: {format_versions(missing)}"
    ]


def replay_last(events: Sequence[Event]) -> FSMSnapshot:
    """Rebuild the last event's snapshot from its last full snapshot, on JSON documents.

    This replays the stored deltas on plain dicts, a different path from the store's
    own decoder, which applies them to snapshot objects.
    """
    base = max(i for i, event in enumerate(events) if encoding_of(event.payload) != DELTA)
    document = json.loads(full_json(events[base].payload))
    for event in events[base + 1 :]:
        document = apply_to_document(document, delta_document(event.payload))
    return FSMSnapshot.model_validate(document)


def projection_problems(projection: FSMSnapshot | None, events: Sequence[Event]) -> list[str]:
    if not events:
        if projection is None:
            return []
        return [f"the reopened store holds version {projection.version}, the journal is empty"]
    last = events[-1]
    if projection is None:
        return [f"the reopened store is empty, the journal's last event is {last.version}"]
    problems = []
    if projection != replay_last(events):
        problems.append(f"the reopened store's snapshot differs from decoded event {last.version}")
    if projection.version != last.version:
        problems.append(
            f"the reopened store is at version {projection.version}, the journal's maximum "
            f"version is {last.version}"
        )
    return problems


async def probe_problems(
    store: AsyncStateStore[FSMSnapshot], path: Path, events: Sequence[Event]
) -> tuple[int | None, list[str]]:
    """Set one more snapshot, then return its version and the problems found with it."""
    current = await store.get()
    snapshot = next_snapshot(current, random.Random(0))
    try:
        stored = await store.set(snapshot)
    except StateStoreError as exc:
        return None, [f"set() after reopening failed with {type(exc).__name__}: {exc}"]

    expected = events[-1].version + 1 if events else 0
    if stored.version != expected:
        return stored.version, [
            f"set() after reopening stored version {stored.version}, expected {expected}"
        ]
    written = read_events(path)[-1]
    previous_hash = events[-1].hash if events else GENESIS_HASH
    if written.version != expected or not is_linked(previous_hash, written):
        return stored.version, [
            f"event {expected}, set after reopening, does not chain to the head"
        ]
    return stored.version, []


async def check_journal(
    path: Path, acknowledged: Collection[int], durability: Durability
) -> JournalCheck:
    """Reopen the journal at ``path`` after a kill and check every crash-safety property."""
    store: AsyncStateStore[FSMSnapshot] = AsyncStateStore(path=path, durability=durability)
    try:
        try:
            projection = await store.get()
        except StateStoreError as exc:
            return found_without_store(path, acknowledged, reopen_problem(exc))
        events = read_events(path)
        chain = chain_problems(events)
        problems = chain + acknowledgement_problems(events, acknowledged)
        problems += projection_problems(projection, events)
        next_head, probe = await probe_problems(store, path, events)
    finally:
        await store.close()
    head = events[-1].version if events else None
    return JournalCheck(len(events), head, not chain, next_head, problems + probe)


def reopen_problem(exc: StateStoreError) -> str:
    if isinstance(exc, JournalLockedError):
        return f"the writer lock is still held after the kill: {exc}"
    return f"reopening the store failed with {type(exc).__name__}: {exc}"


def found_without_store(path: Path, acknowledged: Collection[int], problem: str) -> JournalCheck:
    """Check what sqlite3 can still read when the store itself did not reopen."""
    try:
        events = read_events(path)
    except Violation as exc:
        return JournalCheck(0, None, False, None, [problem, str(exc)])
    chain = chain_problems(events)
    problems = [problem, *chain, *acknowledgement_problems(events, acknowledged)]
    head = events[-1].version if events else None
    return JournalCheck(len(events), head, not chain, None, problems)


def format_versions(versions: Sequence[int]) -> str:
    """Return sorted ``versions`` as ranges: [3, 7, 8, 9] gives "3, 7-9"."""
    ranges: list[list[int]] = []
    for version in versions:
        if ranges and version == ranges[-1][1] + 1:
            ranges[-1][1] = version
        else:
            ranges.append([version, version])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


# -- rounds and the report ------------------------------------------------------------


@dataclass
class RoundReport:
    round: int
    kill_after_acks: int
    resumed_from: int | None
    acknowledged: int
    max_acknowledged: int | None
    found: int
    head: int | None
    chain_verified: bool
    next_head: int | None
    problems: list[str]


def run_round(
    number: int, options: argparse.Namespace, rng: random.Random, expected_open: int | None
) -> RoundReport:
    kill_after = rng.randint(KILL_DURING_OPEN, options.max_acks)
    child_seed = rng.randrange(2**32)
    run = run_child(options.db, options.durability, child_seed, kill_after, options.line_timeout)
    check = asyncio.run(check_journal(options.db, run.acknowledged, options.durability))
    return RoundReport(
        round=number,
        kill_after_acks=kill_after,
        resumed_from=run.opened_at,
        acknowledged=len(run.acknowledged),
        max_acknowledged=max(run.acknowledged, default=None),
        found=check.events,
        head=check.head,
        chain_verified=check.chain_verified,
        next_head=check.next_head,
        problems=child_problems(run, expected_open) + check.problems,
    )


def describe_kill(kill_after_acks: int) -> str:
    if kill_after_acks == KILL_DURING_OPEN:
        return "during open"
    return f"after {kill_after_acks} ack{'' if kill_after_acks == 1 else 's'}"


def describe_round(report: RoundReport, kills: int) -> str:
    resumed = "-" if report.resumed_from is None else report.resumed_from
    highest = "" if report.max_acknowledged is None else f" (max {report.max_acknowledged})"
    head = "-" if report.head is None else report.head
    chain = "verified" if report.chain_verified else "BROKEN"
    status = "ok" if not report.problems else "VIOLATION"
    return (
        f"round {report.round}/{kills}: killed {describe_kill(report.kill_after_acks)}, "
        f"resumed from {resumed}, acknowledged {report.acknowledged}{highest}, "
        f"found {report.found} events, head {head}, chain {chain}: {status}"
    )


def print_round(report: RoundReport, options: argparse.Namespace) -> None:
    if options.json:
        print_line(json.dumps({**asdict(report), "ok": not report.problems}))
    else:
        print_line(describe_round(report, options.kills))


def report_violation(
    round_number: int, problems: Sequence[str], options: argparse.Namespace
) -> int:
    for problem in problems:
        print(f"crashtest: VIOLATION in round {round_number}: {problem}", file=sys.stderr)
    print(f"crashtest: journal kept for inspection at {options.db}", file=sys.stderr)
    print(
        f"crashtest: rerun with --seed={options.seed} --durability={options.durability} "
        "for the same kill points",
        file=sys.stderr,
    )
    return 1


def print_summary(reports: Sequence[RoundReport], options: argparse.Namespace) -> None:
    summary = {
        "rounds": len(reports),
        "durability": options.durability,
        "seed": options.seed,
        "acknowledged": sum(report.acknowledged for report in reports),
        "head": reports[-1].next_head if reports else None,
        "violations": 0,
    }
    if options.json:
        print_line(json.dumps({"summary": summary}))
        return
    print_line(
        f"crashtest: {summary['rounds']} SIGKILLs survived, durability={options.durability}, "
        f"seed={options.seed}: all {summary['acknowledged']} acknowledged versions found, "
        f"hash chain verified, final head {summary['head']}"
    )


def run_rounds(options: argparse.Namespace) -> int:
    rng = random.Random(options.seed)
    # A journal that already exists may be at any version, so round 1 cannot check it.
    expected_open: int | None = None if options.db.exists() else -1
    reports: list[RoundReport] = []
    for number in range(1, options.kills + 1):
        try:
            report = run_round(number, options, rng, expected_open)
        except Violation as exc:
            return report_violation(number, [str(exc)], options)
        print_round(report, options)
        if report.problems:
            return report_violation(number, report.problems, options)
        reports.append(report)
        expected_open = report.next_head
    print_summary(reports, options)
    return 0


# -- command line ---------------------------------------------------------------------


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="SIGKILL a statelog writer at random moments and check the journal."
    )
    parser.add_argument("--kills", type=positive_int, default=5, help="rounds, one SIGKILL each")
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the kill points and child workloads (default: random, printed)",
    )
    parser.add_argument(
        "--durability",
        choices=("normal", "full"),
        default="normal",
        help="durability of the child's store (SQLite synchronous=NORMAL or FULL)",
    )
    parser.add_argument(
        "--db", type=Path, default=None, help="journal file (default: one in a new temp folder)"
    )
    parser.add_argument(
        "--max-acks",
        type=positive_int,
        default=300,
        help="maximum acknowledged sets before a kill; each kill lands after a random 0..N "
        "acknowledged sets or during the open",
    )
    parser.add_argument(
        "--line-timeout",
        type=float,
        default=30.0,
        help="seconds to wait for each child line before reporting a hang",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per round")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    if options.seed is None:
        options.seed = random.randrange(2**32)
    if options.child:
        asyncio.run(write_until_killed(options.db, options.durability, options.seed))
        return 0

    scratch = None
    if options.db is None:
        scratch = Path(tempfile.mkdtemp(prefix="statelog-crashtest-"))
        options.db = scratch / "journal.db"
    status = run_rounds(options)
    if scratch is not None and status == 0:
        shutil.rmtree(scratch)
    return status


if __name__ == "__main__":
    sys.exit(main())
