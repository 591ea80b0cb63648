"""Small inline SVG charts for the monitoring report: no script, no CDN, opens offline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")
STATUS_COLORS = {"stable": "#16a34a", "watch": "#d97706", "act": "#dc2626"}
_FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def lines(
    series: Mapping[str, Sequence[tuple[str, float | None]]],
    *,
    title: str,
    width: int = 560,
    height: int = 220,
    y_max: float | None = None,
    x_order: Sequence[str] | None = None,
) -> str:
    """A line chart: one polyline per series of (x label, y); x labels shared and sorted.

    `x_order` gives the x labels' order instead (labels that do not sort as text: "14 d").
    """
    xs = list(x_order) if x_order else sorted({x for points in series.values() for x, _ in points})
    values = [y for points in series.values() for _, y in points if y is not None]
    top = y_max if y_max is not None else max([*values, 1e-9]) * 1.1
    left, right, upper, lower = 48, 12, 24, 36
    plot_w, plot_h = width - left - right, height - upper - lower

    def px(x: str) -> float:
        return left + (xs.index(x) + 0.5) * plot_w / max(len(xs), 1)

    def py(y: float) -> float:
        return upper + plot_h - (y / top) * plot_h if top else upper + plot_h

    parts = [
        _frame(width, height, title),
        f'<text x="{left}" y="14" font-weight="bold" {_FONT}>{escape(title)}</text>',
        _axis(left, upper, plot_w, plot_h, top),
    ]
    for x in xs:
        parts.append(
            f'<text x="{px(x):.1f}" y="{height - 20}" text-anchor="middle" {_FONT}>'
            f"{escape(x[5:] if len(x) == 10 else x)}</text>"
        )
    for number, (name, points) in enumerate(sorted(series.items())):
        color = PALETTE[number % len(PALETTE)]
        drawn = [(px(x), py(y)) for x, y in points if y is not None]
        if len(drawn) > 1:
            path = " ".join(f"{a:.1f},{b:.1f}" for a, b in drawn)
            parts.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>'
            )
        for a, b in drawn:
            parts.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{color}"/>')
        parts.append(
            f'<text x="{left + 4 + number * 150}" y="{height - 4}" fill="{color}" {_FONT}>'
            f"■ {escape(name)}</text>"
        )
    return "".join(parts) + "</svg>"


def bars(
    labels: Sequence[str],
    groups: Mapping[str, Sequence[float]],
    *,
    title: str,
    width: int = 560,
    height: int = 220,
) -> str:
    """Vertical bars: one bar per group side by side for each label (e.g. training vs now)."""
    values = [v for group in groups.values() for v in group]
    top = max([*values, 1e-9]) * 1.1
    left, right, upper, lower = 48, 12, 24, 36
    plot_w, plot_h = width - left - right, height - upper - lower
    slot = plot_w / max(len(labels), 1)
    bar = slot * 0.8 / max(len(groups), 1)
    parts = [
        _frame(width, height, title),
        f'<text x="{left}" y="14" font-weight="bold" {_FONT}>{escape(title)}</text>',
        _axis(left, upper, plot_w, plot_h, top),
    ]
    for index, label in enumerate(labels):
        x0 = left + index * slot + slot * 0.1
        for number, group in enumerate(groups.values()):
            value = group[index]
            h = value / top * plot_h
            parts.append(
                f'<rect x="{x0 + number * bar:.1f}" y="{upper + plot_h - h:.1f}" '
                f'width="{max(bar - 1, 1):.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[number % len(PALETTE)]}"><title>{escape(label)}: '
                f"{_fmt(value)}</title></rect>"
            )
        if len(labels) <= 25:
            parts.append(
                f'<text x="{x0 + slot * 0.4:.1f}" y="{height - 20}" text-anchor="middle" '
                f"{_FONT}>{escape(label)}</text>"
            )
    for number, name in enumerate(groups):
        parts.append(
            f'<text x="{left + 4 + number * 150}" y="{height - 4}" '
            f'fill="{PALETTE[number % len(PALETTE)]}" {_FONT}>■ {escape(name)}</text>'
        )
    return "".join(parts) + "</svg>"


def scatter(
    points: Sequence[tuple[str, float, float]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    width: int = 560,
    height: int = 260,
) -> str:
    """Numbered points (name, x, y) on linear axes from 0: e.g. quality against cost.

    Point i is labelled i + 1 (its name is the hover title); the caller lists the names.
    """
    left, right, upper, lower = 48, 12, 24, 40
    plot_w, plot_h = width - left - right, height - upper - lower
    x_top = max([x for _, x, _ in points] + [1e-9]) * 1.1
    y_top = max([y for _, _, y in points] + [1e-9]) * 1.1
    parts = [
        _frame(width, height, title),
        f'<text x="{left}" y="14" font-weight="bold" {_FONT}>{escape(title)}</text>',
        _axis(left, upper, plot_w, plot_h, y_top),
        f'<text x="{left + plot_w}" y="{height - 22}" text-anchor="end" {_FONT}>'
        f"{escape(x_label)} (0 to {_fmt(x_top)})</text>",
        f'<text x="{left + 4}" y="{upper + 10}" {_FONT}>{escape(y_label)}</text>',
    ]
    for number, (name, x, y) in enumerate(points):
        cx = left + x / x_top * plot_w
        cy = upper + plot_h - y / y_top * plot_h
        color = PALETTE[number % len(PALETTE)]
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{color}"><title>{escape(name)}: '
            f"{_fmt(x)}, {_fmt(y)}</title></circle>"
            f'<text x="{cx + 6:.1f}" y="{cy - 4:.1f}" fill="{color}" {_FONT}>'
            f"{number + 1}</text>"
        )
    return "".join(parts) + "</svg>"


def psi_bars(
    rows: Sequence[tuple[str, float, str]], *, watch: float, act: float, title: str
) -> str:
    """Horizontal PSI bars (name, psi, status) with dashed lines at the two thresholds."""
    left, right, row_h = 220, 60, 16
    width = 640
    height = 44 + row_h * max(len(rows), 1)
    # the axis stops at 4x the act threshold: one PSI of 8 would squash every other bar;
    # a longer bar is cut at the edge and its value printed
    top = min(max([psi for _, psi, _ in rows] + [act * 1.2]), act * 4)
    plot_w = width - left - right

    def px(value: float) -> float:
        return left + min(value, top) / top * plot_w

    parts = [_frame(width, height, title)]
    for index, (name, psi, status) in enumerate(rows):
        y = 30 + index * row_h
        color = STATUS_COLORS.get(status, "#9ca3af")
        parts.append(
            f'<text x="{left - 6}" y="{y + 11}" text-anchor="end" {_FONT}>{escape(name)}</text>'
            f'<rect x="{left}" y="{y + 2}" width="{max(px(psi) - left, 1):.1f}" '
            f'height="{row_h - 4}" '
            f'fill="{color}"><title>{escape(name)}: PSI {_fmt(psi)} ({status})</title></rect>'
            f'<text x="{min(px(psi) + 4, width - right + 4):.1f}" y="{y + 11}" {_FONT}>'
            f"{_fmt(psi)}</text>"
        )
    for value, label, y in ((watch, "watch", 11), (act, "act", 22)):
        parts.append(
            f'<line x1="{px(value):.1f}" x2="{px(value):.1f}" y1="{y + 2}" y2="{height - 4}" '
            f'stroke="{STATUS_COLORS[label]}" stroke-dasharray="4 3"/>'
            f'<text x="{px(value) + 2:.1f}" y="{y}" fill="{STATUS_COLORS[label]}" {_FONT}>'
            f"{label} {value:g}</text>"
        )
    return "".join(parts) + "</svg>"


def _frame(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>'
        f'<rect width="100%" height="100%" fill="#fff"/>'
    )


def _axis(left: int, upper: int, plot_w: int, plot_h: int, top: float) -> str:
    parts = [
        f'<line x1="{left}" x2="{left}" y1="{upper}" y2="{upper + plot_h}" stroke="#999"/>',
        f'<line x1="{left}" x2="{left + plot_w}" y1="{upper + plot_h}" y2="{upper + plot_h}" '
        'stroke="#999"/>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = upper + plot_h - fraction * plot_h
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" {_FONT}>'
            f"{_fmt(top * fraction)}</text>"
        )
    return "".join(parts)
