"""The public value type of a stored event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class StoredEvent(Generic[S]):
    """A snapshot as the journal stores it: with its version, time and FSM state name."""

    version: int
    # UTC epoch seconds from the writing store's clock.
    recorded_at: float
    state: str | None
    snapshot: S
