"""Markdown written by people, rendered safely: raw HTML is escaped, links and pictures are checked.

A link goes out only to http, https or mailto (links.py); any other is shown as its text and
recorded as a BadReference, which the email checks refuse to send, naming where it was written.
A picture gets a width every mail client honours (pictures.py): hosted ones show at the content
width, a file beside the highlights file is sent inside the email at its own width; a picture
that cannot go out shows as its alt text and is recorded the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

from newsletter.compose.links import BadReference, image_problem, link_problem, scheme
from newsletter.compose.pictures import CONTENT_WIDTH, InlineImage, img_tag, local_picture


@dataclass(frozen=True)
class Markdown:
    """One text, rendered: its HTML, what in it cannot go out, and the pictures to send with it."""

    html: str
    refused: tuple[BadReference, ...] = ()
    pictures: tuple[InlineImage, ...] = ()


@dataclass
class _Written:
    origin: str
    folder: Path | None
    refused: list[BadReference] = field(default_factory=list)
    pictures: list[InlineImage] = field(default_factory=list)
    in_refused_link: bool = False


def render_markdown(text: str, origin: str = "a highlight", folder: Path | None = None) -> Markdown:
    """`origin` names where `text` was written in every problem; `folder` is where its picture files are."""
    written = _Written(origin, folder)
    html = _parser().render(text, {"written": written}).strip()
    return Markdown(html, tuple(written.refused), tuple(written.pictures))


@lru_cache(maxsize=1)
def _parser():
    from markdown_it import MarkdownIt

    # commonmark with html off: "<script>" in a highlight arrives as text. Every link and image is
    # let through the parser (validateLink) to be judged by the rules below, which say why.
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    parser.validateLink = lambda url: True
    parser.add_render_rule("link_open", _link_open)
    parser.add_render_rule("link_close", _link_close)
    parser.add_render_rule("image", _image)
    return parser


def _link_open(renderer: Any, tokens: list, idx: int, options: Any, env: dict) -> str:
    written: _Written = env["written"]
    href = tokens[idx].attrGet("href") or ""
    problem = link_problem(href)
    written.in_refused_link = bool(problem)
    if problem:
        written.refused.append(BadReference(written.origin, href, f"link {problem}"))
        return ""
    return renderer.renderToken(tokens, idx, options, env)


def _link_close(renderer: Any, tokens: list, idx: int, options: Any, env: dict) -> str:
    written: _Written = env["written"]
    if written.in_refused_link:
        written.in_refused_link = False
        return ""
    return renderer.renderToken(tokens, idx, options, env)


def _image(renderer: Any, tokens: list, idx: int, options: Any, env: dict) -> str:
    written: _Written = env["written"]
    token = tokens[idx]
    alt = renderer.renderInlineAsText(token.children or [], options, env)
    src, title = token.attrGet("src") or "", token.attrGet("title") or ""
    kind = scheme(src)
    if kind in ("http", "https"):
        return img_tag(src, alt, CONTENT_WIDTH, title)
    found = local_picture(written.folder, src) if written.folder and not kind else _not_a_picture(src, kind)
    if isinstance(found, str):
        written.refused.append(BadReference(written.origin, src, f"picture {found}", picture=True))
        return escape(alt)
    image, width = found
    written.pictures.append(image)
    return img_tag(f"cid:{image.cid}", alt, width, title)


def _not_a_picture(src: str, kind: str) -> str:
    if kind == "cid":
        return f"{src!r}: write the picture's file name instead (the email attaches it)"
    if kind:
        return f"{image_problem(src)}, or save the picture beside the highlights file and write its file name"
    return f"{src!r}: only a highlights file can have pictures beside it: put the picture in the month's highlights"
