"""The lead story: the month's most important highlight, first in the email, its title the headline.

Which highlight leads: the first one whose title begins with the marker `Lead:` (any case, in any
section of the highlights file; the marker is not shown), else the first `## ` item before any
`# ` heading. Only when the edition's sections include "lead" (the default): otherwise every
highlight stays where it was written.

Its photo, if given: a line holding nothing but a picture of a file beside the highlights file,
`![What it shows](datacenter.jpg)`, anywhere in the lead's text. It shows under the headline at
the content width, resized (pictures.lead_photo) and sent inside the email; the description is
required. Any other picture in the text stays where it is, as in every highlight.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from newsletter.compose.formatting import where
from newsletter.compose.links import BadReference, scheme
from newsletter.compose.markdown import render_markdown
from newsletter.compose.pictures import lead_photo
from newsletter.model import SourceResult

MARKER = re.compile(r"^\s*lead\s*:\s*", re.IGNORECASE)
# a line with only a picture: ![alt](src) or ![alt](src "title")
_PHOTO_LINE = re.compile(r'^[ \t]*!\[(?P<alt>[^\]\n]*)\]\((?P<src>[^)\s]+)(?:\s+"[^"\n]*")?\)[ \t]*$', re.MULTILINE)


def unmarked(title: str) -> tuple[str, bool]:
    """('We moved the datacenter', True) for 'Lead: We moved the datacenter'."""
    stripped = MARKER.sub("", title, count=1)
    return (stripped, True) if stripped != title and stripped else (title, False)


def choose(items: list[tuple[SourceResult, dict[str, str]]]) -> int | None:
    """The index of the lead among the month's highlight items (every section, in file order)."""
    marked = next((n for n, (_, item) in enumerate(items) if unmarked(item["title"])[1]), None)
    if marked is not None:
        return marked
    return next((n for n, (_, item) in enumerate(items) if item["section"] == "highlights"), None)


def render_highlight(result: SourceResult, item: dict[str, str], written: dict[str, list[Any]]) -> dict[str, Any]:
    """One highlight as templates see it (title, html, text; photo: None, a lead's only). What in it
    cannot go out and the pictures it sends along go to `written` (markdown_refused, markdown_pictures),
    for the renderer."""
    file = result.metrics.get("file")
    title = unmarked(item["title"])[0]
    origin = f'{where(file) if file else result.name} ("{title}")'
    rendered = render_markdown(item["body"], origin, Path(file).parent if file else None)
    written["markdown_refused"].extend(rendered.refused)
    written["markdown_pictures"].extend(rendered.pictures)
    return {"title": title, "html": rendered.html, "text": item["body"], "photo": None}


def render_lead(result: SourceResult, item: dict[str, str], written: dict[str, list[Any]]) -> dict[str, Any]:
    """The lead as templates see it: a highlight plus `photo` (a LeadPhoto, or None)."""
    file = result.metrics.get("file")
    body, photo = item["body"], None
    found = _PHOTO_LINE.search(body) if file else None  # without a file, markdown.py says what is wrong
    if found and not scheme(found["src"]):
        body = (body[:found.start()] + body[found.end():]).strip()
        title = unmarked(item["title"])[0]
        picked = lead_photo(Path(file).parent, found["src"], found["alt"])
        if isinstance(picked, str):
            written["markdown_refused"].append(BadReference(f'{where(file)} ("{title}")', found["src"],
                                                            f"lead photo {picked}", picture=True))
        else:
            photo = picked
            written["markdown_pictures"].append(picked.image)
    return {**render_highlight(result, {**item, "body": body}, written), "photo": photo}
