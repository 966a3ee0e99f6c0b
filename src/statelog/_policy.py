"""When the writer stores a full snapshot rather than a delta."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FullSnapshotPolicy:
    """Store a full snapshot once the deltas since the last one outweigh it.

    With ``ratio`` 2, full snapshots of a snapshot that grows steadily are written
    at geometrically spaced points, so they add up to about the size of the
    latest one. Disk use then grows with the deltas, that is with what changed.
    ``max_chain`` bounds how many deltas a reader replays to rebuild one version.
    A store starts each session with a full snapshot, so a chain never mixes
    snapshot schema versions.
    """

    ratio: float = 2.0
    max_chain: int = 1000
    # Below this many JSON bytes a full snapshot is cheaper to write (about 4 us for
    # 300 bytes) than a delta (about 15 us) and barely larger on disk.
    min_full_bytes: int = 1024
    # JSON bytes of the last full snapshot; 0 until this session wrote one, which makes
    # every session start with a full snapshot.
    full_bytes: int = 0
    # Payload bytes of the deltas since then, and their count.
    delta_bytes: int = 0
    chain: int = 0

    def wants_full(self) -> bool:
        return (
            self.full_bytes < self.min_full_bytes
            or self.chain >= self.max_chain
            or self.delta_bytes >= self.ratio * self.full_bytes
        )

    def record_full(self, json_bytes: int) -> None:
        self.full_bytes, self.delta_bytes, self.chain = max(json_bytes, 1), 0, 0

    def record_delta(self, payload_bytes: int) -> None:
        self.delta_bytes += payload_bytes
        self.chain += 1
