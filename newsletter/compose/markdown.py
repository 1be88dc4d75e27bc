"""Markdown written by people, rendered safely: raw HTML is escaped and unsafe links are dropped."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _parser():
    from markdown_it import MarkdownIt

    # commonmark with html off: "<script>" in a highlight arrives as text; markdown-it's
    # validateLink refuses javascript:, vbscript:, file: and data: links.
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def render_markdown(text: str) -> str:
    return _parser().render(text).strip()
