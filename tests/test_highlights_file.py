"""The highlights file as it may be found: far too large, or no regular file at all (a pipe, a
device), which must fail the source with the file named instead of filling memory or waiting forever."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from newsletter.collectors.highlights import Highlights, HighlightsSettings
from newsletter.errors import SourceError, SourceSkipped
from newsletter.period import Month

OCTOBER = Month(2026, 10)


def collect(folder: Path):
    return Highlights(HighlightsSettings(dir=folder), name="highlights").collect(OCTOBER)


def test_a_file_far_larger_than_any_email_is_refused_naming_it(tmp_path):
    (tmp_path / "2026-10.md").write_text("## Printers\n" + "All work. " * 300_000)  # 3 MB
    with pytest.raises(SourceError, match=r"2026-10\.md: 2\.86 MB is far more than a month's highlights "
                                          r"\(at most 1 MB\)"):
        collect(tmp_path)


@pytest.mark.parametrize("text", ["", "  \n\t\r\n\n", "\ufeff"])
def test_an_empty_file_is_no_highlights_written_and_skipped_not_failed(tmp_path, text):
    (tmp_path / "2026-10.md").write_text(text, encoding="utf-8", newline="")  # created ahead, not yet written
    with pytest.raises(SourceSkipped, match=r"^no highlights written \(.*2026-10\.md is empty\)$"):
        collect(tmp_path)
    (tmp_path / "2026-10.md").write_text("# Thanks\nTo everyone.\n")  # written, but no item: a mistake
    with pytest.raises(SourceError, match=r"has no '## Title' items"):
        collect(tmp_path)


def test_a_month_of_highlights_of_a_normal_size_reads():
    # the limit leaves room: an email is at most 102 KB
    assert Highlights(HighlightsSettings(dir=Path(__file__).parent.parent / "sources" / "highlights"),
                      name="highlights").collect(OCTOBER).items


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_named_pipe_in_place_of_the_file_fails_instead_of_waiting(tmp_path):
    os.mkfifo(tmp_path / "2026-10.md")
    outcome: list[BaseException | object] = []
    worker = threading.Thread(target=lambda: outcome.append(_attempt(tmp_path)), daemon=True)
    worker.start()
    worker.join(5)
    if worker.is_alive():  # unblock the reader so the test run can end
        with open(tmp_path / "2026-10.md", "wb"):
            pass
        pytest.fail("reading the highlights waited on a named pipe")
    [error] = outcome
    assert isinstance(error, SourceError) and "2026-10.md: not a regular file" in str(error)


def _attempt(folder: Path) -> BaseException | object:
    try:
        return collect(folder)
    except SourceError as exc:
        return exc


def test_a_heading_with_a_long_run_of_spaces_is_read_at_once():
    """A line of a generated or pasted file may hold thousands of spaces: reading its title must not
    take a time that grows with their square (tens of seconds for one such line, hours for a file)."""
    from newsletter.collectors.highlights import parse_highlights

    started = time.monotonic()
    spaces = " " * 30_000
    items = parse_highlights(f"## Printers{spaces}on every floor ##\nAll work.\n# Thanks{spaces}\n")
    assert time.monotonic() - started < 2
    assert [(item.title.split(), item.body) for item in items] == [(["Printers", "on", "every", "floor"], "All work.")]


@pytest.mark.parametrize(("line", "title"), [
    ("## Training for C#", "Training for C#"), ("## Moved the datacenter ##", "Moved the datacenter"),
    ("## F# and C# ###", "F# and C#"), ("## ###", "###"), ("##\tTabbed  ", "Tabbed"), ("## a ## b", "a ## b"),
])
def test_a_title_keeps_its_own_hashes_and_loses_the_closing_ones(line, title):
    from newsletter.collectors.highlights import parse_highlights

    assert [item.title for item in parse_highlights(line + "\nbody\n")] == [title]
