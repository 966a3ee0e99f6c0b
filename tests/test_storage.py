"""Delta storage, schema migrations and snapshot upcasters."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from statelog import AsyncStateStore, FSMSnapshot, FSMState, JournalError, SnapshotError
from statelog._migrations import apply_migrations, default_migrations_dir, load_migrations
from tests.helpers import folder_digest, journal_rows

FIXTURE = Path(__file__).parent / "fixtures" / "schema1.db"


async def _run_ticks(store: AsyncStateStore[FSMSnapshot], ticks: int) -> list[FSMSnapshot]:
    snapshot = await store.initialize_if_empty()
    stored = [snapshot]
    for tick in range(ticks):
        if tick % 3 == 0:
            state = FSMState.ACTIVE if tick % 2 else FSMState.IDLE
            snapshot = snapshot.transition(state, f"tick {tick}", load=tick)
        else:
            snapshot = snapshot.model_copy(update={"context": {"load": tick}})
        snapshot = await store.set(snapshot)
        stored.append(snapshot)
    return stored


@pytest.mark.asyncio
async def test_deltas_rebuild_every_version(db: Path) -> None:
    async with AsyncStateStore(path=db) as store:
        stored = await _run_ticks(store, 300)

    encodings = [row[3][:1] for row in journal_rows(db)]
    assert encodings.count(b"D") > 250
    async with AsyncStateStore(path=db, readonly=True) as reader:
        assert await reader.get() == stored[-1]
        for version in (0, 1, 2, 150, 299, 300):
            event = await reader.state_at(version=version)
            assert event is not None
            assert event.snapshot == stored[version]
        replayed = [event.snapshot async for event in reader.history()]
    assert replayed == stored


@pytest.mark.asyncio
async def test_catch_up_decodes_deltas(db: Path) -> None:
    async with AsyncStateStore(path=db, tail_size=4, read_batch_size=7) as store:
        stored = await _run_ticks(store, 100)
        queue = await store.subscribe("late", from_version=-1, maxsize=5)
        received = [await queue.get() for _ in range(len(stored))]
        middle = await store.subscribe("middle", from_version=50, maxsize=3)
        from_middle = [await middle.get() for _ in range(50)]
    assert received == stored
    assert from_middle == stored[51:]


@pytest.mark.asyncio
async def test_full_snapshot_ratio_zero_stores_full(db: Path) -> None:
    async with AsyncStateStore(path=db, full_snapshot_ratio=0) as store:
        await _run_ticks(store, 20)
    assert all(not row[3].startswith(b"D") for row in journal_rows(db))


@pytest.mark.asyncio
async def test_schema1_fixture_upgrades_without_loss(tmp_path: Path) -> None:
    original = tmp_path / "original.db"
    shutil.copy(FIXTURE, original)
    async with AsyncStateStore(path=original, readonly=True) as reader:
        before = [event async for event in reader.history()]
    assert [event.version for event in before] == list(range(21))

    upgraded = tmp_path / "upgraded.db"
    shutil.copy(FIXTURE, upgraded)
    async with AsyncStateStore(path=upgraded) as store:
        after = [event async for event in store.history()]
        report = await store.verify()
        head = await store.get()
        assert head is not None
        written = await store.set(head.transition(FSMState.STOPPED, "upgraded"))

    assert after == before
    assert report.intact
    assert report.checked == 21
    assert written.version == 21
    conn = sqlite3.connect(upgraded)
    latest = len(load_migrations(default_migrations_dir()))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == latest
    assert conn.execute("SELECT count(*) FROM events WHERE encoding = 0").fetchone()[0] == 22
    conn.close()


def _broken_migrations(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for migration in load_migrations(default_migrations_dir()):
        (folder / migration.name).write_text(migration.sql)
    broken = len(load_migrations(folder)) + 1
    (folder / f"{broken:04d}_broken.sql").write_text(
        "ALTER TABLE events ADD COLUMN note TEXT;\nINSERT INTO no_such_table VALUES (1);\n"
    )
    return folder


def test_failing_migration_rolls_back(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    shutil.copy(FIXTURE, path)
    conn = sqlite3.connect(path, isolation_level=None)
    migrations = load_migrations(_broken_migrations(tmp_path))

    latest = len(migrations) - 1
    with pytest.raises(
        JournalError,
        match=rf"migration {latest + 1:04d}_broken\.sql failed on .*no such "
        rf"table: no_such_table; the journal was left at schema {latest}",
    ):
        apply_migrations(conn, migrations, path)

    assert conn.execute("PRAGMA user_version").fetchone()[0] == latest
    columns = [row[1] for row in conn.execute("PRAGMA table_info(events)")]
    assert "note" not in columns
    assert "encoding" in columns
    conn.close()


def test_rerun_applies_each_migration_once(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    shutil.copy(FIXTURE, path)
    conn = sqlite3.connect(path, isolation_level=None)
    migrations = load_migrations(default_migrations_dir())

    first = apply_migrations(conn, migrations, path)
    second = apply_migrations(conn, migrations, path)

    assert (first, second) == (len(migrations) - 1, 0)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(migrations)
    conn.close()


@pytest.mark.asyncio
async def test_newer_journal_is_rejected_untouched(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    shutil.copy(FIXTURE, path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    before = folder_digest(tmp_path)

    with pytest.raises(JournalError, match="schema 7, written by a newer statelog"):
        await AsyncStateStore.open(path=path)
    with pytest.raises(JournalError, match="schema 7, written by a newer statelog"):
        await AsyncStateStore.open(path=path, readonly=True)
    after = folder_digest(tmp_path)
    # The writer lock file sits next to the journal and is not part of it.
    after.pop("journal.db.lock")
    assert after == before


class ThermostatV1(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int = 0
    state: str = "idle"
    temp_f: float = 68.0


class ThermostatV2(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int = 0
    state: str = "idle"
    temp_c: float
    unit: str = "C"


# Releases of one model keep its name: the journal records it.
ThermostatV2.__qualname__ = ThermostatV1.__qualname__


def _fahrenheit_to_celsius(document: dict[str, Any]) -> dict[str, Any]:
    upgraded = {key: value for key, value in document.items() if key != "temp_f"}
    upgraded["temp_c"] = round((document["temp_f"] - 32) * 5 / 9, 2)
    return upgraded


async def _write_v1(path: Path) -> None:
    async with AsyncStateStore(path=path, snapshot_type=ThermostatV1) as store:
        for temp in (50.0, 68.0, 86.0):
            await store.set(ThermostatV1(temp_f=temp, state="heating" if temp < 60 else "idle"))


class LoggerV1(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int = 0
    state: str = "idle"
    site: str = "plant " * 200
    temps_f: tuple[float, ...] = ()


class LoggerV2(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int = 0
    state: str = "idle"
    site: str = ""
    temps_c: tuple[float, ...]


LoggerV2.__qualname__ = LoggerV1.__qualname__


def _logger_to_celsius(document: dict[str, Any]) -> dict[str, Any]:
    upgraded = {key: value for key, value in document.items() if key != "temps_f"}
    upgraded["temps_c"] = [round((t - 32) * 5 / 9, 1) for t in document["temps_f"]]
    return upgraded


@pytest.mark.asyncio
async def test_upcaster_applies_to_old_deltas(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=LoggerV1) as store:
        snapshot = await store.set(LoggerV1())
        for temp in (32.0, 50.0, 212.0):
            snapshot = await store.set(
                snapshot.model_copy(update={"temps_f": (*snapshot.temps_f, temp)})
            )
    assert [row[3][:1] for row in journal_rows(db)] == [b"Z", b"D", b"D", b"D"]

    async with AsyncStateStore(
        path=db, snapshot_type=LoggerV2, schema_version=2, upcasters={1: _logger_to_celsius}
    ) as store:
        history = [event.snapshot.temps_c async for event in store.history()]
        current = await store.get()
        assert current is not None
        written = await store.set(current.model_copy(update={"temps_c": (*current.temps_c, 37.0)}))

    assert history == [(), (0.0,), (0.0, 10.0), (0.0, 10.0, 100.0)]
    assert written.temps_c == (0.0, 10.0, 100.0, 37.0)
    async with AsyncStateStore(
        path=db, snapshot_type=LoggerV2, schema_version=2, upcasters={1: _logger_to_celsius}
    ) as reader:
        assert await reader.get() == written


@pytest.mark.asyncio
async def test_upcaster_reads_old_events(db: Path) -> None:
    await _write_v1(db)

    async with AsyncStateStore(
        path=db, snapshot_type=ThermostatV2, schema_version=2, upcasters={1: _fahrenheit_to_celsius}
    ) as store:
        current = await store.get()
        old = [event.snapshot async for event in store.history()]
        written = await store.set(ThermostatV2(temp_c=25.0))
        queue = await store.subscribe("replay", from_version=-1)
        replayed = [await queue.get() for _ in range(4)]

    assert current == ThermostatV2(version=2, temp_c=30.0)
    assert [s.temp_c for s in old] == [10.0, 20.0, 30.0]
    assert written.version == 3
    assert [s.temp_c for s in replayed] == [10.0, 20.0, 30.0, 25.0]
    assert [row[0] for row in journal_rows(db)] == [0, 1, 2, 3]


@pytest.mark.asyncio
async def test_missing_upcaster_names_event_and_field(db: Path) -> None:
    await _write_v1(db)
    before = folder_digest(db.parent)

    with pytest.raises(
        SnapshotError,
        match=r"cannot read event 2 \(snapshot schema 1\) as "
        r".*ThermostatV1 schema 2: field 'temp_c': Field required; register "
        r"upcasters for schema 1",
    ):
        await AsyncStateStore.open(path=db, snapshot_type=ThermostatV2, schema_version=2)

    after = folder_digest(db.parent)
    after.pop(db.name + ".lock", None)
    before.pop(db.name + ".lock", None)
    assert after.keys() >= before.keys()
    assert [row[0] for row in journal_rows(db)] == [0, 1, 2]


def test_show_raw_prints_old_payload(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from statelog.cli import main

    asyncio.run(_write_v1(db))
    assert main(["show", str(db), "0", "--raw"]) == 0
    assert json.loads(capsys.readouterr().out) == {"version": 0, "state": "heating", "temp_f": 50.0}
    assert main(["show", str(db), "2", "--raw"]) == 0
    assert json.loads(capsys.readouterr().out) == {"version": 2, "state": "idle", "temp_f": 86.0}
