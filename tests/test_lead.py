"""The lead story (compose/lead.py): the month's main highlight leads the email, its title is the
headline and the subject carries it; a `Lead:` marker chooses another; its photo beside the
highlights file is resized to the content width at 2x, sent inside the email, described."""

from __future__ import annotations

import email
import email.policy
import io
import json

from PIL import Image

from newsletter.compose.pictures import CONTENT_WIDTH, LEAD_PIXELS
from tests.test_compose_input import use_theme

HIGHLIGHTS = "sources/highlights/2026-10.md"


def photo(width: int, height: int, fmt: str = "JPEG") -> bytes:
    """A camera-like picture, with a place it was taken in its metadata."""
    image = Image.new("RGB", (width, height), "#1f4e79")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {2: (52.0, 31.0, 12.0)}  # GPS: latitude
    out = io.BytesIO()
    image.save(out, fmt, exif=exif) if fmt == "JPEG" else image.save(out, fmt)
    return out.getvalue()


def draft(workspace, tmp_path) -> dict:
    result = workspace.invoke("preview", "--month", "2026-10", "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def sent(workspace) -> email.message.EmailMessage:
    assert workspace.invoke("run", "--month", "2026-10").exit_code == 0
    [eml] = (workspace.state / "outbox" / "2026-10").glob("*.eml")
    return email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)


def test_the_first_highlight_leads_and_the_subject_carries_it(workspace, tmp_path):
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    story = draft(workspace, tmp_path)
    assert story["lead"]["title"] == "We moved the datacenter" and story["lead"]["photo"] is None
    assert story["subject"].startswith("IT in October: We moved the datacenter · ")
    assert len(story["subject"]) <= 80
    message = sent(workspace)
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert html.index("We moved the datacenter") < html.index("What we shipped") < html.index("New laptops")
    assert html.count("We moved the datacenter") == 3  # <title>, the preview text (the subject) and the headline
    assert "We moved the datacenter\n-----------------------\nOver the weekend" in text
    assert "* We moved the datacenter" not in text  # led, not listed again


def test_a_marked_highlight_leads_instead_and_its_marker_is_not_shown(workspace, tmp_path):
    workspace.write(HIGHLIGHTS, "## New laptops\nFor sales.\n\n## LEAD: We moved the datacenter\nAll of it.\n\n"
                                "# Thanks\n## Lead: To facilities\nFor the stairs.\n")
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    story = draft(workspace, tmp_path)
    assert story["lead"] == {"title": "We moved the datacenter", "text": "All of it.", "photo": None}
    text = sent(workspace).get_body(("plain",)).get_content()
    assert "* New laptops" in text and "* To facilities" in text  # the first marked leads; the rest are listed
    assert "Lead:" not in text and "LEAD:" not in text


def test_the_lead_photo_is_resized_sent_inside_and_described(workspace, tmp_path):
    (workspace.root / "sources/highlights/move.jpg").write_bytes(photo(4000, 3000))
    workspace.write(HIGHLIGHTS, "## We moved the datacenter\n![The new racks in Frankfurt](move.jpg)\n"
                                "Every server moved.\n")
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    assert draft(workspace, tmp_path)["lead"]["photo"] == {
        "file": "move.jpg", "alt": "The new racks in Frankfurt", "width": CONTENT_WIDTH, "height": 414}
    message = sent(workspace)
    html = message.get_body(("html",)).get_content()
    [part] = [p for p in message.walk() if p["Content-ID"] and "lead-" in p["Content-ID"]]
    assert part.get_content_type() == "image/jpeg"
    with Image.open(io.BytesIO(part.get_content())) as sent_photo:
        assert sent_photo.size == (LEAD_PIXELS, 828)  # the content width at 2x, in proportion
        assert not sent_photo.getexif()  # where and with what it was taken stays at home
    cid = part["Content-ID"].strip("<>")
    assert 'alt="The new racks in Frankfurt"' in html and f'src="cid:{cid}"' in html
    assert html.index("We moved the datacenter</div>") < html.index(f"cid:{cid}") < html.index("Every server moved.")
    assert "move.jpg" not in message.get_body(("plain",)).get_content()


def test_a_small_lead_photo_is_shown_at_its_own_width(workspace):
    (workspace.root / "sources/highlights/team.png").write_bytes(photo(300, 200, "PNG"))
    workspace.write(HIGHLIGHTS, "## Our new colleague\n![Sam at the help desk](team.png)\nSay hello.\n")
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    message = sent(workspace)
    [part] = [p for p in message.walk() if p["Content-ID"] and "lead-" in p["Content-ID"]]
    assert part.get_content_type() == "image/png"
    assert 'alt="Sam at the help desk"' in message.get_body(("html",)).get_content()
    assert 'width="300"' in message.get_body(("html",)).get_content()


def test_a_lead_photo_without_a_description_blocks_the_send_and_says_how(workspace, tmp_path):
    (workspace.root / "sources/highlights/move.jpg").write_bytes(photo(800, 600))
    workspace.write(HIGHLIGHTS, "## We moved the datacenter\n![](move.jpg)\nEvery server moved.\n")
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    result = workspace.invoke("run", "--month", "2026-10")
    assert result.exit_code == 2
    assert (f'{HIGHLIGHTS} ("We moved the datacenter"): lead photo \'move.jpg\' has no description: write what it '
            "shows between the brackets, ![The new server room](move.jpg)") in result.stderr
    assert not (workspace.state / "outbox" / "2026-10").exists()


def test_a_lead_photo_that_is_no_picture_is_refused(workspace):
    (workspace.root / "sources/highlights/move.jpg").write_text("not a picture")
    workspace.write(HIGHLIGHTS, "## We moved the datacenter\n![The racks](move.jpg)\n")
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    result = workspace.invoke("run", "--month", "2026-10")
    assert result.exit_code == 2 and "'move.jpg' is not a PNG, JPEG or GIF picture" in result.stderr


def test_a_lead_title_too_long_for_the_subject_leaves_it_to_the_numbers(workspace, tmp_path):
    title = "We moved every single server of the company to the new datacenter in Frankfurt"
    workspace.write(HIGHLIGHTS, f"## {title}\nAll of it.\n")
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    story = draft(workspace, tmp_path)
    assert story["lead"]["title"] == title
    assert story["subject"].startswith("IT in October: ") and title not in story["subject"]
    assert len(story["subject"]) <= 80 and story["subject"] != "IT in October: "


def test_without_the_lead_section_every_highlight_stays_where_it_was_written(workspace, tmp_path):
    use_theme(workspace, "default")
    workspace.configure().write_text(workspace.config.read_text().replace(
        'state_dir = "state"', 'state_dir = "state"\nsections = ["hero", "highlights"]'))
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    story = draft(workspace, tmp_path)
    assert story["lead"] is None and not story["subject"].startswith("IT in October: We moved")
    text = sent(workspace).get_body(("plain",)).get_content()
    assert "* We moved the datacenter" in text and "* New laptops for the sales team" in text


def test_the_year_in_review_shows_each_lead_with_its_photo_resized(tmp_path):
    from newsletter.compose.render import Renderer, Theme
    from newsletter.compose.yearly import build_year_context
    from newsletter.model import SourceResult
    from tests.test_yearly import EXTRA, YEAR, month_of, stored

    folder = tmp_path / "highlights"
    folder.mkdir()
    out = io.BytesIO()
    Image.effect_noise((3000, 2000), 40).convert("RGB").save(out, "JPEG", quality=92)
    (folder / "move.jpg").write_bytes(out.getvalue())
    assert len(out.getvalue()) > 1024 * 1024  # a camera's original: more than a picture in a highlight may be
    months = stored([40_000] * 12, [400] * 12)
    months["2026-10"] = [*month_of(400, 40_000), SourceResult.ok("highlights", "highlights", "highlights", {
        "file": str(folder / "2026-10.md"), "items": [
            {"title": "New laptops", "body": "For sales.", "section": "highlights"},
            {"title": "Lead: We moved the datacenter", "body": "![The racks](move.jpg)\nAll of it.",
             "section": "highlights"}]})]
    context = build_year_context(YEAR, months, EXTRA)
    assert [item["title"] for item in context["year_highlights"]] == ["We moved the datacenter", "New laptops"]
    assert context["markdown_refused"] == []
    newsletter = Renderer(Theme(tmp_path / "none", "default")).render("2026", context, edition="year")
    [image] = [i for i in newsletter.images if i.cid.startswith("lead-")]
    assert f'src="cid:{image.cid}"' in newsletter.html and 'alt="The racks"' in newsletter.html
    with Image.open(io.BytesIO(image.data)) as sent_photo:
        assert sent_photo.width == LEAD_PIXELS
