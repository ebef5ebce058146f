"""Bar charts as SVG, drawn on the server: pure functions from numbers to markup.

Inline SVG needs no script and no chart library in the browser, scales with its `viewBox` from a
phone to a desktop, and passes the console's Content-Security-Policy: colours and sizes are
presentation attributes and CSS classes, never `style` attributes. Labels are escaped.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

__all__ = ["bar_chart", "column_chart"]

_WIDTH = 640
_ROW = 28
_LABEL = 170
_VALUE = 90


def bar_chart(
    bars: Sequence[tuple[str, float]],
    *,
    title: str,
    notes: Sequence[str] | None = None,
    value_format: str = "{:g}",
) -> Markup:
    """Horizontal bars, one row per `(label, value)`, longest bar the largest value; `notes`
    (one per bar) is written after the value (a conversion rate, say)."""
    height = _ROW * max(len(bars), 1) + 8
    top = max((value for _, value in bars), default=0) or 1
    span = _WIDTH - _LABEL - _VALUE
    parts = [
        f'<svg class="chart" viewBox="0 0 {_WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for index, (label, value) in enumerate(bars):
        y = 4 + index * _ROW
        width = round(span * value / top, 1)
        note = f" {notes[index]}" if notes and notes[index] else ""
        parts.append(
            f'<text class="chart-label" x="{_LABEL - 8}" y="{y + 18}" '
            f'text-anchor="end">{escape(label)}</text>'
            f'<rect class="chart-bar" x="{_LABEL}" y="{y + 4}" width="{max(width, 1)}" '
            f'height="{_ROW - 8}" rx="3"/>'
            f'<text class="chart-value" x="{_LABEL + max(width, 1) + 6}" y="{y + 18}">'
            f"{escape(value_format.format(value))}{escape(note)}</text>"
        )
    if not bars:
        parts.append(f'<text class="chart-label" x="{_LABEL}" y="20">no data</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def column_chart(columns: Sequence[tuple[str, float]], *, title: str) -> Markup:
    """Vertical columns, one per `(label, value)` (weeks, say), values over the columns."""
    height, base, top_pad = 200, 170, 22
    count = max(len(columns), 1)
    slot = (_WIDTH - 20) / count
    top = max((value for _, value in columns), default=0) or 1
    parts = [
        f'<svg class="chart" viewBox="0 0 {_WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line class="chart-axis" x1="10" y1="{base}" x2="{_WIDTH - 10}" y2="{base}"/>',
    ]
    for index, (label, value) in enumerate(columns):
        x = 10 + index * slot
        bar = round((base - top_pad) * value / top, 1)
        width = max(min(slot * 0.6, 60), 4)
        left = round(x + (slot - width) / 2, 1)
        middle = round(x + slot / 2, 1)
        parts.append(
            f'<rect class="chart-bar" x="{left}" y="{base - bar}" width="{round(width, 1)}" '
            f'height="{bar}" rx="2"/>'
            f'<text class="chart-value" x="{middle}" y="{base - bar - 5}" '
            f'text-anchor="middle">{escape(f"{value:g}")}</text>'
            f'<text class="chart-label" x="{middle}" y="{base + 18}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    if not columns:
        parts.append(f'<text class="chart-label" x="20" y="{base - 10}">no bookings</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
