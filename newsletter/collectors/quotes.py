"""Satisfaction comments as quote candidates for "What colleagues said".

A help desk that keeps the comment people leave with a good rating offers the month's comments
to the preview, where a person may pick some for the highlights file. Nothing here reaches the
email by itself. What is kept of a comment is its words and its day: never the requester's id,
name or address, nor the ticket, and the e-mail addresses, phone numbers and ticket numbers written
in the words themselves are replaced by "…" (names in free text cannot be told apart reliably: the
person who picks a quote reads it first). A comment written as HTML keeps its text, without the tags.

Where the comment is kept with each ticket (Jira Service Management's feedback, Freshservice's
CSAT response), reading it costs one request per ticket: `FeedbackReader` bounds those requests
and says, as warnings, which comments were not read and why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime, tzinfo
from html.parser import HTMLParser
from typing import Any, TypeVar

from newsletter.results import Quote, TicketStats

MAX_QUOTE = 600  # characters; a longer comment is a letter, not a quote
MAX_QUOTES = 200  # candidates kept per month: a page a person can read
MAX_RAW = 20_000  # characters of a comment as sent (HTML included) worth reading at all
MAX_DAY = 40  # characters of a quote's rated_at: a day, or a plugin's ISO time with its offset
T = TypeVar("T")  # what comes with a comment: its time, or a plugin's rated_at
MAX_FEEDBACK_REQUESTS = 500  # per source and month: the requests made for quotes alone, one per ticket
# Begun only where the address can begin: otherwise every letter of a long word would start a
# search to its end, and a comment of 20,000 letters would take seconds.
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_TICKET = re.compile(r"(?i)(?:\b(?:ticket|request|case|incident|inc|req)\s*(?:no\.?|number|nr\.?)?\s*#?\s*\d+)|#\d+")
_KEY = re.compile(r"#?\b[A-Z][A-Z0-9_]{1,9}-\d+\b")  # an issue key or display id: IT-42, INC-4711, SR-12
_SPACE = re.compile(r"\s+")
# A phone number: digits in groups split by a space, "-", "/" or parentheses, 7 to 15 of them, maybe
# after "+" or "00". Dots do not split one, so dates (12.10.2026), versions and addresses stay.
# Bounded in length, so that a long run of digits and dashes costs no more than a short one.
_PHONE = re.compile(r"(?<![\w+])(?:\+|\b00)?\(?\d[\d ()/-]{5,24}\d(?![\w/-])")
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}|(?:19|20)\d\d ?[-/] ?(?:19|20)\d\d")
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|.)?")  # a terminal's: colours, titles
_MARKUP = re.compile(r"</?[A-Za-z][^<>]*>|<!--|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]+);")


class _Text(HTMLParser):
    """The text of an HTML fragment: tags dropped (a block one leaves a space), entities decoded,
    the contents of script and style left out."""

    HIDDEN = frozenset({"script", "style", "head", "title", "template"})
    BLOCK = frozenset({"p", "div", "br", "li", "ul", "ol", "tr", "td", "th", "table", "blockquote", "pre",
                       "h1", "h2", "h3", "h4", "h5", "h6", "hr", "section", "article"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(self.hidden - 1, 0)
        elif tag in self.BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def plain_text(comment: str) -> str:
    """The comment's text: HTML (a tag or an entity in it) read as HTML, anything else as it is,
    so "I <3 IT" and "a < b" stay whole."""
    if not _MARKUP.search(comment):
        return comment
    parser = _Text()
    parser.feed(comment)
    parser.close()
    return "".join(parser.parts)


def scrub(text: str) -> str:
    """The comment's text with e-mail addresses, ticket numbers ("#4711", "ticket 4711", keys
    such as "IT-42" or "INC-4711") and phone numbers replaced by "…", on one line, without control
    characters or terminal escape sequences. Those go first: a zero-width space or a soft hyphen
    inside an address (pasted text has them) would otherwise hide it from the scrubbing, then
    vanish and leave it whole."""
    text = _ESCAPE.sub("", plain_text(text))
    # On one line first: _TICKET's runs of optional blanks, over thousands of them, would take minutes.
    text = _SPACE.sub(" ", "".join(c for c in text if c.isprintable() or c.isspace()))
    text = _EMAIL.sub("…", text)
    text = _KEY.sub("…", _TICKET.sub("…", text))
    return _PHONE.sub(_phone, text).strip()


def _phone(match: re.Match[str]) -> str:
    """"…" for a phone number; a date or a short count of digits as it was."""
    found = match[0]
    digits = sum(c.isdigit() for c in found)
    return found if not 7 <= digits <= 15 or _DATE.fullmatch(found.strip()) else "…"


def quote_candidates(comments: Iterable[tuple[str, datetime]], zone: tzinfo | None = None) -> tuple[Quote, ...]:
    """Scrubbed, non-empty, not too long and each once, in the order given, at most MAX_QUOTES.
    The day is the one in `zone` (the month's time zone) when given."""
    return tuple(Quote(text=text, rated_at=(when.astimezone(zone) if zone is not None else when).date().isoformat())
                 for text, when in _worth_quoting(comments))


def _worth_quoting(comments: Iterable[tuple[str, T]]) -> Iterator[tuple[str, T]]:
    """(scrubbed text, what came with it) for each comment worth quoting: scrubbed, non-empty, not too
    long and each once, in the order given, at most MAX_QUOTES."""
    seen: set[str] = set()
    for comment, given in comments:
        text = scrub(comment) if len(comment) <= MAX_RAW else ""
        if text and len(text) <= MAX_QUOTE and text not in seen:
            seen.add(text)
            yield text, given
            if len(seen) >= MAX_QUOTES:
                return


def bounded(metrics: dict[str, Any]) -> dict[str, Any]:
    """A ticketing result's JSON form with its quotes held to what `quote_candidates` keeps, so a
    plugin's own cannot put a colleague's address or a megabyte of comment into the preview and the
    highlights file: scrubbed, non-empty, not too long, each once, at most MAX_QUOTES; a rated_at
    that is no day or ISO time is left empty (no day is made up, nor other words kept there)."""
    given = metrics.get("quotes")
    if not isinstance(given, list):
        return metrics
    readable = ((quote["text"], quote["rated_at"]) for quote in given
                if isinstance(quote, dict) and all(isinstance(quote.get(k), str) for k in ("text", "rated_at")))
    kept = [{"text": text, "rated_at": _day(rated_at)} for text, rated_at in _worth_quoting(readable)]
    rest = {key: value for key, value in metrics.items() if key != "quotes"}
    return {**rest, "quotes": kept} if kept else rest


def _day(text: str) -> str:
    """`text` when it is a day or an ISO time ('2026-10-02T16:40:00+02:00'), else ""."""
    if len(text) > MAX_DAY:
        return ""
    try:
        datetime.fromisoformat(text.strip())
    except ValueError:
        return ""
    return text.strip()


def above_middle(rating: Any, top: Any, bottom: int = 1) -> bool | None:
    """Whether a rating on the scale bottom..top lies above its middle: 4 and 5 of 1-5, 3 and 4 of
    1-4, 2 of 1-2 (the middle of an odd scale is neutral, not good). None when either is no number
    or the rating is off the scale."""
    numbers = (rating, top)
    if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers) or not bottom < top:
        return None
    if not bottom <= rating <= top:
        return None
    return rating - bottom > (top - bottom) / 2


class FeedbackReader:
    """The comments read one ticket at a time for one collection: at most `cap` requests made for
    quotes alone, the tickets whose feedback was refused counted, and both said as warnings."""

    def __init__(self, vendor: str, cap: int | None = None) -> None:
        self.vendor = vendor
        self.cap = MAX_FEEDBACK_REQUESTS if cap is None else cap
        self.asked = 0
        self.skipped = 0  # tickets not asked: the cap was reached
        self.refused: dict[int, int] = {}  # HTTP status -> tickets whose feedback it refused
        self.comments: list[tuple[str, datetime]] = []

    def may_ask(self) -> bool:
        """True while under the cap (and counts the request); False, counted as skipped, after it."""
        if self.asked >= self.cap:
            self.skipped += 1
            return False
        self.asked += 1
        return True

    def refuse(self, status: int) -> None:
        """One ticket's feedback was refused (403): that ticket's comment is lost, nothing else."""
        self.refused[status] = self.refused.get(status, 0) + 1

    def keep(self, comment: Any, when: datetime) -> None:
        if isinstance(comment, str) and comment.strip():
            self.comments.append((comment, when))

    def warnings(self) -> list[str]:
        said = [f"{self.vendor} refused the feedback of {count} ticket{'s' if count != 1 else ''} ({status}): "
                "that feedback is left out (no quote candidate from it); check the account's "
                "permission to view those requests" for status, count in sorted(self.refused.items())]
        if self.skipped:
            said.append(f"quotes: the feedback of the first {self.cap} resolved tickets was read, not of the "
                        f"{self.skipped} after them (at most {self.cap} requests a month)")
        return said

    def added_to(self, stats: TicketStats, zone: tzinfo | None = None) -> TicketStats:
        """`stats` with the quotes read and these warnings."""
        return replace(stats, quotes=quote_candidates(self.comments, zone),
                       warnings=(*stats.warnings, *self.warnings()))
