"""A fixed-bucket histogram cheap enough to observe every set()."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

# set() latency buckets in seconds: 50 us to 1 s, denser where WAL commits fall.
LATENCY_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)
# Events per committed batch.
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)


class Histogram:
    """Counts of observations per bucket (upper bounds, inclusive), plus their sum."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        # One count per bound, and a last one for values above every bound (+Inf).
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0
        self.observations = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.observations += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """Return (upper bound, count at or below it) pairs as Prometheus expects, +Inf last."""
        running = 0
        pairs = []
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            pairs.append((bound, running))
        return pairs
