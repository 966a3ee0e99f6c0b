"""Round trips of the snapshot codec: full payloads, re-versioned payloads and deltas."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import given
from hypothesis import strategies as st

from statelog._codec import SnapshotCodec
from statelog._encoding import delta_document
from tests.models import Counter, Phase, Reading

readings = st.builds(
    Reading,
    version=st.integers(0, 10**6),
    phase=st.sampled_from(Phase),
    value=st.floats(allow_nan=False, allow_infinity=False),
    note=st.text(max_size=50),
)
counters = st.builds(
    Counter,
    version=st.integers(0, 10**6),
    state=st.text(max_size=20),
    count=st.integers(-(2**53), 2**53),
)


@given(readings, st.integers(0, 10**7))
def test_reversioned_model_round_trips(snapshot: Reading, version: int) -> None:
    codec = SnapshotCodec(Reading, "phase")

    payload, stored = codec.encode_as(snapshot, version)

    assert stored.version == version
    assert stored.model_copy(update={"version": snapshot.version}) == snapshot
    assert codec.decode(payload) == stored
    assert json.loads(payload)["version"] == version
    assert snapshot.version != version or payload == codec.encode(snapshot)


@given(counters, st.integers(0, 10**7))
def test_reversioned_dataclass_round_trips(snapshot: Counter, version: int) -> None:
    codec = SnapshotCodec(Counter)

    payload, stored = codec.encode_as(snapshot, version)

    assert stored == dataclasses.replace(snapshot, version=version)
    assert codec.decode(payload) == stored


@given(readings, readings, st.integers(0, 10**7))
def test_delta_round_trips(previous: Reading, current: Reading, version: int) -> None:
    codec = SnapshotCodec(Reading, "phase")

    payload, stored = codec.make_delta(previous, current, version)
    applied = codec.apply_delta(previous, delta_document(payload), version)

    assert stored == current.model_copy(update={"version": version})
    assert applied == stored
    assert payload.startswith(b"D")
