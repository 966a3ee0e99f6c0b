"""WAL checkpoints run by the store, off the set() path.

SQLite's automatic checkpoint is off on the writer connection, because it runs
inside a commit and showed up as set() latency spikes. Instead:

1. After each batch the store adds an estimate of the WAL frames it appended.
   Past ``threshold_bytes`` a PASSIVE checkpoint runs on the reader connection's
   thread: it copies frames into the database and syncs it without blocking the
   writer.
2. SQLite restarts the WAL from its start at the next commit only if every frame
   was copied by then. If no commit happened while the checkpoint ran, that
   is true and nothing more is needed, which is the usual case for an FSM that ticks.
3. Under sustained writes, commits keep landing during the checkpoint, so the
   writer finishes it between two batches: one thread hop plus the few frames
   committed meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from ._errors import JournalError
from ._journal import EventRow, SQLiteJournal

logger = logging.getLogger(__name__)

# Leaf pages one commit touches besides payload pages: the table and its three
# indexes (primary key, state, time), each at least one page.
_PAGES_PER_COMMIT = 4
# Per-row bytes besides the payload: key, state, time and hash, plus cell headers.
_ROW_OVERHEAD_BYTES = 80


class Checkpointer:
    def __init__(
        self,
        journal: SQLiteJournal,
        threshold_bytes: int,
        spawn: Callable[[Coroutine[Any, Any, None], str], asyncio.Task[Any]],
        wake_writer: Callable[[], None],
    ) -> None:
        self._journal = journal
        self._threshold_bytes = threshold_bytes
        self._spawn = spawn
        self._wake_writer = wake_writer
        self._task: asyncio.Task[Any] | None = None
        self._wal_frames = 0
        self._commits = 0
        self.writer_should_finish = False

    def after_commit(self, rows: Sequence[EventRow]) -> None:
        """Count the frames a committed batch appended; start a checkpoint past the threshold."""
        page = self._journal.page_size
        payload_bytes = sum(len(row.payload) + _ROW_OVERHEAD_BYTES for row in rows)
        self._wal_frames += _PAGES_PER_COMMIT + payload_bytes // page
        self._commits += 1
        if self._wal_frames * page < self._threshold_bytes:
            return
        if self._task is not None and not self._task.done():
            return
        self._task = self._spawn(self._run(), "statelog-checkpoint")

    async def _run(self) -> None:
        commits_before = self._commits
        result = await self._checkpoint("checkpoint", self._journal.checkpoint())
        if result is None:
            return
        busy, frames, copied = result
        if busy or copied < frames:
            # A reader kept part of the WAL; the next batch tries again.
            self._wal_frames = frames
            return
        if self._commits == commits_before:
            self._wal_frames = 0
            return
        self.writer_should_finish = True
        self._wake_writer()

    async def finish(self) -> None:
        """Copy the frames committed during the last checkpoint; called by the writer."""
        self.writer_should_finish = False
        result = await self._checkpoint(
            "finished checkpoint", self._journal.finish_checkpoint_in_thread()
        )
        if result is not None:
            busy, frames, copied = result
            self._wal_frames = 0 if busy == 0 and copied == frames else frames

    async def _checkpoint(
        self, stage: str, call: Awaitable[tuple[int, int, int]]
    ) -> tuple[int, int, int] | None:
        """Await one checkpoint call and log its outcome; None when it failed."""
        try:
            busy, frames, copied = await call
        except JournalError as exc:
            logger.warning("%s of %s failed: %s", stage, self._journal.path, exc)
            return None
        logger.debug(
            "%s of %s: busy=%d frames=%d copied=%d", stage, self._journal.path, busy, frames, copied
        )
        return busy, frames, copied
