"""A self-contained HTML page with an SVG timeline of FSM states over time."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from ._timefmt import format_time

# Colour-blind-safe palette (Okabe and Ito, 2008), in the order states first appear.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

_WIDTH = 1200
_LANE = 36
_LEFT = 120
_TOP = 40


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of time spent in one state, entered at ``version`` for ``reason``."""

    state: str
    start: float
    end: float
    version: int
    reason: str


def state_colours(segments: Sequence[Segment]) -> dict[str, str]:
    colours: dict[str, str] = {}
    for segment in segments:
        if segment.state not in colours:
            colours[segment.state] = PALETTE[len(colours) % len(PALETTE)]
    return colours


def render_timeline(title: str, segments: Sequence[Segment], *, local: bool = False) -> str:
    """Return the HTML page: one lane per state, one rectangle per segment, with tooltips."""
    colours = state_colours(segments)
    lanes = {state: index for index, state in enumerate(colours)}
    start = min((s.start for s in segments), default=0.0)
    end = max((s.end for s in segments), default=start + 1.0)
    span = max(end - start, 1e-9)
    scale = (_WIDTH - _LEFT - 20) / span
    height = _TOP + _LANE * len(lanes) + 40

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        f'role="img" aria-label="{html.escape(title)}">'
    ]
    for state, lane in lanes.items():
        y = _TOP + lane * _LANE
        parts.append(
            f'<text x="{_LEFT - 10}" y="{y + _LANE / 2 + 5}" text-anchor="end">'
            f"{html.escape(state)}</text>"
            f'<line x1="{_LEFT}" x2="{_WIDTH - 20}" y1="{y + _LANE - 2}" y2="{y + _LANE - 2}" '
            'class="lane"/>'
        )
    for segment in segments:
        x = _LEFT + (segment.start - start) * scale
        width = max((segment.end - segment.start) * scale, 1.0)
        y = _TOP + lanes[segment.state] * _LANE + 4
        tip = (
            f"{segment.state} from version {segment.version}\n"
            f"{format_time(segment.start, local=local)} to {format_time(segment.end, local=local)}"
            f"\nreason: {segment.reason or '-'}"
        )
        parts.append(
            f'<rect class="segment" x="{x:.2f}" y="{y}" width="{width:.2f}" height="{_LANE - 8}" '
            f'fill="{colours[segment.state]}" data-version="{segment.version}" '
            f'data-state="{html.escape(segment.state)}"><title>{html.escape(tip)}</title></rect>'
        )
    axis_y = _TOP + _LANE * len(lanes) + 20
    parts.append(
        f'<text x="{_LEFT}" y="{axis_y}">{format_time(start, local=local)}</text>'
        f'<text x="{_WIDTH - 20}" y="{axis_y}" text-anchor="end">'
        f"{format_time(end, local=local)}</text></svg>"
    )
    legend = "".join(
        f'<span class="key"><i style="background:{colour}"></i>{html.escape(state)}</span>'
        for state, colour in colours.items()
    )
    return _PAGE.format(
        title=html.escape(title), legend=legend, svg="".join(parts), count=len(segments)
    )


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 20px; color: #222; }}
svg text {{ font: 12px system-ui, sans-serif; fill: #222; }}
.lane {{ stroke: #ddd; }}
.segment:hover {{ stroke: #000; stroke-width: 2; }}
.key {{ margin-right: 16px; }}
.key i {{ display: inline-block; width: 12px; height: 12px; margin-right: 4px; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>{count} state segments. Hover over a segment for its version, times and reason.</p>
<p>{legend}</p>
{svg}
</body>
</html>
"""
