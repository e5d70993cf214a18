"""Bar charts as inline SVG, drawn on the server: no chart library, no script, nothing to download.

Colours come from the stylesheet (`.bar.<series>`), each bar carries a `<title>` (the browser
shows it on hover) and the chart an `aria-label`, and the numbers are also in a table beside
it, so the figures never depend on seeing the picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 320, 120
TOP, BOTTOM, LEFT = 14, 16, 4


def daily_bars(days: Sequence[str], values: Sequence[int], *, series: str, label: str) -> Markup:
    """One bar per day, oldest first, scaled to the largest value; the first and last day are labelled."""
    top = max(values, default=0)
    slot = (WIDTH - LEFT) / max(len(days), 1)
    plot = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
        f'<text class="peak" x="{LEFT}" y="10">{escape(label)} · max {top}</text>',
        f'<line class="axis" x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH}" y2="{HEIGHT - BOTTOM}"/>',
    ]
    for index, (day, value) in enumerate(zip(days, values, strict=True)):
        height = 0.0 if not top else max(plot * value / top, 1.0 if value else 0.0)
        x = LEFT + index * slot
        parts.append(
            f'<rect class="bar {escape(series)}" x="{x + 1:.1f}" y="{HEIGHT - BOTTOM - height:.1f}" '
            f'width="{max(slot - 2, 1):.1f}" height="{height:.1f}">'
            f"<title>{escape(day)}: {value}</title></rect>"
        )
    if days:
        parts.append(f'<text class="day" x="{LEFT}" y="{HEIGHT - 3}">{escape(days[0][5:])}</text>')
        parts.append(f'<text class="day" x="{WIDTH}" y="{HEIGHT - 3}" text-anchor="end">{escape(days[-1][5:])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
