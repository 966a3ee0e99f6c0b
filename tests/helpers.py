"""Helpers that read journals straight through sqlite3, around the library."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any


def journal_rows(path: Path) -> list[tuple[Any, ...]]:
    """Return (version, recorded_at, state, payload, hash) rows, read straight with sqlite3."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT version, recorded_at, state, payload, hash FROM events ORDER BY version"
        ).fetchall()
    finally:
        conn.close()


def folder_digest(folder: Path) -> dict[str, str]:
    """Return the SHA-256 of every file in ``folder``, to prove nothing was touched.

    SQLite's shared-memory index (-shm) and an empty WAL are left out: any reader,
    even a read-only one, may create them, and they hold no journal data.
    """
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.iterdir())
        if path.is_file()
        and not path.name.endswith("-shm")
        and not (path.name.endswith("-wal") and path.stat().st_size == 0)
    }
