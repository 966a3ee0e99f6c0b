from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from statelog import AsyncStateStore
from tests.incident import write_incident


@pytest.fixture(autouse=True)
def stores_are_closed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[AsyncStateStore[Any]]]:
    """Fail any test that leaves a store open."""
    created: list[AsyncStateStore[Any]] = []
    original_init = AsyncStateStore.__init__

    def recording_init(self: AsyncStateStore[Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        created.append(self)

    monkeypatch.setattr(AsyncStateStore, "__init__", recording_init)
    yield created
    left_open = [str(store.path) for store in created if store.is_open]
    assert not left_open, f"stores left open: {left_open}"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "journal.db"


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    """A closed journal of an FSM run that ends in its error state (see tests/incident.py)."""
    path = tmp_path / "incident.db"
    asyncio.run(write_incident(path))
    return path
