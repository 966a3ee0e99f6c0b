"""A small FSM journal that ends in the error state, for the CLI and timeline tests."""

from __future__ import annotations

from pathlib import Path

from statelog import AsyncStateStore, FSMSnapshot, FSMState

# 2026-03-01T03:00:00Z; the test clock ticks one second per event.
T0 = 1772334000.0
# version: (state, reason); versions not listed keep the previous state.
SCRIPT = {
    1: (FSMState.IDLE, "boot complete"),
    3: (FSMState.ACTIVE, "load 0.9 above 0.6"),
    6: (FSMState.IDLE, "load 0.1 below 0.3"),
    8: (FSMState.ACTIVE, "load 0.8 above 0.6"),
    10: (FSMState.ERROR, "overheat: 91.0 C > 85.0 C"),
}
LAST = 11


async def write_incident(path: Path) -> None:
    clock = iter(T0 + n for n in range(100))
    store: AsyncStateStore[FSMSnapshot] = AsyncStateStore(path=path, clock=lambda: next(clock))
    async with store:
        snapshot = await store.initialize_if_empty()
        for version in range(1, LAST + 1):
            if version in SCRIPT:
                state, reason = SCRIPT[version]
                snapshot = snapshot.transition(state, reason, temperature_c=60.0 + version)
            else:
                snapshot = snapshot.model_copy(
                    update={"version": version, "context": {"temperature_c": 60.0 + version}}
                )
            snapshot = await store.set(snapshot)
