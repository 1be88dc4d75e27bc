"""12-month trend charts as PNG images, sent inline by CID (no SVG, no data: URIs).

Planning a chart (which series, its alt text) is cheap and needs no imaging library; Pillow is
imported only in `draw`, when a chart is actually drawn. Images are drawn at twice the size
they are shown (`width` attribute), so they stay sharp on high-density screens.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from newsletter.compose.context import Figure, format_value
from newsletter.compose.story import trend_words

WIDTH = 552  # CSS pixels: the 600 px body less the card's padding
HEIGHT = 180
SCALE = 2
MIN_POINTS = 3
# kind, figure key, title, style
TRENDS = (
    ("ticketing", "resolved", "Requests resolved", "bar"),
    ("mail_security", "blocked_total", "Threats blocked", "bar"),
    ("uptime", "overall_uptime_pct", "Uptime", "line"),
)


@dataclass(frozen=True)
class Chart:
    """What a template needs to show one trend: `<img src="cid:{cid}" alt="{alt}" width="{width}">`."""

    key: str
    title: str
    alt: str  # the trend in words; also the plain-text part's sentence
    cid: str
    filename: str
    style: str
    figure: Figure
    months: tuple[str, ...]
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def src(self) -> str:
        return f"cid:{self.cid}"


def plan_charts(context: dict[str, Any]) -> list[Chart]:
    """The trends there is enough history for (MIN_POINTS known months), in TRENDS order."""
    names = [m["name"] for m in context["month"]["history"]] + [context["month"]["name"]]
    label = context["month"]["label"]
    charts = []
    for kind, key, title, style in TRENDS:
        section = next((s for s in context.get(kind, []) if s.ok and key in s.figures), None)
        if section is None:
            continue
        figure = section.figures[key]
        series = figure.series[-12:]
        if sum(v is not None for v in series) < MIN_POINTS or figure.value is None:
            continue
        months = tuple(names[-len(series):])
        trimmed = Figure(figure.key, figure.label, figure.value, figure.previous, figure.unit,
                         figure.higher_is_better, figure.previous_month, tuple(series[:-1]))
        charts.append(Chart(key, title, trend_words(title, trimmed, list(months)), f"trend-{key}-{label}@newsletter",
                            f"trend-{key}.png", style, trimmed, months))
    return charts


def draw(chart: Chart, colors: dict[str, str]) -> bytes:
    """The chart as PNG bytes, drawn at SCALE x its display size in the theme's colours."""
    from PIL import Image, ImageDraw, ImageFont

    w, h = chart.width * SCALE, chart.height * SCALE
    image = Image.new("RGB", (w, h), colors.get("card", "#ffffff"))
    pen = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=11 * SCALE)
    bold = ImageFont.load_default(size=13 * SCALE)
    left, right, top, bottom = 8 * SCALE, 8 * SCALE, 26 * SCALE, 24 * SCALE
    values = chart.figure.series
    known = [v for v in values if v is not None]
    if chart.style == "bar":
        low, high = 0.0, max(known) * 1.1 or 1.0
    else:
        span = max(known) - min(known) or 0.1
        low, high = min(known) - 0.25 * span, max(known) + 0.35 * span
    slot = (w - left - right) / len(values)

    def y(value: float) -> float:
        return top + (h - top - bottom) * (1 - (value - low) / (high - low))

    pen.line([(left, h - bottom), (w - right, h - bottom)], fill=colors.get("muted", "#55606e"), width=SCALE)
    points = []
    for index, (value, month) in enumerate(zip(values, chart.months, strict=True)):
        centre = left + slot * (index + 0.5)
        last = index == len(values) - 1
        colour = colors.get("brand", "#1f4e79") if last else colors.get("chart", "#9fb6cc")
        pen.text((centre, h - bottom + 4 * SCALE), month[:3], font=font, anchor="mt",
                 fill=colors.get("text", "#1d2733") if last else colors.get("muted", "#55606e"))
        if value is None:
            continue
        if chart.style == "bar":
            pen.rectangle([centre - slot * 0.32, y(value), centre + slot * 0.32, h - bottom], fill=colour)
        points.append((centre, y(value), value, last))
    if chart.style == "line":
        pen.line([(x, yy) for x, yy, _, _ in points], fill=colors.get("brand", "#1f4e79"), width=2 * SCALE)
        for x, yy, _, last in points:
            r = (4 if last else 3) * SCALE
            pen.ellipse([x - r, yy - r, x + r, yy + r], fill=colors.get("brand", "#1f4e79"))
        lowest = min(points[:-1], key=lambda p: p[2], default=None)
        if lowest is not None and lowest[2] < points[-1][2]:  # the axis does not start at zero: name the low
            pen.text((lowest[0], lowest[1] + 6 * SCALE), format_value(lowest[2], chart.figure.unit), font=font,
                     anchor="mt", fill=colors.get("muted", "#55606e"))
    x, yy, value, _ = points[-1]
    pen.text((min(x, w - right), yy - 6 * SCALE), format_value(value, chart.figure.unit), font=bold,
             anchor="rb" if x > w * 0.8 else "mb", fill=colors.get("text", "#1d2733"))
    buffer = io.BytesIO()
    _to_palette(image, [colors.get(k) for k in ("card", "brand", "chart", "text", "muted")]).save(
        buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _to_palette(image, exact: list[str | None]):
    """A 32-colour palette keeps the PNG small and quick to encode; the theme's own colours are
    snapped back to their exact values, so the chart's background matches the card behind it."""
    from PIL import Image, ImageColor

    paletted = image.quantize(colors=32, method=Image.Quantize.FASTOCTREE)
    palette = paletted.getpalette() or []
    entries = [tuple(palette[i:i + 3]) for i in range(0, len(palette), 3)]
    for color in filter(None, exact):
        rgb = ImageColor.getrgb(color)[:3]

        def distance(index: int, rgb: tuple[int, ...] = rgb) -> int:
            return sum((a - b) ** 2 for a, b in zip(entries[index], rgb, strict=True))

        nearest = min(range(len(entries)), key=distance)
        palette[nearest * 3:nearest * 3 + 3] = rgb
    paletted.putpalette(palette)
    return paletted
