"""The Prometheus collector, scraped as text exposition."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from statelog import AsyncStateStore, StateVersionError
from statelog.prometheus import StoreCollector
from tests.models import Counter


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


@pytest.mark.asyncio
async def test_scrape_exposes_store_figures(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Counter) as store:
        for number in range(5):
            await store.set(Counter(count=number))
        with pytest.raises(StateVersionError):
            await store.set(Counter(version=1), enforce_version=True)
        # The queue takes the current snapshot and one more; the last two wait.
        queue = await store.subscribe("audit", maxsize=2)
        for number in range(3):
            await store.set(Counter(count=10 + number))
        registry = CollectorRegistry()
        registry.register(StoreCollector(store))

        text = generate_latest(registry).decode()
        await store.unsubscribe(queue)

    samples = _samples(text)
    journal = (("journal", "journal.db"),)
    assert "# TYPE statelog_set_duration_seconds histogram" in text
    assert samples[("statelog_events_total", journal)] == 8
    assert samples[("statelog_version_conflicts_total", journal)] == 1
    assert samples[("statelog_failed_commits_total", journal)] == 0
    assert samples[("statelog_set_duration_seconds_count", journal)] == 8
    assert samples[("statelog_set_duration_seconds_bucket", (*journal, ("le", "+Inf")))] == 8
    assert samples[("statelog_set_duration_seconds_sum", journal)] > 0
    assert samples[("statelog_commit_batch_events_count", journal)] == 8
    assert samples[("statelog_current_version", journal)] == 7
    assert samples[("statelog_journal_events", journal)] == 8
    assert samples[("statelog_journal_bytes", journal)] > 0
    assert samples[("statelog_subscribers", journal)] == 1
    lag = ("statelog_subscriber_lag_versions", (*journal, ("subscriber", "audit")))
    assert samples[lag] == 2


@pytest.mark.asyncio
async def test_get_metrics_without_collector(db: Path) -> None:
    async with AsyncStateStore(path=db, snapshot_type=Counter) as store:
        await store.set(Counter())
        metrics = await store.get_metrics()
    assert metrics["total_sets"] == 1
    assert metrics["journal"]["events"] == 1
