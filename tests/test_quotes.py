"""The shared sanitizing of quote candidates (collectors/quotes.py) on hostile and ordinary text,
and what counts as a good rating on each scale."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from newsletter.collectors.quotes import MAX_QUOTE, above_middle, quote_candidates, scrub

WHEN = datetime(2026, 10, 9, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("comment", "kept"), [
    ("I <3 IT, and a < b > c", "I <3 IT, and a < b > c"),  # no markup: as written
    ("<div>Fast</div><div>and kind</div>", "Fast and kind"),
    ("<b>Fa</b>st &amp; kind&nbsp;&#x1F44D;", "Fast & kind \U0001F44D"),
    ("Thanks<script>document.location='https://evil.example'</script><style>p{}</style>!", "Thanks!"),
    ('<img src=x onerror="alert(1)">Great <a href="javascript:alert(1)">help</a>', "Great help"),
    ("<!-- a note -->Nice", "Nice"),
    ("Bell\x07, null\x00, escape \x1b[1;31mred\x1b[0m \x1b]0;title\x07done", "Bell, null, escape red done"),
    ("right-to-left \u202eoverride\u202c and zero\u200bwidth", "right-to-left override and zerowidth"),
    ("Ask IT-42 or INC-4711 or #SR-12 or ticket 99, not COVID19", "Ask … or … or … or …, not COVID19"),
])
def test_scrub(comment, kept):
    assert scrub(comment) == kept


def test_huge_and_empty_comments_are_no_candidates():
    comments = [("x" * (MAX_QUOTE + 1), WHEN), ("<p>" + "y" * 50 + "</p>" + " " * 10_000_000, WHEN),
                ("<p>\n</p>", WHEN), ("\x00\x01", WHEN), ("z" * MAX_QUOTE, WHEN)]
    assert [q.text for q in quote_candidates(comments)] == ["z" * MAX_QUOTE]


@pytest.mark.parametrize(("rating", "top", "good"), [
    (5, 5, True), (4, 5, True), (3, 5, False), (1, 5, False), (4, 4, True), (3, 4, True), (2, 4, False),
    (2, 2, True), (1, 2, False), (3, 3, True), (2, 3, False), (5, 7, True), (4, 7, False),
    (6, 5, None), (0, 5, None), (True, 5, None), ("5", 5, None), (None, 5, None), (1, 1, None),
])
def test_above_middle(rating, top, good):
    assert above_middle(rating, top) is good
