"""The one-writer-per-journal lock: an exclusive flock on a file next to the database."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ._errors import JournalLockedError


class WriterLock:
    """Hold an exclusive, non-blocking ``flock`` on ``<journal>.lock``.

    The kernel drops the lock when the holder exits, even on SIGKILL, so a crashed
    writer never leaves a stale lock. The file itself is kept between runs: deleting
    it would let two processes lock two different inodes of the same name.
    """

    def __init__(self, journal_path: Path) -> None:
        self.journal_path = journal_path
        self.path = journal_path.with_name(journal_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise JournalLockedError(
                f"{self.journal_path} is already open for writing by process {holder}; "
                "close that store first, or open this one with readonly=True"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
