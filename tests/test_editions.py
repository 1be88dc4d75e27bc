"""Charts, preview copies, archived images and the year in review, through the CLI."""

from __future__ import annotations

import email
import json
import subprocess
import sys
from datetime import UTC, datetime
from email import policy

import pytest
from PIL import Image

from newsletter.compose.charts import SCALE, WIDTH
from newsletter.workspace import Workspace

AFTER_2026 = datetime(2027, 1, 4, 7, 0, tzinfo=UTC)
FIRST_OF_DECEMBER = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


@pytest.fixture
def clock(clock):
    """The workspace clock of every command (tests/fixtures/workspace.py), after 2026 unless set."""
    clock.now = AFTER_2026
    return clock


@pytest.fixture
def collected(workspace):
    result = workspace.invoke("collect", "--month", "2026-10", "--backfill", "12")
    assert result.exit_code == 0, result.output
    return workspace


def test_preview_writes_images_beside_the_html_and_rewrites_cid_urls(collected, tmp_path):
    out = tmp_path / "draft.html"
    result = collected.invoke("preview", "--month", "2026-10", "--output", str(out))
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "cid:" not in html
    images = sorted(p.name for p in (tmp_path / "draft_images").iterdir())
    assert images == ["trend-resolved.png"]  # the short layout's one chart (the full layout draws all three)
    assert 'src="draft_images/trend-resolved.png"' in html
    with Image.open(tmp_path / "draft_images" / "trend-resolved.png") as image:
        assert image.format == "PNG" and image.width == WIDTH * SCALE  # drawn at 2x
        assert image.convert("RGB").getpixel((2, 2)) == (255, 255, 255)  # exactly the card behind it
    assert f'width="{WIDTH}"' in html
    assert 'alt="Requests resolved per month, November 2025 to October 2026: ' in html


def test_the_email_carries_charts_inline_and_says_the_trend_in_words(collected, tmp_path):
    out = tmp_path / "draft.eml"
    assert collected.invoke("preview", "--month", "2026-10", "--format", "eml", "--output", str(out)).exit_code == 0
    message = email.message_from_bytes(out.read_bytes(), policy=policy.default)
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    related = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert len(related) == 1  # the short layout shows the help desk's trend only
    for part in related:
        assert f'src="cid:{part["Content-ID"].strip("<>")}"' in html
    assert "Requests resolved per month, November 2025 to October 2026:" in text
    assert "Uptime per month" not in text


def test_a_resumed_send_reuses_the_archived_images(collected):
    assert collected.invoke("run", "--month", "2026-10").exit_code == 0
    folder = collected.state / "archive" / "2026-10"
    meta = json.loads((folder / "edition.json").read_text())
    assert len(meta["images"]) == 1
    assert (folder / "view.html").read_text().count("images/trend-") == 1
    from newsletter.archive import load_archive
    from newsletter.period import Month

    ws = Workspace.open(config_path=str(collected.config))
    reloaded = load_archive(ws, Month(2026, 10, ws.config.tz))
    assert reloaded.content_hash == meta["content_hash"]


def test_no_imaging_library_without_charts(collected, tmp_path):
    config = collected.config.read_text().replace('state_dir = "state"',
                                                  'state_dir = "state"\nsections = ["hero", "ticketing"]')
    collected.config.write_text(config)
    script = ("import sys; from newsletter.cli import cli\n"
              f"cli(['preview', '--config', {str(collected.config)!r}, '--month', '2026-10', '--output', "
              f"{str(tmp_path / 'x.html')!r}], standalone_mode=False)\n"
              "assert 'PIL' not in sys.modules, 'Pillow imported without a chart'\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "cid:" not in (tmp_path / "x.html").read_text()


def test_year_in_review(collected, clock, tmp_path):
    out = tmp_path / "year.txt"
    result = collected.invoke("preview", "--year", "2026", "--format", "text", "--output", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith("IT in 2026: the year in review\n")
    assert "Over 10 months, January to October 2026:" in text
    assert "requests resolved; most in September 2026" in text
    assert "Records we set:\n- " in text and "Most requests resolved in a year: 550 (September 2026)" in text
    assert "WHAT WE SHIPPED THIS YEAR" in text and "* We moved the datacenter (October 2026)" in text
    assert "(IT in 2026: " in result.output
    sent = collected.invoke("run", "--year", "2026")
    assert sent.exit_code == 0, sent.output
    assert list((collected.state / "outbox" / "2026").glob("*.eml"))
    assert collected.invoke("run", "--year", "2026").exit_code == 3


def test_year_and_month_usage_errors(collected, tmp_path):
    both = collected.invoke("preview", "--year", "2026", "--month", "2026-10", "--output", str(tmp_path / "x"))
    assert both.exit_code == 2 and "not both" in both.output
    bad = collected.invoke("preview", "--year", "26", "--output", str(tmp_path / "x"))
    assert bad.exit_code == 2 and "--year: expected a year as YYYY" in bad.output
    empty = collected.invoke("preview", "--year", "2019", "--output", str(tmp_path / "x"))
    assert empty.exit_code == 1 and "nothing collected for 2019" in empty.output


def test_a_year_not_over_is_previewed_as_so_far_and_sent_only_with_force(collected, clock, tmp_path):
    """On 1 December the months so far are January to October here (collected up to October)."""
    clock.now = FIRST_OF_DECEMBER
    out = tmp_path / "year.txt"
    result = collected.invoke("preview", "--year", "2026", "--format", "text", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert "January to October 2026 so far; the year is not over." in out.read_text()
    for command in (["send", "--year", "2026"], ["run", "--year", "2026"]):
        refused = collected.invoke(*command)
        assert refused.exit_code == 3, refused.output
        assert ("the year in review of 2026 is not sent before the year is over (on 2027-01-01); "
                "to send the months so far anyway, add --force") in refused.output
        assert not (collected.state / "outbox" / "2026").exists()
        assert collected.state.joinpath("archive", "2026").exists() is False
    sent = collected.invoke("run", "--year", "2026", "--force")
    assert sent.exit_code == 0, sent.output
    assert list((collected.state / "outbox" / "2026").glob("*.eml"))
