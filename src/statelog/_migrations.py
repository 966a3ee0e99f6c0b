"""Schema migrations: numbered SQL files, each applied in one transaction.

A journal's schema version is its ``PRAGMA user_version``: the number of the last
migration applied. Files are named ``NNNN_description.sql`` and live in the
top-level ``migrations/`` folder, which the wheel carries as ``statelog/migrations``.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ._errors import JournalError

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    sql: str


def default_migrations_dir() -> Path:
    """Return the folder of the installed migrations.

    A wheel carries them inside the package; an editable install reads the
    repository's top-level folder instead.
    """
    packaged = resources.files("statelog").joinpath("migrations")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "migrations"


def load_migrations(folder: Path) -> list[Migration]:
    """Return the migrations in ``folder``, checking they are numbered 1, 2, 3, ..."""
    migrations = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise JournalError(
                f"migration file {path.name} is not named NNNN_description.sql; rename it"
            )
        migrations.append(Migration(int(match.group(1)), path.name, path.read_text("utf-8")))
    for expected, migration in enumerate(migrations, start=1):
        if migration.number != expected:
            raise JournalError(
                f"migration {migration.name} is out of sequence: expected number {expected:04d}"
            )
    if not migrations:
        raise JournalError(f"no migrations found in {folder}; the installation is incomplete")
    return migrations


def schema_version(conn: sqlite3.Connection) -> int:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def apply_migrations(conn: sqlite3.Connection, migrations: list[Migration], path: Path) -> int:
    """Apply each migration newer than the journal's schema, one transaction each.

    A migration that fails is rolled back whole, so the journal stays at the last
    schema that applied cleanly. Returns the number of migrations applied.
    """
    applied = 0
    for migration in migrations:
        if migration.number <= schema_version(conn):
            continue
        script = (
            f"BEGIN IMMEDIATE;\n{migration.sql}\nPRAGMA user_version = {migration.number};\nCOMMIT;"
        )
        try:
            conn.executescript(script)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.rollback()
            raise JournalError(
                f"migration {migration.name} failed on {path}: {exc}; the journal was left at "
                f"schema {schema_version(conn)}"
            ) from exc
        logger.info("applied migration %s to %s", migration.name, path)
        applied += 1
    return applied
