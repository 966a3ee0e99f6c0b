"""Exceptions raised by statelog.

Every error derives from ``StateStoreError``, the root kept from the in-memory
store that statelog replaces::

    StateStoreError
    ├── StateVersionError        a version is not newer than the current one
    ├── SnapshotError            a snapshot cannot be stored or read back
    ├── StoreClosedError         the store was used after close()
    ├── VersionNotAvailableError a requested version is not in the journal
    └── JournalError             the journal file cannot be used
        ├── JournalLockedError   another process writes this journal
        ├── JournalFormatError   not a journal, wrong snapshot type, newer statelog
        ├── JournalCorruptError  a hash or link of the chain does not match
        └── JournalWriteError    a write or commit failed; nothing was stored

``sqlite3`` errors are translated in one place, ``journal_error_from``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = [
    "JournalCorruptError",
    "JournalError",
    "JournalFormatError",
    "JournalLockedError",
    "JournalWriteError",
    "SnapshotError",
    "StateStoreError",
    "StateVersionError",
    "StoreClosedError",
    "VersionNotAvailableError",
]


class StateStoreError(Exception):
    """Root of every statelog error."""


class StateVersionError(StateStoreError):
    """A snapshot's version is not newer than the current one (``enforce_version=True``)."""


class SnapshotError(StateStoreError):
    """A snapshot is of the wrong type, cannot be encoded, or would not decode back equal."""


class StoreClosedError(StateStoreError):
    """The store was used after ``close()``."""


class VersionNotAvailableError(StateStoreError):
    """A requested version is outside the journal."""


class JournalError(StateStoreError):
    """The journal file cannot be opened, read or written."""


class JournalLockedError(JournalError):
    """Another process holds the writer lock of this journal."""


class JournalFormatError(JournalError):
    """The file is not a statelog journal this version and snapshot type can use."""


class JournalCorruptError(JournalError):
    """A stored hash, or the link to the previous event, does not match."""


class JournalWriteError(JournalError):
    """A write or commit failed; the batch was rolled back and nothing from it was stored."""


def journal_error_from(exc: sqlite3.Error, action: str, path: Path | str) -> JournalError:
    """Translate an ``sqlite3`` error raised while doing ``action`` on ``path``."""
    text = str(exc)
    code = getattr(exc, "sqlite_errorname", "")
    if code == "SQLITE_NOTADB" or "file is not a database" in text:
        return JournalFormatError(
            f"{path} is not an SQLite database ({text}); pass the path of a statelog journal"
        )
    if code in {"SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY"} or "disk" in text:
        return JournalWriteError(
            f"{action} failed on {path}: {text}; free disk space or fix permissions, then retry"
        )
    if code == "SQLITE_BUSY" or "locked" in text:
        return JournalError(
            f"{action} timed out on {path}: the database is locked by another connection ({text})"
        )
    return JournalError(f"{action} failed on {path}: {text}")
