"""Parsing and printing of event times: ISO 8601 or epoch seconds, UTC unless asked."""

from __future__ import annotations

import datetime as dt
import math

from ._errors import StateStoreError


def parse_time(text: str) -> float:
    """Return UTC epoch seconds for ISO 8601 text (UTC when it has no zone) or epoch seconds."""
    try:
        epoch = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(epoch):
            return epoch
        raise StateStoreError(f"invalid time {text!r}: epoch seconds must be a finite number")
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise StateStoreError(
            f"invalid time {text!r}: use ISO 8601 such as 2026-03-01T03:12:00Z, "
            "or epoch seconds such as 1772334720 (@1772334720 for state-at)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def to_epoch(moment: dt.datetime | float) -> float:
    """Return epoch seconds for a datetime (naive means UTC) or pass a number through."""
    if isinstance(moment, dt.datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.timestamp()
    return float(moment)


def format_time(epoch: float, *, local: bool = False) -> str:
    """Format epoch seconds as ISO 8601 with milliseconds, in UTC or the local zone."""
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    if local:
        moment = moment.astimezone()
    text = moment.isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
