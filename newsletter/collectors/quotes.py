"""Satisfaction comments as quote candidates for "What colleagues said".

A help desk that keeps the comment people leave with a good rating offers the month's comments
to the preview, where a person may pick some for the highlights file. Nothing here reaches the
email by itself. What is kept of a comment is its words and its day: never the requester's id,
name or address, nor the ticket, and the e-mail addresses and ticket numbers written in the words
themselves are replaced by "…" (names in free text cannot be told apart reliably: the person who
picks a quote reads it first).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from newsletter.results import Quote

MAX_QUOTE = 600  # characters; a longer comment is a letter, not a quote
MAX_QUOTES = 200  # candidates kept per month: a page a person can read
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_TICKET = re.compile(r"(?i)(?:\b(?:ticket|request|case|incident|inc|req)\s*(?:no\.?|number|nr\.?)?\s*#?\s*\d+)|#\d+")
_SPACE = re.compile(r"\s+")


def scrub(text: str) -> str:
    """The comment with e-mail addresses and ticket numbers replaced by "…", on one line."""
    text = _EMAIL.sub("…", text)
    text = _TICKET.sub("…", text)
    return _SPACE.sub(" ", "".join(c for c in text if c.isprintable() or c.isspace())).strip()


def quote_candidates(comments: Iterable[tuple[str, datetime]]) -> tuple[Quote, ...]:
    """Scrubbed, non-empty, not too long and each once, in the order given, at most MAX_QUOTES."""
    kept: dict[str, Quote] = {}
    for comment, when in comments:
        text = scrub(comment)
        if text and len(text) <= MAX_QUOTE and text not in kept:
            kept[text] = Quote(text=text, rated_at=when.date().isoformat())
        if len(kept) >= MAX_QUOTES:
            break
    return tuple(kept.values())
