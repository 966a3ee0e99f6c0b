"""statelog's own FSM snapshot model, for users who bring none."""

from __future__ import annotations

import enum
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

__all__ = ["FSMSnapshot", "FSMState", "Transition", "initial_snapshot"]


class FSMState(enum.StrEnum):
    """States of the reference agent FSM."""

    BOOTING = "booting"
    IDLE = "idle"
    ACTIVE = "active"
    ERROR = "error"
    RECOVERY = "recovery"
    STOPPED = "stopped"


class Transition(BaseModel):
    """One state change recorded in a snapshot's history."""

    model_config = ConfigDict(frozen=True)

    from_state: FSMState | None
    to_state: FSMState
    reason: str
    # Wall-clock UTC epoch seconds.
    at: float


class FSMSnapshot(BaseModel):
    """One immutable FSM state value.

    Frozen because the store hands the same object to ``get()`` callers and to
    every subscriber: build a changed copy with ``transition()`` or ``model_copy()``.
    """

    model_config = ConfigDict(frozen=True)

    version: int = 0
    state: FSMState = FSMState.BOOTING
    reason: str = ""
    previous_state: FSMState | None = None
    history: tuple[Transition, ...] = ()
    context: dict[str, JsonValue] = Field(default_factory=dict)
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
    # Wall-clock UTC epoch seconds, and time.monotonic() of the writing process.
    wall_time: float = Field(default_factory=time.time)
    monotonic_time: float = Field(default_factory=time.monotonic)

    def transition(self, to_state: FSMState, reason: str, **context: Any) -> FSMSnapshot:
        """Return the next snapshot: state ``to_state``, one more history entry, version + 1."""
        now = time.time()
        entry = Transition(from_state=self.state, to_state=to_state, reason=reason, at=now)
        return self.model_copy(
            update={
                "version": self.version + 1,
                "state": to_state,
                "reason": reason,
                "previous_state": self.state,
                "history": (*self.history, entry),
                "context": {**self.context, **context},
                "wall_time": now,
                "monotonic_time": time.monotonic(),
            }
        )


def initial_snapshot() -> FSMSnapshot:
    """Return the cold-start snapshot: version 0, state ``booting``."""
    return FSMSnapshot(reason="cold start")
