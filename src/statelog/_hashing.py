"""The hash chain that makes the journal tamper-evident."""

from __future__ import annotations

import hashlib
import struct

# The link of a stream's first event: there is no previous hash.
GENESIS_HASH = bytes(32)

# Big-endian signed 64-bit version and IEEE 754 double recorded_at.
_HEADER = struct.Struct(">qd")


def chain_hash(previous: bytes, version: int, recorded_at: float, payload: bytes) -> bytes:
    """Return SHA-256 over the previous hash, version, recorded_at and payload bytes."""
    digest = hashlib.sha256(previous)
    digest.update(_HEADER.pack(version, recorded_at))
    digest.update(payload)
    return digest.digest()
