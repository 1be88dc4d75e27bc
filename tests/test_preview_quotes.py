"""Picking a colleague's quote in the live preview: POST /quote adds it to the month's highlights file
under "What colleagues said", behind the same token, Origin and CSRF checks as the other actions."""

from __future__ import annotations

import re
import time

import pytest

from newsletter.collectors.highlights import parse_highlights
from tests.test_preview import Running

QUOTE = "Fixed my VPN in ten minutes while I was on a call with a customer."


@pytest.fixture
def running(workspace):
    config = workspace.root / "sources" / "helpdesk.toml"
    config.write_text(config.read_text(encoding="utf-8") + "quotes = true\n", encoding="utf-8")
    server = Running(workspace)
    yield server
    server.stop()


def highlights(running) -> str:
    return (running.workspace.root / "sources" / "highlights" / "2026-10.md").read_text(encoding="utf-8")


def candidate(running, text: str = QUOTE) -> dict:
    status, draft = running.request("GET", "/draft.json")
    assert status == 200
    return next(q for q in draft["quotes"] if q["text"] == text)


def test_a_picked_quote_lands_in_the_highlights_under_its_heading(running):
    before = highlights(running)
    assert "What colleagues said" not in before
    quote = candidate(running)
    assert quote["source"] == "helpdesk" and set(quote) == {"id", "source", "text", "rated_at"}
    version = running.previewer.draft.version
    status, body = running.post("/quote", {"id": quote["id"]})
    assert status == 200 and body["ok"], body
    after = highlights(running)
    assert after.startswith(before.rstrip()) and after.endswith(f"# What colleagues said\n\n"
                                                                f"## A colleague, 9 October\n\n> {QUOTE}\n")
    assert running.previewer.draft.version > version  # the page shows the edition with it
    assert QUOTE in running.previewer.draft.newsletter.html
    # a second quote joins the same section; the same one again is not added twice
    other = candidate(running, "Patient and friendly, even though I forgot my password twice in one week.")
    assert running.post("/quote", {"id": other["id"]})[0] == 200
    status, body = running.post("/quote", {"id": quote["id"]})
    assert status == 200 and "already" in body["message"]
    text = highlights(running)
    assert text.count("# What colleagues said") == 1 and text.count(QUOTE) == 1
    items = [i for i in parse_highlights(text) if i.section == "what_colleagues_said"]
    assert [i.title for i in items] == ["A colleague, 9 October", "A colleague, 17 October"]


def test_a_quote_goes_at_the_end_of_an_existing_section(running):
    path = running.workspace.root / "sources" / "highlights" / "2026-10.md"
    path.write_text("## Lead: We moved\n\nAll of it.\n\n# What colleagues said\n\n## Earlier\n\n> Nice\n\n"
                    "# Thanks\n\n## Facilities\n\nFor the van.\n", encoding="utf-8")
    time.sleep(0.1)
    assert running.post("/quote", {"id": candidate(running)["id"]})[0] == 200
    assert highlights(running) == ("## Lead: We moved\n\nAll of it.\n\n# What colleagues said\n\n## Earlier\n\n"
                                   f"> Nice\n\n## A colleague, 9 October\n\n> {QUOTE}\n\n# Thanks\n\n"
                                   "## Facilities\n\nFor the van.\n")


def test_quotes_are_refused_without_token_csrf_or_own_origin(running):
    quote = candidate(running)
    before = highlights(running)
    refused = [
        running.post("/quote", {"id": quote["id"]}, token=None),
        running.post("/quote", {"id": quote["id"]}, token="guess"),
        running.post("/quote", {"id": quote["id"]}, **{"X-CSRF-Token": "guess"}),
        running.post("/quote", {"id": quote["id"]}, Origin="http://evil.example"),
        running.request("POST", "/quote", {"id": quote["id"]}, {"Origin": f"http://{running.host}"}),  # no CSRF
    ]
    assert [status for status, _ in refused] == [403] * 5
    assert running.post("/quote", {"id": "0" * 16}) == (
        400, {"ok": False, "message": "no such quote among this month's candidates: reload the page"})
    assert running.post("/quote", {"text": "anything I like"})[0] == 400  # only candidates, by id
    assert highlights(running) == before


def test_no_quote_is_added_once_someone_has_the_edition(running):
    quote = candidate(running)
    before = highlights(running)

    def send_to_one(store=running.previewer.ws.store):
        store.queue("2026-10", ["first@example.com"])
        store.mark("2026-10", "first@example.com", "sent")

    running.previewer.call(send_to_one)
    status, body = running.post("/quote", {"id": quote["id"]})
    assert status == 409 and "frozen" in body["message"] and "the quote was not added" in body["message"], body
    assert highlights(running) == before


JIRA_QUOTE = "Anna fixed my VPN in ten minutes, thank you!"
MARKDOWN_QUOTE = "# 1. *Great* [help](https://evil.example) ![x](logo.png) a < b & `code`"


@pytest.fixture
def jira_running(workspace, httpserver, monkeypatch):
    """The preview over a Jira Service Management help desk on 127.0.0.1 with quotes = true: IT-1's
    good feedback is written in HTML and signed with the requester's address."""
    from tests.contract.helpers import SECRET, json_response
    from tests.contract.test_jira import ISSUES, pages

    def feedback(request):
        key = request.path.split("/")[-2]
        if key == "IT-1":
            return json_response({"type": "csat", "rating": 5, "comment": {
                "body": "<p>Anna fixed my VPN <b>in ten minutes</b>, thank you!</p><script>alert(1)</script>"
                        "<p>jo.bloggs@example.com</p>"}})
        if key == "IT-5":
            return json_response({"type": "csat", "rating": 4, "comment": {"body": MARKDOWN_QUOTE}})
        return json_response({"errorMessage": "No feedback"}, 404)
    httpserver.expect_request("/rest/api/3/search/jql").respond_with_handler(pages([ISSUES], [None], [True]))
    httpserver.expect_request(re.compile(r"^/rest/servicedeskapi/request/IT-\d+/feedback$")).respond_with_handler(
        feedback)
    monkeypatch.setenv("JIRA_TOKEN", SECRET)
    workspace.write("sources/helpdesk.toml", f"""\
        type = "jira"
        name = "helpdesk"
        base_url = "{httpserver.url_for("/").rstrip("/")}"
        email = "it@example.com"
        token_env = "JIRA_TOKEN"
        project = "IT"
        quotes = true
        """)
    server = Running(workspace)
    yield server
    server.stop()


def test_a_quote_from_jira_is_picked_through_the_preview(jira_running):
    running = jira_running
    quote = candidate(running, JIRA_QUOTE + " …")
    assert quote["rated_at"] == "2026-10-02"  # the day IT-1 was resolved: JSM feedback carries no date
    assert JIRA_QUOTE not in running.previewer.draft.newsletter.html  # a candidate only, until picked
    status, body = running.post("/quote", {"id": quote["id"]})
    assert status == 200 and body["ok"], body
    text = highlights(running)
    assert text.endswith(f"# What colleagues said\n\n## A colleague, 2 October\n\n> {JIRA_QUOTE} …\n")
    assert "alert" not in text and "jo.bloggs" not in text and "IT-1" not in text
    assert JIRA_QUOTE in running.previewer.draft.newsletter.html


def test_a_picked_quote_is_its_words_not_markup(jira_running):
    running = jira_running
    quote = candidate(running, MARKDOWN_QUOTE)
    status, body = running.post("/quote", {"id": quote["id"]})
    assert status == 200 and body["ok"], body
    html = running.previewer.draft.newsletter.html
    said = html.split("What colleagues said")[-1]
    assert "evil.example" in said and "href=" not in said and "<img" not in said and "<h1" not in said
    assert "[help](https://evil.example)" in running.previewer.draft.newsletter.text
    status, body = running.post("/quote", {"id": quote["id"]})  # the same words again: already there
    assert status == 200 and "already" in body["message"]


@pytest.mark.parametrize(("language", "rated_at", "title"), [
    ("de", "2026-10-02", "Eine Kollegin oder ein Kollege, 2. Oktober"),
    ("fr", "2026-10-02", "Un ou une collègue, le 2 octobre"),
    ("es", "2026-10-02", "Un compañero o una compañera, 2 de octubre"),
    ("en", "2026-10-02T16:40:00+02:00", "A colleague, 2 October"),  # a plugin's time of day: its day
    ("en", "last Tuesday", "A colleague"),  # no day to be read: none is made up
])
def test_a_picked_quote_is_titled_in_the_workspace_language_with_the_day_it_can_read(workspace, language, rated_at,
                                                                                     title):
    from newsletter import preview_quotes
    from newsletter.model import SourceResult
    from newsletter.period import Month
    from newsletter.workspace import Workspace

    workspace.write("newsletter.toml", workspace.config.read_text().replace(
        'team = "IT"', f'team = "IT"\nlanguage = "{language}"', 1))
    ws = Workspace.open(config_path=str(workspace.config))
    ws.store.save_results("2026-10", [SourceResult.ok("helpdesk", "demo_ticketing", "ticketing", {
        "quotes": [{"text": QUOTE, "rated_at": rated_at}]})])
    october = Month(2026, 10)
    path, _ = preview_quotes.pick(ws, october, preview_quotes.candidates(ws, october)[0]["id"])
    assert path.read_text(encoding="utf-8").endswith(f"# What colleagues said\n\n## {title}\n\n> {QUOTE}\n")


def test_a_plugin_s_quote_on_several_lines_stays_one_quotation(workspace):
    """A plugin's words are not scrubbed as the built-in help desks' are: a line break in them must not
    end the quotation and start a heading ("# Thanks") or an item of its own in the highlights file."""
    from newsletter import preview_quotes
    from newsletter.collectors.highlights import parse_highlights
    from newsletter.model import SourceResult
    from newsletter.period import Month
    from newsletter.workspace import Workspace

    ws = Workspace.open(config_path=str(workspace.config))
    ws.store.save_results("2026-10", [SourceResult.ok("helpdesk", "demo_ticketing", "ticketing", {
        "quotes": [{"text": "Great help!\n# Thanks\r\n## To nobody\n\nreally", "rated_at": "2026-10-02"}]})])
    october = Month(2026, 10)
    chosen = preview_quotes.candidates(ws, october)[0]["id"]
    path, _ = preview_quotes.pick(ws, october, chosen)
    text = path.read_text(encoding="utf-8")
    assert text.endswith("## A colleague, 2 October\n\n> Great help! # Thanks ## To nobody really\n")
    assert [(i.section, i.title) for i in parse_highlights(text)][-1] == ("what_colleagues_said",
                                                                          "A colleague, 2 October")
    assert "already" in preview_quotes.pick(ws, october, chosen)[1]
