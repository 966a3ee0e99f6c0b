"""Subscribers as cursors over the journal.

Each subscriber owns a cursor: the version of the last event put in its queue.
While it keeps up (*live*), the writer pushes each committed event straight into
its queue. When its queue is full, the writer stops pushing to it and marks it
*catch-up*. As soon as the consumer reads again, a feeder task refills the queue
from the in-memory tail of recent events, or from the journal when the tail no
longer reaches back to the cursor. The feeder switches it back to live once the
cursor reaches the head. Exactly one of the writer and the feeder puts into a queue at
any moment, and the switch happens without an ``await``, so no event is lost,
duplicated or reordered.

The registry keeps only a weak reference to each queue: a consumer that drops its
queue without unsubscribing is removed when the queue is garbage-collected.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ._events import StoredEvent

logger = logging.getLogger(__name__)

S = TypeVar("S")
T = TypeVar("T")

LIVE = "live"
CATCH_UP = "catch-up"

# Reads events (after_version, upto_version], at most `limit` of them, from the journal.
JournalReader = Callable[[int, int, int], Awaitable[Sequence[StoredEvent[Any]]]]


class SubscriberQueue(asyncio.Queue[T]):
    """An ``asyncio.Queue`` that notifies its subscriber when the consumer takes an item."""

    _subscriber: Subscriber | None = None

    def get_nowait(self) -> T:
        # asyncio.Queue.get() ends in get_nowait(), so this runs on every read.
        item = super().get_nowait()
        subscriber = self._subscriber
        if subscriber is not None:
            subscriber.on_read()
        return item


@dataclass(eq=False)
class Subscriber:
    """One consumer's cursor and delivery figures."""

    subscriber_id: str
    queue_ref: weakref.ReferenceType[SubscriberQueue[Any]]
    cursor: int
    # True: the queue gets StoredEvent objects; False: bare snapshots.
    as_events: bool
    hub: SubscriptionHub[Any]
    mode: str = LIVE
    delivered: int = 0
    last_read: float = field(default_factory=time.monotonic)
    feeder: asyncio.Task[None] | None = None
    space: asyncio.Event = field(default_factory=asyncio.Event)
    # Events read ahead of the queue during catch-up, newer than the cursor.
    buffer: deque[StoredEvent[Any]] = field(default_factory=deque)

    def on_read(self) -> None:
        self.last_read = time.monotonic()
        # While space is set the feeder is running or about to: nothing more to do.
        if self.mode == CATCH_UP and not self.space.is_set():
            self.space.set()
            self.hub.ensure_feeder(self)

    def put(self, queue: SubscriberQueue[Any], event: StoredEvent[Any]) -> None:
        queue.put_nowait(event if self.as_events else event.snapshot)
        self.cursor = event.version
        self.delivered += 1

    def figures(self, head: int) -> dict[str, Any]:
        return {
            "id": self.subscriber_id,
            "mode": self.mode,
            "cursor": self.cursor,
            "lag": max(head - self.cursor, 0),
            "delivered": self.delivered,
            "seconds_since_read": round(time.monotonic() - self.last_read, 3),
        }


class SubscriptionHub(Generic[S]):
    """The subscriber registry, the in-memory tail of recent events, and delivery."""

    def __init__(self, read_journal: JournalReader, *, tail_size: int, batch_size: int) -> None:
        self._read_journal = read_journal
        self._tail_size = tail_size
        self._batch_size = batch_size
        self._subscribers: dict[int, Subscriber] = {}
        # Recent events, ascending; every event newer than _tail_floor is in here.
        # Bounded deques drop one old event per new one: trimming a list in chunks
        # freed hundreds of snapshots at once, a 250 us stall every few hundred sets.
        self._tail: deque[StoredEvent[S]] = deque(maxlen=tail_size)
        self._tail_versions: deque[int] = deque(maxlen=tail_size)
        self._tail_floor = -1
        self.head = -1

    # -- the tail --------------------------------------------------------------

    def reset(self, last: StoredEvent[S] | None) -> None:
        """Start from the journal's last event; nothing older is in memory."""
        self._tail.clear()
        self._tail_versions.clear()
        if last is not None:
            self._tail.append(last)
            self._tail_versions.append(last.version)
        self.head = last.version if last else -1
        # Only a cursor at or past `last` can be served from memory.
        self._tail_floor = self.head

    def extend(self, events: Sequence[StoredEvent[S]]) -> None:
        """Record newly committed events, then deliver them to live subscribers."""
        dropped = len(self._tail) + len(events) - self._tail_size
        if dropped > 0:
            # The newest event that falls out of the tail becomes its floor.
            kept_old = len(self._tail)
            self._tail_floor = (
                self._tail_versions[dropped - 1]
                if dropped <= kept_old
                else events[dropped - kept_old - 1].version
            )
        self._tail.extend(events)
        self._tail_versions.extend(event.version for event in events)
        self.head = events[-1].version
        self._publish(events)

    def find(self, version: int) -> S | None:
        """Return the snapshot of ``version`` if the tail still contains it."""
        index = bisect.bisect_left(self._tail_versions, version)
        if index < len(self._tail_versions) and self._tail_versions[index] == version:
            return self._tail[index].snapshot
        return None

    def latest(self) -> StoredEvent[S] | None:
        return self._tail[-1] if self._tail else None

    def _from_tail(self, cursor: int, limit: int) -> list[StoredEvent[S]] | None:
        if cursor < self._tail_floor:
            return None
        start = bisect.bisect_right(self._tail_versions, cursor)
        return list(itertools.islice(self._tail, start, start + limit))

    # -- registry --------------------------------------------------------------

    def add(
        self, queue: SubscriberQueue[Any], subscriber_id: str, cursor: int, *, as_events: bool
    ) -> Subscriber:
        key = id(queue)
        subscriber = Subscriber(
            subscriber_id=subscriber_id,
            queue_ref=weakref.ref(queue, lambda _ref: self._forget(key)),
            cursor=cursor,
            as_events=as_events,
            hub=self,
        )
        queue._subscriber = subscriber
        self._subscribers[key] = subscriber
        if cursor < self.head:
            subscriber.mode = CATCH_UP
            self.ensure_feeder(subscriber)
        return subscriber

    def remove(self, queue: asyncio.Queue[Any]) -> bool:
        subscriber = self._subscribers.get(id(queue))
        if subscriber is None or subscriber.queue_ref() is not queue:
            return False
        self._forget(id(queue))
        return True

    def _forget(self, key: int) -> None:
        subscriber = self._subscribers.pop(key, None)
        if subscriber is None:
            return
        if subscriber.feeder is not None:
            subscriber.feeder.cancel()

    def close(self) -> None:
        for key in list(self._subscribers):
            self._forget(key)

    @property
    def subscribers(self) -> list[Subscriber]:
        return list(self._subscribers.values())

    # -- delivery --------------------------------------------------------------

    def _publish(self, events: Sequence[StoredEvent[S]]) -> None:
        for subscriber in list(self._subscribers.values()):
            if subscriber.mode != LIVE:
                continue
            queue = subscriber.queue_ref()
            if queue is None:
                continue
            for event in events:
                if event.version <= subscriber.cursor:
                    continue
                if queue.full():
                    # Stop pushing; the feeder resumes from the cursor after the next read.
                    subscriber.mode = CATCH_UP
                    subscriber.space.clear()
                    # Once per episode, not per set(): the next pushes skip this subscriber.
                    logger.info(
                        "subscriber %s fell behind at version %d; it will catch up from the "
                        "journal when it reads again",
                        subscriber.subscriber_id,
                        subscriber.cursor,
                    )
                    break
                subscriber.put(queue, event)

    def ensure_feeder(self, subscriber: Subscriber) -> None:
        if subscriber.feeder is None or subscriber.feeder.done():
            subscriber.feeder = asyncio.get_running_loop().create_task(
                self._feed(subscriber), name=f"statelog-feeder-{subscriber.subscriber_id}"
            )

    async def _feed(self, subscriber: Subscriber) -> None:
        """Refill a catch-up subscriber's queue until its cursor reaches the head.

        Events are read a batch at a time into the subscriber's buffer, and the
        queue is topped up from it as the consumer reads. Memory per subscriber
        stays within the queue's maxsize plus one batch.
        """
        buffer = subscriber.buffer
        while True:
            if not buffer and subscriber.cursor < self.head:
                if not await self._read_ahead(subscriber):
                    return
                continue
            queue = subscriber.queue_ref()
            if queue is None:
                return
            if not buffer:
                # No await between this check and the switch: the writer's next
                # publish already treats this subscriber as live.
                subscriber.mode = LIVE
                logger.info(
                    "subscriber %s caught up at version %d and is live",
                    subscriber.subscriber_id,
                    subscriber.cursor,
                )
                return
            free = len(buffer) if queue.maxsize <= 0 else queue.maxsize - queue.qsize()
            if free <= 0:
                subscriber.space.clear()
                del queue
                await subscriber.space.wait()
                continue
            for _ in range(min(free, len(buffer))):
                subscriber.put(queue, buffer.popleft())

    async def _read_ahead(self, subscriber: Subscriber) -> bool:
        """Read the next batch after the cursor into the buffer; False if there is none."""
        # NOTE: reading the following batch in the background while this one is
        # delivered did not help (measured): building the rows holds the GIL.
        cursor, head = subscriber.cursor, self.head
        events: Sequence[StoredEvent[S]] | None = self._from_tail(cursor, self._batch_size)
        if events is None:
            events = await self._read_journal(cursor, head, self._batch_size)
        fresh = [event for event in events if event.version > subscriber.cursor]
        if not fresh:
            # The head is committed, so this means events were removed under us.
            logger.warning(
                "subscriber %s found no events after %d (head %d); it stops here",
                subscriber.subscriber_id,
                cursor,
                head,
            )
            return False
        subscriber.buffer.extend(fresh)
        return True
