"""A stateful model of subscriptions: every subscriber's sequence matches the journal."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from statelog import AsyncStateStore
from tests.helpers import journal_rows
from tests.models import Counter


class _Reader:
    def __init__(self, queue: asyncio.Queue[Counter], from_version: int) -> None:
        self.queue = queue
        self.from_version = from_version
        self.received: list[int] = []
        self.active = True


class SubscriptionModel(RuleBasedStateMachine):
    readers = Bundle("readers")

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="statelog-model-"))
        self.loop = asyncio.new_event_loop()
        self.store: AsyncStateStore[Counter] = AsyncStateStore(
            path=self.folder / "journal.db",
            snapshot_type=Counter,
            tail_size=4,
            read_batch_size=3,
        )
        self.versions: list[int] = []
        self.all_readers: list[_Reader] = []

    def run(self, coroutine: Any) -> Any:
        async def guarded() -> Any:
            async with asyncio.timeout(30):
                return await coroutine

        return self.loop.run_until_complete(guarded())

    @rule(count=st.integers(1, 12), jump=st.integers(0, 2))
    def set_snapshots(self, count: int, jump: int) -> None:
        for number in range(count):
            head = self.versions[-1] if self.versions else -1
            # A version ahead of head + 1 is stored as given; one at or below, as head + 1.
            requested = head + 1 + (jump if number == 0 else 0)
            stored = self.run(self.store.set(Counter(version=requested, count=number)))
            self.versions.append(stored.version)

    @rule(target=readers, offset=st.integers(-3, 3), maxsize=st.sampled_from([1, 2, 5, 64]))
    def subscribe(self, offset: int, maxsize: int) -> _Reader:
        head = self.versions[-1] if self.versions else -1
        from_version = max(head + offset, -1)
        queue = self.run(self.store.subscribe("model", from_version=from_version, maxsize=maxsize))
        reader = _Reader(queue, from_version)
        self.all_readers.append(reader)
        return reader

    @rule(reader=readers, count=st.integers(1, 20))
    def read(self, reader: _Reader, count: int) -> None:
        if not reader.active:
            return
        available = [v for v in self.versions if v > reader.from_version]
        count = min(count, len(available) - len(reader.received))
        for _ in range(count):
            reader.received.append(self.run(reader.queue.get()).version)

    @rule(reader=readers)
    def unsubscribe(self, reader: _Reader) -> None:
        self.run(self.store.unsubscribe(reader.queue))
        reader.active = False

    @invariant()
    def sequences_match_journal(self) -> None:
        for reader in self.all_readers:
            expected = [v for v in self.versions if v > reader.from_version]
            assert reader.received == expected[: len(reader.received)]

    @precondition(lambda self: bool(self.versions))
    @invariant()
    def journal_matches_model(self) -> None:
        assert [row[0] for row in journal_rows(self.store.path)] == self.versions

    def teardown(self) -> None:
        try:
            for reader in self.all_readers:
                if reader.active:
                    self.read(reader, len(self.versions))
                    expected = [v for v in self.versions if v > reader.from_version]
                    assert reader.received == expected
        finally:
            self.run(self.store.close())
            self.loop.close()
            shutil.rmtree(self.folder, ignore_errors=True)


SubscriptionModel.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None
)
test_subscription_model = SubscriptionModel.TestCase
