"""12-month trend charts as PNG images, sent inline by CID (no SVG, no data: URIs).

Planning a chart (which series, its alt text) is cheap and needs no imaging library; Pillow is
imported only in `draw`, when a chart is actually drawn. Images are drawn at twice the size
they are shown (`width` attribute), so they stay sharp on high-density screens.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from newsletter.compose import quiet_work
from newsletter.compose.figures import Figure, format_value
from newsletter.compose.sentences import trend_words
from newsletter.i18n import N_
from newsletter.i18n import gettext as _

WIDTH = 552  # CSS pixels: the 600 px body less the card's padding
HEIGHT = 180
SCALE = 2
MIN_POINTS = 3
# kind, figure key, title (marked for the catalogs, translated when planned), style
TRENDS = (
    ("ticketing", "resolved", N_("Requests resolved"), "bar"),
    ("mail_security", "blocked_total", N_("Threats blocked"), "bar"),
    ("uptime", "overall_uptime_pct", N_("Uptime"), "line"),
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
    """The trends there is enough history for (MIN_POINTS known months), in TRENDS order, then the
    quiet work's (quiet_work.trends)."""
    names = [m["name"] for m in context["month"]["history"]] + [context["month"]["name"]]
    label = context["month"]["label"]
    charts = []
    for kind, key, title, style in (*TRENDS, *quiet_work.trends()):
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
        title = _(title)
        charts.append(Chart(key, title, trend_words(title, trimmed, list(months)), f"trend-{key}-{label}@newsletter",
                            f"trend-{key}.png", style, trimmed, months))
    return charts


# The colours a chart uses, with the built-in theme's values for a theme that leaves one out.
INKS = {"card": "#ffffff", "brand": "#1f4e79", "chart": "#9fb6cc", "text": "#1d2733", "muted": "#55606e"}
TEXT_SHADES = 16  # steps from the card to each text colour, for the anti-aliased edges of letters


def draw(chart: Chart, colors: dict[str, str]) -> bytes:
    """The chart as PNG bytes, drawn at SCALE x its display size in the theme's colours."""
    from PIL import Image, ImageDraw, ImageFont

    ink = {key: colors.get(key) or default for key, default in INKS.items()}  # "" is no colour: the built-in's
    w, h = chart.width * SCALE, chart.height * SCALE
    image = Image.new("RGB", (w, h), ink["card"])
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

    pen.line([(left, h - bottom), (w - right, h - bottom)], fill=ink["muted"], width=SCALE)
    points = []
    for index, (value, month) in enumerate(zip(values, chart.months, strict=True)):
        centre = left + slot * (index + 0.5)
        last = index == len(values) - 1
        pen.text((centre, h - bottom + 4 * SCALE), month[:3], font=font, anchor="mt",
                 fill=ink["text"] if last else ink["muted"])
        if value is None:
            continue
        if chart.style == "bar":
            pen.rectangle([centre - slot * 0.32, y(value), centre + slot * 0.32, h - bottom],
                          fill=ink["brand"] if last else ink["chart"])
        points.append((centre, y(value), value, last))
    if chart.style == "line":
        pen.line([(x, yy) for x, yy, _, _ in points], fill=ink["brand"], width=2 * SCALE)
        for x, yy, _, last in points:
            r = (4 if last else 3) * SCALE
            pen.ellipse([x - r, yy - r, x + r, yy + r], fill=ink["brand"])
        lowest = min(points[:-1], key=lambda p: p[2], default=None)
        if lowest is not None and lowest[2] < points[-1][2]:  # the axis does not start at zero: name the low
            pen.text((lowest[0], lowest[1] + 6 * SCALE), format_value(lowest[2], chart.figure.unit), font=font,
                     anchor="mt", fill=ink["muted"])
    x, yy, value, _ = points[-1]
    pen.text((min(x, w - right), yy - 6 * SCALE), format_value(value, chart.figure.unit), font=bold,
             anchor="rb" if x > w * 0.8 else "mb", fill=ink["text"])
    buffer = io.BytesIO()
    image.quantize(palette=_palette(ink), dither=Image.Dither.NONE).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _palette(ink: dict[str, str]):
    """A palette of the theme's own colours, exact, plus shades from the card to each text colour.

    Shapes are drawn without anti-aliasing, so only letters have in-between colours; mapping to
    this fixed palette keeps the PNG small and the background equal to the card behind it, and is
    about five times quicker than letting Pillow choose a palette (quantize) per image.
    """
    from PIL import Image, ImageColor

    def shades(color: str) -> list[tuple[int, ...]]:
        a, b = ImageColor.getrgb(ink["card"])[:3], ImageColor.getrgb(color)[:3]
        steps = TEXT_SHADES - 1
        return [tuple(round(x + (y - x) * i / steps) for x, y in zip(a, b, strict=True)) for i in range(1, steps)]

    exact = [ImageColor.getrgb(color)[:3] for color in ink.values()]
    entries = list(dict.fromkeys([*exact, *shades(ink["text"]), *shades(ink["muted"])]))
    palette = Image.new("P", (1, 1))
    palette.putpalette([channel for rgb in entries for channel in rgb])
    return palette
