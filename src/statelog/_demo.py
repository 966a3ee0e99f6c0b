"""The demo: an FSM agent that writes every tick through the store, killed and restarted.

``run_agent`` is the agent process. ``run_demo`` starts it, kills it with SIGKILL
part-way through, starts it again, and reports what the second run restored.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ._errors import StateStoreError
from ._history import StateChange
from ._model import FSMSnapshot, FSMState
from ._store import AsyncStateStore
from ._timefmt import format_time

# Sensor temperature (degrees C) above which the agent enters its error state.
OVERHEAT_C = 85.0


def read_sensors(seed: int, version: int) -> dict[str, float]:
    """Return the simulated sensor input for one tick; the same seed and version give the same."""
    rng = random.Random(seed * 1_000_003 + version)
    return {
        "temperature_c": round(rng.gauss(60.0, 12.0), 1),
        "load": round(rng.random(), 3),
    }


def next_snapshot(snapshot: FSMSnapshot, sensors: dict[str, float]) -> FSMSnapshot:
    """Apply one tick of input to the FSM: booting, idle, active, error and recovery."""
    state, temperature, load = snapshot.state, sensors["temperature_c"], sensors["load"]
    target, reason = state, ""
    if temperature > OVERHEAT_C and state not in (FSMState.ERROR, FSMState.RECOVERY):
        target, reason = FSMState.ERROR, f"overheat: {temperature} C > {OVERHEAT_C} C"
    elif state is FSMState.BOOTING:
        target, reason = FSMState.IDLE, "boot complete"
    elif state is FSMState.IDLE and load > 0.6:
        target, reason = FSMState.ACTIVE, f"load {load} above 0.6"
    elif state is FSMState.ACTIVE and load < 0.3:
        target, reason = FSMState.IDLE, f"load {load} below 0.3"
    elif state is FSMState.ERROR and temperature < OVERHEAT_C - 10:
        target, reason = FSMState.RECOVERY, f"cooled to {temperature} C"
    elif state is FSMState.RECOVERY:
        target, reason = FSMState.IDLE, "recovery complete"

    if target is not state:
        return snapshot.transition(target, reason, **sensors)
    return snapshot.model_copy(
        update={"version": snapshot.version + 1, "context": {**snapshot.context, **sensors}}
    )


async def run_agent(db: Path, ticks: int, seed: int, tick_seconds: float) -> None:
    """Restore the FSM from ``db`` and run ``ticks`` ticks, printing one JSON line per commit."""
    store: AsyncStateStore[FSMSnapshot] = AsyncStateStore(path=db)
    async with store:
        snapshot = await store.initialize_if_empty()
        _emit({"restored": snapshot.version, "state": snapshot.state.value})
        for _ in range(ticks):
            sensors = read_sensors(seed, snapshot.version + 1)
            snapshot = await store.set(next_snapshot(snapshot, sensors))
            _emit({"ack": snapshot.version, "state": snapshot.state.value})
            await asyncio.sleep(tick_seconds)


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


@dataclass
class _AgentRun:
    restored_version: int
    restored_state: str
    acknowledged: int
    last_ack: int | None
    last_state: str | None
    killed: bool


def _start_agent(db: Path, ticks: int, seed: int, tick_seconds: float) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "statelog._demo",
        "--db",
        str(db),
        "--ticks",
        str(ticks),
        "--seed",
        str(seed),
        "--tick-seconds",
        str(tick_seconds),
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def _watch_agent(process: subprocess.Popen[str], kill_after: int | None) -> _AgentRun:
    """Read the agent's lines; SIGKILL it after ``kill_after`` acknowledged ticks."""
    stdout: IO[str] | None = process.stdout
    if stdout is None:
        raise StateStoreError("the demo agent was started without a stdout pipe")
    first = json.loads(stdout.readline() or "{}")
    if "restored" not in first:
        process.wait()
        raise StateStoreError(
            f"the demo agent exited with code {process.returncode} before it started"
        )
    run = _AgentRun(first["restored"], first["state"], 0, None, None, killed=False)
    for line in stdout:
        record = json.loads(line)
        run.acknowledged += 1
        run.last_ack, run.last_state = record["ack"], record["state"]
        if kill_after is not None and run.acknowledged >= kill_after:
            os.kill(process.pid, signal.SIGKILL)
            run.killed = True
            break
    stdout.close()
    process.wait()
    if not run.killed and process.returncode != 0:
        raise StateStoreError(f"the demo agent failed with exit code {process.returncode}")
    return run


async def _recent_transitions(db: Path, count: int) -> list[StateChange]:
    store: AsyncStateStore[FSMSnapshot] = AsyncStateStore(path=db, readonly=True)
    async with store:
        recent: deque[StateChange] = deque(maxlen=count)
        async for change in store.transitions():
            recent.append(change)
    return list(recent)


def run_demo(db: Path, ticks: int, seed: int, tick_seconds: float = 0.005) -> int:
    """Run the agent, SIGKILL it mid-run, restart it, and print what was restored."""
    rng = random.Random(seed)
    kill_after = rng.randint(max(1, ticks // 3), max(1, 2 * ticks // 3))
    print(f"journal: {db}")

    agent = _start_agent(db, ticks, seed, tick_seconds)
    first = _watch_agent(agent, kill_after)
    print(
        f"run 1: started at version {first.restored_version} ({first.restored_state}), "
        f"{first.acknowledged} ticks acknowledged, last version {first.last_ack} "
        f"({first.last_state})"
    )
    print(
        f"run 1: agent process {agent.pid} killed with SIGKILL after tick {first.acknowledged} "
        f"of {ticks}"
    )

    remaining = ticks - first.acknowledged
    second = _watch_agent(_start_agent(db, remaining, seed, tick_seconds), None)
    restored_ok = first.last_ack is not None and second.restored_version >= first.last_ack
    verdict = "restored from disk, not a cold start" if restored_ok else "NOT RESTORED"
    print(
        f"run 2: initialize_if_empty() returned version {second.restored_version} "
        f"({second.restored_state}); the last acknowledged was {first.last_ack}: {verdict}"
    )
    print(f"run 2: {second.acknowledged} more ticks, last version {second.last_ack}")

    print("last transitions in the journal:")
    for change in asyncio.run(_recent_transitions(db, 5)):
        arrow = f"{change.from_state} -> {change.to_state}"
        print(
            f"  v{change.version:<6} {format_time(change.recorded_at)}  {arrow:<20} {change.reason}"
        )
    return 0 if restored_ok else 1


def _agent_main() -> None:
    """Run the demo's agent process: ``python -m statelog._demo --db ... --ticks ...``."""
    parser = argparse.ArgumentParser(prog="statelog._demo", description="The demo's FSM agent.")
    parser.add_argument("--db", type=Path, required=True, help="journal file")
    parser.add_argument("--ticks", type=int, required=True, help="ticks to run")
    parser.add_argument("--seed", type=int, required=True, help="seed of the sensor input")
    parser.add_argument("--tick-seconds", type=float, default=0.005, help="pause between ticks")
    args = parser.parse_args()
    asyncio.run(run_agent(args.db, args.ticks, args.seed, args.tick_seconds))


if __name__ == "__main__":
    _agent_main()
