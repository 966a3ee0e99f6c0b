"""The public API: exactly what __all__ lists, all importable, nothing private leaking."""

from __future__ import annotations

import statelog


def test_all_matches_exports() -> None:
    public = {name for name in dir(statelog) if not name.startswith("_")}
    modules = {"cli", "prometheus"}

    assert sorted(statelog.__all__) == statelog.__all__
    assert set(statelog.__all__) - {"__version__"} == public - modules
    for name in statelog.__all__:
        assert getattr(statelog, name) is not None


def test_errors_share_one_root() -> None:
    errors = [getattr(statelog, name) for name in statelog.__all__ if name.endswith("Error")]

    assert len(errors) >= 10
    for error in errors:
        assert issubclass(error, statelog.StateStoreError)
