"""Email-client safety: what breaks or hurts a newsletter in Gmail, Outlook and Apple Mail.

Each check returns Findings with a message a person can act on. An `error` breaks the email
for some readers (clipped, blocked, broken images) and fails `newsletter check` (exit 2) and
any send; a `warning` hurts readability or accessibility and is reported on every preview.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from html import unescape
from typing import Any

from newsletter.compose.links import image_problem, link_problem, scheme
from newsletter.compose.render import Newsletter

GMAIL_CLIP_BYTES = 102 * 1024
SUBJECT_MAX = 80
PREHEADER_MAX = 255  # the most any inbox shows (Outlook); phones show about 100: what matters comes first
MIN_CONTRAST = 4.5  # WCAG AA for body text
UNREADABLE = 3.0  # WCAG AA even for large text
# (foreground, background, where the pair is used) in theme.toml [colors]
COLOR_PAIRS = (
    ("text", "card", "body text"),
    ("muted", "card", "labels and small print"),
    ("muted", "page", "footer lines"),
    ("brand", "card", "headings and headline numbers"),
    ("brand_text", "brand", "the header and buttons"),
    ("better", "card", "changes for the better"),
    ("worse", "card", "changes for the worse"),
)
# Dark mode (theme.toml [colors.dark]) has the same pairs, checked in its own colours; what is `brand`
# on the card in the light scheme is `accent` there, which the links use too.
DARK_PAIRS = tuple(
    ("accent", back, "dark mode: headings, headline numbers and links") if (fore, back) == ("brand", "card")
    else (fore, back, f"dark mode: {where}") for fore, back, where in COLOR_PAIRS)
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_BACKGROUND = re.compile(r"background(?:-color)?\s*:\s*[^;\s\"]")


@dataclass(frozen=True)
class Finding:
    level: str  # "error" | "warning"
    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.check}: {self.message}"


def check_newsletter(newsletter: Newsletter, theme: dict[str, Any]) -> list[Finding]:
    """Every check, errors first. The theme's hosted logo (logo.url) is the one remote resource allowed."""
    logo_url = str(theme.get("logo", {}).get("url") or "").strip()
    findings = [*check_html(newsletter, allowed={logo_url} - {""}), *check_links(newsletter, theme),
                *check_subject(newsletter.subject), *check_preheader(newsletter.preheader),
                *check_colors(theme)]
    return sorted(findings, key=lambda f: f.level != "error")


def check_links(newsletter: Newsletter, theme: dict[str, Any]) -> Iterator[Finding]:
    """Links and images that lead nowhere from an inbox, or run a script, named by where they were written:
    a highlight (the composer refused it, markdown.py), a theme.toml key, or else the template itself."""
    for bad in newsletter.refused:
        yield Finding("error", "image" if bad.picture else "link", f"{bad.origin}: {bad.problem}")
    values = dict(_theme_strings(theme))
    reported = {bad.url for bad in newsletter.refused}
    for key, url in values.items():  # every [links] key and the logo's url, shown in the email or not
        problem = image_problem(url) if key == "logo.url" else link_problem(url) if key.startswith("links.") else ""
        if url and problem:
            reported.add(url)
            yield Finding("error", _check_name(url, key == "logo.url"), f"theme.toml {key}: {problem}")
    origins = {url: f"theme.toml {key}" for key, url in values.items()}
    for tag, attrs in _start_tags(newsletter.html):
        is_image = tag == "img"
        url = attrs.get("src") if is_image else attrs.get("href")
        if tag == "link" or not url or url in reported:
            continue
        problem = image_problem(url) if is_image else link_problem(url)
        if problem:
            reported.add(url)
            where = origins.get(url, "in the template itself")
            yield Finding("error", _check_name(url, is_image), f"{where}: {problem}")


def _check_name(url: str, is_image: bool) -> str:
    return "data-uri" if scheme(url) == "data" else "image" if is_image else "link"


def _theme_strings(table: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """('links.portal', 'https://...') for every string value in theme.toml, tables walked."""
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _theme_strings(value, f"{prefix}{key}.")
        elif isinstance(value, str):
            yield f"{prefix}{key}", value


def check_subject(subject: str) -> Iterator[Finding]:
    if not subject.strip():
        yield Finding("error", "subject", "the subject is empty; check subject.txt.j2")
    elif len(subject) > SUBJECT_MAX:
        yield Finding("warning", "subject", f"{len(subject)} characters; phones cut subjects after about "
                      f"{SUBJECT_MAX}: shorten subject.txt.j2")


def check_preheader(preheader: str) -> Iterator[Finding]:
    """The inbox's second line: empty, mail clients show the email's first words instead; longer than
    any inbox shows, it only adds weight."""
    if not preheader.strip():
        yield Finding("warning", "preheader", "the preheader is empty: inboxes show the email's first words "
                      "instead; check preheader.txt.j2")
    elif len(preheader) > PREHEADER_MAX:
        yield Finding("warning", "preheader", f"{len(preheader)} characters; no inbox shows more than about "
                      f"{PREHEADER_MAX}: shorten preheader.txt.j2")


_TAG = re.compile(r"""<([a-zA-Z][\w:-]*)((?:\s+[^\s=>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+))?)*)\s*/?>""")
_ATTR = re.compile(r"""([^\s=>/]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?""")


def _start_tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every start tag with its attributes, those in Outlook's conditional comments included (Outlook
    renders them). A regular expression, not html.parser: ten times faster on every preview."""
    tags = []
    for match in _TAG.finditer(html):
        attrs: dict[str, str | None] = {}
        for name, value in _ATTR.findall(match[2]):
            attrs.setdefault(name.lower(), unescape(value[1:-1] if value[:1] in "\"'" else value) if value else None)
        tags.append((match[1].lower(), attrs))
    return tags


def check_html(newsletter: Newsletter, allowed: Collection[str] = ()) -> Iterator[Finding]:
    """The HTML part's checks; `allowed`: remote addresses the email may load (a hosted logo)."""
    html = newsletter.html
    size = len(html.encode("utf-8"))
    if size > GMAIL_CLIP_BYTES:
        yield Finding("error", "size", f"the HTML is {size / 1024:.0f} KB; Gmail clips messages over 102 KB and "
                      "hides the rest: remove sections or shorten the highlights")
    start_tags = _start_tags(html)
    tags = [tag for tag, _ in start_tags]
    for banned, why in (("script", "mail clients strip scripts and spam filters distrust them"),
                        ("svg", "Gmail and Outlook do not show SVG; use a PNG image")):
        if banned in tags:
            yield Finding("error", banned, f"<{banned}> in the HTML: {why}")
    if re.search(r"""url\(\s*["']?\s*data:""", html, re.IGNORECASE):  # in links and images: check_links
        yield Finding("error", "data-uri", "a data: URI in the HTML's CSS: Gmail and Outlook do not show them; "
                      "use a local file sent inline")
    attached = {image.cid for image in newsletter.images}
    for tag, attrs in start_tags:
        if tag == "img":
            yield from _check_image(attrs, attached)
    yield from check_remote(html, start_tags, allowed)
    html_attrs = next((attrs for tag, attrs in start_tags if tag == "html"), {})
    if not html_attrs.get("lang"):
        yield Finding("warning", "lang", "<html> has no lang attribute: screen readers guess the language; "
                      "set language in newsletter.toml")
    body = next((attrs for tag, attrs in start_tags if tag == "body"), {})
    if not _BACKGROUND.search(body.get("style") or "") and not (body.get("bgcolor") or "").strip():
        yield Finding("warning", "background", "<body> has no explicit background colour: dark mode may invert "
                      "the text but not the content; set colors.page in theme.toml")


# Attributes a mail client fetches on opening (VML's <v:image src>/<v:fill src> in Outlook included);
# `href` only on <link>: a link people click contacts nobody until they click it.
_FETCHED = ("src", "srcset", "background", "poster", "data")
_REMOTE = re.compile(r"^\s*(?:https?:|//)", re.IGNORECASE)  # "https:host/x" too: browsers read it as https://
# what browsers take out of an address (tabs, line breaks) or read as a slash (a backslash) before fetching it
_URL_IGNORED = re.compile(r"[\t\n\r]")
# a CSS escape ("u\72 l(" is "url("): read as CSS reads it before looking for addresses
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})\s?|(.))", re.DOTALL)
_STYLE_BLOCK = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.IGNORECASE | re.DOTALL)
_CSS_URL = re.compile(r"""url\(\s*(["']?)([^"')]*)\1\s*\)|@import\s+(["'])([^"']*)\3""", re.IGNORECASE)
# any quoted address in CSS: image-set("https://...") and the like load as url() does
_CSS_QUOTED = re.compile(r"""(["'])(\s*(?:https?:|//)[^"']*)\1""", re.IGNORECASE)


def check_remote(html: str, start_tags: list[tuple[str, dict[str, str | None]]],
                 allowed: Collection[str] = ()) -> Iterator[Finding]:
    """A remote font, stylesheet, image or pixel makes every reader's mail client contact its host when
    the email is opened: a privacy problem (and how tracking works). One error per address."""
    found: dict[str, str] = {}
    for tag, attrs in start_tags:
        for name in (*_FETCHED, "href") if tag == "link" else _FETCHED:
            for url in (attrs.get(name) or "").split(",") if name == "srcset" else [attrs.get(name) or ""]:
                found.setdefault(url.strip().split(" ")[0], f"<{tag} {name}>")
        for url in _css_urls(attrs.get("style") or ""):
            found.setdefault(url, f"url() in a style attribute of <{tag}>")
    for block in _STYLE_BLOCK.findall(html):
        css = _css_unescaped(unescape(block))
        for match in _CSS_URL.finditer(css):
            found.setdefault((match[2] or match[4]).strip(), "@import in <style>" if match[4] else "url() in <style>")
        for match in _CSS_QUOTED.finditer(css):
            found.setdefault(match[2].strip(), "an address in <style>")
    for written, where in found.items():
        url = _URL_IGNORED.sub("", written).replace("\\", "/")
        if _REMOTE.match(url) and written not in allowed:
            shown = url if len(url) < 80 else url[:77] + "..."
            yield Finding("error", "remote", f"{where} loads {shown} when the email is opened: every reader's mail "
                          "client contacts that host; use system fonts in theme.toml [fonts], a picture file "
                          "beside the highlights file or logo.file (sent inside the email), or remove it")


def _css_unescaped(css: str) -> str:
    return _CSS_ESCAPE.sub(lambda m: chr(min(int(m[1], 16), 0x10FFFF) or 0xFFFD) if m[1] else m[2], css)


def _css_urls(css: str) -> list[str]:
    css = _css_unescaped(css)
    return [(match[2] or match[4]).strip() for match in _CSS_URL.finditer(css)] + [
        match[2].strip() for match in _CSS_QUOTED.finditer(css)]


def _check_image(attrs: dict[str, str | None], attached: set[str]) -> Iterator[Finding]:
    src = attrs.get("src") or ""
    name = src if len(src) < 60 else src[:57] + "..."
    if not src.strip():  # an empty theme.toml value, or a misspelt src attribute
        yield Finding("error", "image", f"an image without an address (src) shows as a broken image (alt text "
                      f"{attrs.get('alt')!r}): give it one, or leave the image out when there is none")
        return
    if attrs.get("alt") is None:
        yield Finding("error", "alt", f"image {name} has no alt text: readers with images blocked see nothing")
    if not (attrs.get("width") or "").strip():
        yield Finding("error", "width", f"image {name} has no width attribute: Outlook shows it at full size")
    if src.startswith("cid:") and src[4:] not in attached:
        yield Finding("error", "cid", f"image {name} is not attached to the message: it shows as broken")


def check_colors(theme: dict[str, Any]) -> Iterator[Finding]:
    colors = theme.get("colors", {})
    for key in ("page", "card", "brand"):
        if not colors.get(key):
            yield Finding("warning", "background", f"colors.{key} is empty: without an explicit background, dark "
                          "mode may invert the text but not what is behind it; set a colour")
    yield from _check_pairs(colors, COLOR_PAIRS, "colors")
    yield from _check_pairs(colors.get("dark") or {}, DARK_PAIRS, "colors.dark")


def _check_pairs(colors: dict[str, Any], pairs: tuple[tuple[str, str, str], ...], table: str) -> Iterator[Finding]:
    """WCAG AA contrast of each (foreground, background) pair the scheme `table` shows."""
    for fore, back, where in pairs:
        a, b = colors.get(fore), colors.get(back)
        if not (isinstance(a, str) and isinstance(b, str) and _HEX.match(a) and _HEX.match(b)):
            continue
        ratio = contrast(a, b)
        if ratio < MIN_CONTRAST:  # below 3:1 even large text is unreadable for many: that breaks the email
            level = "error" if ratio < UNREADABLE else "warning"
            yield Finding(level, "contrast", f"{table}.{fore} {a} on {table}.{back} {b} ({where}) has contrast "
                          f"{ratio:.1f}:1, below WCAG AA's {MIN_CONTRAST}:1: darken or lighten one of them")


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours, from 1 to 21."""
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _luminance(color: str) -> float:
    digits = color.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    channels = [int(digits[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
