"""`newsletter publish DIR`: the static site of every edition that went out, parsed as a reader's
browser and a feed reader would (index order, pages, links between months, the Atom feed), and the
emails' links to their own page when newsletter.archive_url is set."""

from __future__ import annotations

import email
import re
import xml.etree.ElementTree as ET
from email import policy
from html.parser import HTMLParser

import pytest

from tests.fixtures.workspace import BASE_CONFIG

ARCHIVE_URL = "https://news.example.com/it"
ATOM = "{http://www.w3.org/2005/Atom}"
SENT = ["2026-08", "2026-09", "2026-10"]


class Links(HTMLParser):
    """Every <a href>, <img src> and <script> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[tuple[str, str | None]] = []
        self.images: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if tag == "a":
            self.anchors.append((found.get("href") or "", found.get("rel")))
        elif tag == "img":
            self.images.append(found.get("src") or "")
        elif tag == "script":
            self.scripts += 1


def parsed(path) -> Links:
    links = Links()
    links.feed(path.read_text(encoding="utf-8"))
    return links


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The demo workspace with archive_url set, August to October sent, published into `site/`."""
    from tests.fixtures.workspace import demo_workspace

    root = tmp_path_factory.mktemp("publish") / "ws"
    ws = demo_workspace(root)
    ws.config.write_text(ws.config.read_text().replace('state_dir = "state"',
                                                       f'state_dir = "state"\narchive_url = "{ARCHIVE_URL}/"'))
    assert ws.invoke("collect", "--month", "2026-10", "--backfill", "12").exit_code == 0
    for month in SENT:
        result = ws.invoke("run", "--month", month)
        assert result.exit_code == 0, result.output
    result = ws.invoke("publish", str(root.parent / "site"))
    assert result.exit_code == 0, result.output
    return ws, root.parent / "site"


def test_the_index_lists_every_sent_edition_newest_first_with_its_subject(site):
    ws, out = site
    links = [href for href, _ in parsed(out / "index.html").anchors if re.fullmatch(r"\d{4}-\d{2}/", href)]
    assert links == ["2026-10/", "2026-09/", "2026-08/"]
    import json

    html = (out / "index.html").read_text()
    for month in SENT:
        subject = json.loads((ws.state / "archive" / month / "edition.json").read_text())["subject"]
        assert subject.replace("&", "&amp;") in html
    assert "<script" not in html


def test_each_page_shows_every_figure_links_its_neighbours_and_has_its_images(site):
    _, out = site
    for i, month in enumerate(SENT):
        page = out / month / "index.html"
        links = parsed(page)
        assert links.scripts == 0
        rels = {rel: href for href, rel in links.anchors if rel}
        assert rels.get("prev") == (f"../{SENT[i - 1]}/" if i > 0 else None)
        assert rels.get("next") == (f"../{SENT[i + 1]}/" if i + 1 < len(SENT) else None)
        assert ("../", None) in links.anchors
        # the full layout: every chart (help desk, mail, uptime, restores, devices, phishing test; the email's
        # short layout has the help desk's only), percentiles
        assert len([src for src in links.images if src.startswith("images/trend-")]) == 6
        assert all((page.parent / src).is_file() for src in links.images)
        assert "9 in 10 requests solved within" in page.read_text()  # a percentile the short layout leaves out
        # the page itself does not link to itself as "See every number"
        assert "See every number" not in page.read_text()


def test_the_feed_is_atom_with_absolute_links_newest_first(site):
    _, out = site
    feed = ET.parse(out / "feed.xml").getroot()
    assert feed.tag == f"{ATOM}feed"
    entries = feed.findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}link").get("href") for e in entries] == [f"{ARCHIVE_URL}/{m}/" for m in reversed(SENT)]
    assert len({e.findtext(f"{ATOM}id") for e in entries}) == 3
    for entry in entries:
        assert entry.findtext(f"{ATOM}title").startswith("IT in ")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry.findtext(f"{ATOM}updated"))
    assert feed.find(f"{ATOM}link[@rel='self']").get("href") == f"{ARCHIVE_URL}/feed.xml"
    assert feed.find(f"{ATOM}author/{ATOM}name").text


def test_each_email_links_to_its_own_page_and_passes_the_checks(site):
    ws, _ = site
    message = email.message_from_bytes(next((ws.state / "outbox" / "2026-10").glob("*.eml")).read_bytes(),
                                       policy=policy.default)
    html = message.get_body(("html",)).get_content()
    page = f"{ARCHIVE_URL}/2026-10/"
    assert re.search(rf'href="{re.escape(page)}"[^>]*>View in your browser', html)
    assert re.search(rf'href="{re.escape(page)}"[^>]*>See every number', html)
    assert f"See every number: {page}" in message.get_body(("plain",)).get_content()
    result = ws.invoke("check")
    assert result.exit_code == 0, result.output
    assert "0 warnings" in result.output


def test_without_archive_url_the_feed_links_are_relative_and_emails_have_no_page_link(workspace, tmp_path):
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    assert workspace.invoke("run", "--month", "2026-10").exit_code == 0
    assert workspace.invoke("publish", str(tmp_path / "site")).exit_code == 0
    feed = ET.parse(tmp_path / "site" / "feed.xml").getroot()
    assert [e.find(f"{ATOM}link").get("href") for e in feed.findall(f"{ATOM}entry")] == ["2026-10/"]
    assert feed.findtext(f"{ATOM}id").startswith("urn:")
    sent = next((workspace.state / "outbox" / "2026-10").glob("*.eml")).read_text()
    assert "View in your browser" not in sent and "See every number" not in sent


def test_nothing_sent_is_nothing_to_publish(workspace, tmp_path):
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    assert workspace.invoke("preview", "--month", "2026-10", "--output", str(tmp_path / "d.html")).exit_code == 0
    result = workspace.invoke("publish", str(tmp_path / "site"))
    assert result.exit_code == 3
    assert "nothing to publish" in result.output


def test_a_file_in_place_of_the_folder_is_a_clear_error(site, tmp_path):
    ws, _ = site
    (tmp_path / "taken").write_text("x")
    result = ws.invoke("publish", str(tmp_path / "taken"))
    assert result.exit_code == 2  # the command's argument is the mistake
    assert "is not a folder" in result.output
    result = ws.invoke("publish", str(tmp_path / "taken" / "site"))  # a folder that cannot be made
    assert result.exit_code == 1 and "cannot write the site there" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("url", ["news.example.com", "javascript:alert(1)", "https://", "https://a b/"])
def test_a_bad_archive_url_is_a_config_error(workspace, url):
    text = workspace.config.read_text().replace('state_dir = "state"', f'state_dir = "state"\narchive_url = "{url}"')
    workspace.config.write_text(text)
    result = workspace.invoke("check")
    assert result.exit_code == 2
    assert "newsletter.archive_url" in result.output


PAGE_FACTS = """JSON.stringify({scroll: document.scrollingElement.scrollWidth, viewport: window.innerWidth,
  scripts: document.scripts.length,
  images: Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])})"""


@pytest.mark.integration
@pytest.mark.slow
def test_the_site_reads_on_a_phone_in_chromium(site, browser):
    """At 375 px no page scrolls sideways and every image loads (screenshots in test-artifacts/browser/)."""
    import json

    _, out = site
    for path in [out / "index.html", *(out / month / "index.html" for month in SENT)]:
        page = browser.new_page(width=375, height=667)
        try:
            page.navigate(path.as_uri())
            facts = json.loads(page.evaluate(PAGE_FACTS))
            name = "index" if path.parent == out else path.parent.name
            page.screenshot(f"site-{name}-375px")
        finally:
            page.close()
        assert facts["viewport"] == 375
        assert facts["scroll"] <= 375, f"{path}: {facts['scroll']} px wide at 375 px"
        assert facts["scripts"] == 0
        assert all(loaded for _, loaded in facts["images"]), f"{path}: {facts['images']}"
        if name != "index":
            assert len(facts["images"]) >= 3


def test_per_person_fields_are_filled_in_for_nobody_in_particular_on_the_site(workspace, tmp_path):
    """The archive keeps [[ ]] and [% %] as written (a later run fills them in for each person); the
    public site must show neither the syntax nor a part meant for some people only."""
    workspace.configure(base=BASE_CONFIG.replace('state_dir = "state"', 'state_dir = "state"\ntheme = "brand"'))
    workspace.write("templates/brand/subject.txt.j2", '[[ recipient.name or "colleague" ]], here is {{ title }}')
    workspace.write("templates/brand/newsletter.mjml.j2", '{% extends "default:newsletter.mjml.j2" %}'
                    '{% block header %}<mj-section><mj-column><mj-text>Hello [[ recipient.name or "colleague" ]]'
                    ' [% if recipient.name == "Ann" %]Only for Ann[% endif %]</mj-text></mj-column>'
                    '</mj-section>{% endblock %}')
    assert workspace.invoke("run", "--month", "2026-10").exit_code == 0
    result = workspace.invoke("publish", str(tmp_path / "site"))
    assert result.exit_code == 0, result.output
    pages = [(tmp_path / "site" / name).read_text() for name in ("index.html", "feed.xml", "2026-10/index.html")]
    for page in pages:
        assert "[[" not in page and "[%" not in page and "[\u200b" not in page and "Only for Ann" not in page
    assert "colleague, here is" in pages[0] and "Hello colleague" in pages[2]
    assert "<title>colleague, here is" in pages[2]  # the page's title: the subject for nobody in particular


@pytest.mark.parametrize("damage", ["{}", "[1]", "not json"])
def test_an_archive_edited_or_damaged_is_one_line_naming_it(workspace, tmp_path, damage):
    assert workspace.invoke("run", "--month", "2026-10").exit_code == 0
    meta = workspace.state / "archive" / "2026-10" / "edition.json"
    meta.write_text(damage)
    result = workspace.invoke("publish", str(tmp_path / "site"))
    assert result.exit_code == 1 and f"{meta}: cannot read the archived edition" in result.stderr
    assert "Traceback" not in result.output


def test_an_edition_that_went_out_without_its_archive_is_said_not_left_out_silently(workspace, tmp_path):
    import shutil

    assert workspace.invoke("run", "--month", "2026-10").exit_code == 0
    shutil.rmtree(workspace.state / "archive" / "2026-10")
    result = workspace.invoke("publish", str(tmp_path / "site"))
    assert "edition 2026-10 went out but its archive" in result.stderr and "restore it from a backup" in result.stderr
