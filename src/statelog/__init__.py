"""statelog: a durable, event-sourced SQLite state store for asyncio state machines."""

from ._codec import Upcaster
from ._compaction import CompactReport
from ._errors import (
    JournalCorruptError,
    JournalError,
    JournalFormatError,
    JournalLockedError,
    JournalWriteError,
    SnapshotError,
    StateStoreError,
    StateVersionError,
    StoreClosedError,
    VersionNotAvailableError,
)
from ._events import StoredEvent
from ._follower import Follower
from ._history import JournalStats, StateChange, VerifyReport
from ._model import FSMSnapshot, FSMState, Transition, initial_snapshot
from ._store import AsyncStateStore
from ._version import __version__

__all__ = [
    "AsyncStateStore",
    "CompactReport",
    "FSMSnapshot",
    "FSMState",
    "Follower",
    "JournalCorruptError",
    "JournalError",
    "JournalFormatError",
    "JournalLockedError",
    "JournalStats",
    "JournalWriteError",
    "SnapshotError",
    "StateChange",
    "StateStoreError",
    "StateVersionError",
    "StoreClosedError",
    "StoredEvent",
    "Transition",
    "Upcaster",
    "VerifyReport",
    "VersionNotAvailableError",
    "__version__",
    "initial_snapshot",
]
