"""Prometheus metrics for statelog stores (needs the ``metrics`` extra: prometheus_client).

    from prometheus_client import REGISTRY
    from statelog.prometheus import StoreCollector

    REGISTRY.register(StoreCollector(store))

Every metric has a ``journal`` label (the journal's file name) so one process can
expose several stores. Collecting reads in-memory figures and two file sizes; it
does no database I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

try:
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        Metric,
    )
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "statelog.prometheus needs prometheus_client; install it with "
        "`pip install 'statelog[metrics]'`"
    ) from exc

if TYPE_CHECKING:
    from ._store import AsyncStateStore

__all__ = ["StoreCollector"]


class StoreCollector(Collector):
    """Expose one store's figures in the Prometheus format."""

    def __init__(self, store: AsyncStateStore[Any], journal_label: str | None = None) -> None:
        self._store = store
        self._label = journal_label or store.path.name

    def collect(self) -> Iterator[Metric]:
        store, label = self._store, [self._label]
        figures = store._metrics()
        journal = figures["journal"]

        latency = HistogramMetricFamily(
            "statelog_set_duration_seconds",
            "Time from a set() call to its commit being acknowledged.",
            labels=["journal"],
        )
        latency.add_metric(label, store._set_latency.cumulative(), store._set_latency.total)
        yield latency

        batches = HistogramMetricFamily(
            "statelog_commit_batch_events", "Events written per commit.", labels=["journal"]
        )
        batches.add_metric(label, store._batch_sizes.cumulative(), store._batch_sizes.total)
        yield batches

        for name, documentation, value in (
            ("statelog_events", "Events committed by this store.", figures["total_sets"]),
            (
                "statelog_version_conflicts",
                "Sets rejected by enforce_version.",
                figures["version_conflicts"],
            ),
            (
                "statelog_failed_commits",
                "Commits that failed and were rolled back.",
                figures["failed_commits"],
            ),
        ):
            counter = CounterMetricFamily(name, documentation, labels=["journal"])
            counter.add_metric(label, value)
            yield counter

        for name, documentation, value in (
            ("statelog_journal_bytes", "Size of the journal database file.", journal["file_bytes"]),
            ("statelog_wal_bytes", "Size of the journal's WAL file.", journal["wal_bytes"]),
            ("statelog_journal_events", "Events in the journal.", journal["events"]),
            (
                "statelog_current_version",
                "Version of the current snapshot (-1 when empty).",
                figures["current_version"],
            ),
            ("statelog_subscribers", "Registered subscribers.", figures["subscriber_count"]),
        ):
            gauge = GaugeMetricFamily(name, documentation, labels=["journal"])
            gauge.add_metric(label, value)
            yield gauge

        lag = GaugeMetricFamily(
            "statelog_subscriber_lag_versions",
            "Versions between a subscriber's cursor and the head.",
            labels=["journal", "subscriber"],
        )
        for subscriber in figures["subscribers"]:
            lag.add_metric([self._label, subscriber["id"]], subscriber["lag"])
        yield lag
