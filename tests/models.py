"""Snapshot types used by the tests."""

from __future__ import annotations

import dataclasses
import enum

from pydantic import BaseModel, ConfigDict


class Phase(enum.Enum):
    IDLE = "idle"
    RUNNING = "running"
    FAILED = "failed"


class Reading(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int = 0
    phase: Phase = Phase.IDLE
    value: float = 0.0
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Counter:
    version: int = 0
    state: str = "idle"
    count: int = 0


@dataclasses.dataclass
class MutableCounter:
    version: int = 0


class Unversioned(BaseModel):
    name: str = ""
