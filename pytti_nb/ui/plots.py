"""Tiny SVG line charts (no plotting library): the live loss plot and the schedule preview."""

import html
import math

PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
)
MAX_POINTS = 400  # longer series are thinned: the chart is a few hundred pixels wide


def line_chart_svg(
    series: dict, *, width=360, height=140, title="", x_label="step", marks=()
) -> str:
    """An SVG chart of named (xs, ys) series sharing axes, with a legend and min/max labels;
    `marks` are x positions drawn as dashed vertical lines (cadence's key frames)."""
    finite = {name: _finite_points(xs, ys) for name, (xs, ys) in series.items()}
    finite = {name: pts for name, pts in finite.items() if pts}
    if not finite:
        return _frame(
            width,
            height,
            title,
            "<text x='50%' y='55%' text-anchor='middle' "
            "fill='#888' font-size='11'>nothing to plot yet</text>",
        )
    xs = [x for pts in finite.values() for x, _ in pts]
    ys = [y for pts in finite.values() for _, y in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 0.5, y1 + 0.5
    if x1 - x0 < 1e-12:
        x0, x1 = x0 - 0.5, x1 + 0.5
    left, right, top, bottom = 44, 8, 18, 30
    pw, ph = width - left - right, height - top - bottom

    def px(x, y):
        return left + (x - x0) / (x1 - x0) * pw, top + (1 - (y - y0) / (y1 - y0)) * ph

    body = [
        f"<rect x='{left}' y='{top}' width='{pw}' height='{ph}' fill='none' stroke='#ccc'/>",
        _label(left - 4, top + 8, _fmt(y1), "end"),
        _label(left - 4, top + ph, _fmt(y0), "end"),
        _label(left, height - 16, _fmt(x0), "start"),
        _label(left + pw, height - 16, _fmt(x1), "end"),
        _label(left + pw / 2, height - 16, x_label, "middle"),
    ]
    for x in _thin([m for m in marks if x0 <= m <= x1]):
        at = px(x, y0)[0]
        body.append(
            f"<line class='mark' x1='{at:.1f}' y1='{top}' x2='{at:.1f}' y2='{top + ph}' "
            "stroke='#999' stroke-dasharray='2,2'/>"
        )
    for k, pts in enumerate(finite.values()):
        colour = PALETTE[k % len(PALETTE)]
        coords = " ".join(f"{a:.1f},{b:.1f}" for a, b in (px(x, y) for x, y in _thin(pts)))
        body.append(
            f"<polyline fill='none' stroke='{colour}' stroke-width='1.5' points='{coords}'/>"
        )
    legend = "" if len(finite) == 1 else _legend(list(finite))
    return _frame(width, height, title, "".join(body)) + legend


def _finite_points(xs, ys):
    """(x, y) pairs with both finite."""
    return [
        (float(x), float(y))
        for x, y in zip(xs, ys, strict=True)
        if math.isfinite(float(x)) and math.isfinite(float(y))
    ]


def _thin(points):
    """At most MAX_POINTS points, always keeping the last one."""
    if len(points) <= MAX_POINTS:
        return points
    stride = math.ceil(len(points) / MAX_POINTS)
    return points[::stride] + [points[-1]]


def _fmt(value):
    """A short axis label."""
    return f"{value:.3g}"


def _label(x, y, text, anchor):
    """A small grey SVG text."""
    return (
        f"<text x='{x:.1f}' y='{y:.1f}' text-anchor='{anchor}' fill='#666' "
        f"font-size='10'>{html.escape(text)}</text>"
    )


def _frame(width, height, title, body):
    """Wrap chart elements in an <svg> with an optional title."""
    heading = (
        f"<text x='4' y='12' font-size='11' fill='#333'>{html.escape(title)}</text>"
        if title
        else ""
    )
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"style='font-family:sans-serif'>{heading}{body}</svg>"
    )


def _legend(names):
    """An HTML legend of coloured names under a multi-series chart."""
    items = "".join(
        f"<span style='color:{PALETTE[k % len(PALETTE)]};margin-right:10px'>"
        f"&#9644; {html.escape(name)}</span>"
        for k, name in enumerate(names)
    )
    return f"<div style='font-size:11px;font-family:sans-serif'>{items}</div>"
