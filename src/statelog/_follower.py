"""follow(): stored events as an async iterator over a subscription."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Generic, Self, TypeVar

from ._events import StoredEvent
from ._subscriptions import SubscriberQueue

if TYPE_CHECKING:
    from ._store import AsyncStateStore

S = TypeVar("S")


class Follower(Generic[S]):
    """An async iterator of stored events; see ``AsyncStateStore.follow``."""

    def __init__(
        self, store: AsyncStateStore[S], from_version: int | None, subscriber_id: str, maxsize: int
    ) -> None:
        self._store = store
        self._from_version = from_version
        self._subscriber_id = subscriber_id
        self._maxsize = maxsize
        self._queue: SubscriberQueue[StoredEvent[S]] | None = None

    async def __aenter__(self) -> Self:
        await self._start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _start(self) -> SubscriberQueue[StoredEvent[S]]:
        if self._queue is None:
            queue: SubscriberQueue[StoredEvent[S]] = SubscriberQueue(self._maxsize)
            await self._store._register(
                queue, self._subscriber_id, self._from_version, as_events=True
            )
            self._queue = queue
        return self._queue

    def __aiter__(self) -> AsyncIterator[StoredEvent[S]]:
        return self

    async def __anext__(self) -> StoredEvent[S]:
        queue = await self._start()
        try:
            return await queue.get()
        except asyncio.CancelledError:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._queue is not None:
            await self._store.unsubscribe(self._queue)
            self._queue = None
