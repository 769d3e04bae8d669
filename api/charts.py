"""Small server-side SVG charts for the dashboard (no script, nothing fetched from elsewhere)."""

from __future__ import annotations

from html import escape


def bars(data: list[tuple[str, float]], *, width: int = 640, bar_height: int = 18, fmt: str = "{:.0f}",
         max_value: float | None = None) -> str:
    if not data:
        return "<p class='muted'>No data yet.</p>"
    top = max_value or max(v for _, v in data) or 1
    label_w = 130
    rows = []
    for i, (label, value) in enumerate(data):
        y = i * (bar_height + 6)
        w = (width - label_w - 60) * (value / top)
        rows.append(f"<text x='0' y='{y + bar_height - 4}' font-size='12'>{escape(label)}</text>"
                    f"<rect x='{label_w}' y='{y}' width='{w:.1f}' height='{bar_height}'/>"
                    f"<text x='{label_w + w + 4:.1f}' y='{y + bar_height - 4}' font-size='12'>{escape(fmt.format(value))}</text>")
    height = len(data) * (bar_height + 6)
    return f"<svg class='bars' role='img' width='{width}' height='{height}' viewBox='0 0 {width} {height}'>{''.join(rows)}</svg>"


def columns(days: list[str], series: dict[str, list[int]], *, width: int = 760, height: int = 200) -> str:
    """Stacked daily columns, one colour per series, with a legend."""
    if not days:
        return "<p class='muted'>No data yet.</p>"
    palette = ["#4f6bed", "#e5484d", "#30a46c", "#f5a524", "#8e4ec6", "#0b7a75", "#a15c07", "#697386"]
    totals = [sum(s[i] for s in series.values()) for i in range(len(days))]
    top = max(totals) or 1
    step = (width - 40) / len(days)
    parts = []
    for i, day in enumerate(days):
        y: float = height - 30
        for k, (name, values) in enumerate(series.items()):
            h = (height - 50) * values[i] / top
            y -= h
            parts.append(f"<rect x='{30 + i * step:.1f}' y='{y:.1f}' width='{step * 0.8:.1f}' height='{h:.1f}' "
                         f"fill='{palette[k % len(palette)]}'><title>{escape(name)} {day}: {values[i]}</title></rect>")
        if i % max(1, len(days) // 7) == 0:
            parts.append(f"<text x='{30 + i * step:.1f}' y='{height - 12}' font-size='10'>{escape(day[5:])}</text>")
    legend = "".join(f"<span class='pill' style='background:{palette[k % len(palette)]};color:#fff'>{escape(n)}</span>"
                     for k, n in enumerate(series))
    return f"<svg role='img' width='{width}' height='{height}'>{''.join(parts)}</svg><div>{legend}</div>"
