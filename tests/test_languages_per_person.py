"""Per-person language: each person gets the edition in the language of their `language` column,
composed once per language in use, approved as one content, one ledger row per person; checked at
a real SMTP server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

from newsletter.store import Store

PEOPLE = """\
email,name,language
anna@example.com,Anna,de
bob@example.com,Bob,en
chloe@example.com,Chloé,
dieter@example.com,Dieter,de-AT
"""


def configure(workspace, server, extra: str = "") -> None:
    workspace.write("people.csv", PEOPLE)
    base = workspace.config.read_text().replace('transport = "outbox"', 'transport = "smtp"\nrecipients = '
                                                '"people.csv"\nretry_rounds = 0')
    base = base.replace('to = ["all@example.com"]', "to = []")
    workspace.configure(f'\n[delivery.smtp]\nhost = "{server.host}"\nport = {server.port}\nsecurity = "none"\n'
                        f"timeout_s = 10\n{extra}", base=base)


def subjects(server) -> dict[str, str]:
    return {message["To"].split("<")[-1].rstrip(">"): str(message["Subject"]) for message in server.mailbox.messages}


def test_each_person_gets_the_edition_in_their_language(workspace, smtp_server):
    configure(workspace, smtp_server)
    result = workspace.invoke("run", "--month", "2026-10")
    assert result.exit_code == 0, result.output
    got = subjects(smtp_server)
    assert got["anna@example.com"].startswith("IT im Oktober") and got["dieter@example.com"].startswith("IT im Oktober")
    assert got["bob@example.com"].startswith("IT in October") and got["chloe@example.com"].startswith("IT in October")
    by = {m["To"].split("<")[-1].rstrip(">"): m for m in smtp_server.mailbox.messages}
    german = by["anna@example.com"].get_body(("plain",)).get_content()
    assert "Gelöste Anfragen" in german or "gelöste Anfragen" in german
    assert 'lang="de"' in by["anna@example.com"].get_body(("html",)).get_content()
    assert "requests resolved" in by["bob@example.com"].get_body(("plain",)).get_content()
    with Store.open(workspace.state) as store:  # one row per person, whatever their language
        assert {row.recipient: row.status for row in store.deliveries("2026-10")} == {
            "anna@example.com": "sent", "bob@example.com": "sent", "chloe@example.com": "sent",
            "dieter@example.com": "sent"}
    assert len(smtp_server.mailbox.messages) == 4


def test_one_approval_covers_every_language(workspace, smtp_server):
    configure(workspace, smtp_server)
    base = workspace.config.read_text().replace("retry_rounds = 0", "retry_rounds = 0\nrequire_approval = true")
    workspace.configure(base=base)
    waiting = workspace.invoke("run", "--month", "2026-10")
    assert waiting.exit_code == 3, waiting.output
    assert workspace.invoke("approve", "--month", "2026-10", "--by", "Ana").exit_code == 0
    sent = workspace.invoke("run", "--month", "2026-10")
    assert sent.exit_code == 0, sent.output
    assert sorted(subjects(smtp_server).values())[0].startswith("IT im Oktober")


def test_the_content_hash_covers_every_language(workspace, smtp_server):
    from newsletter.compose.render import Newsletter

    english = Newsletter("2026-10", "s", "p", "<html></html>", "t", language="en")
    german = Newsletter("2026-10", "b", "p", "<html></html>", "t", language="de")
    other = Newsletter("2026-10", "b!", "p", "<html></html>", "t", language="de")
    with_german = Newsletter("2026-10", "s", "p", "<html></html>", "t", language="en", translations=(german,))
    assert with_german.content_hash != english.content_hash
    assert with_german.content_hash != Newsletter("2026-10", "s", "p", "<html></html>", "t", language="en",
                                                  translations=(other,)).content_hash
    assert with_german.in_language("de-CH") is german and with_german.in_language("it") is with_german


def test_a_listed_language_without_a_catalog_is_refused(workspace, smtp_server):
    configure(workspace, smtp_server)
    base = workspace.config.read_text().replace('timezone = "Europe/Berlin"',
                                                'timezone = "Europe/Berlin"\nlanguages = ["it"]')
    workspace.configure(base=base)
    result = workspace.invoke("run", "--month", "2026-10")
    assert result.exit_code == 2 and "newsletter.languages: no catalog for 'it'" in result.output
    assert smtp_server.mailbox.messages == []


def test_a_rerun_after_some_were_sent_sends_the_archived_translation(workspace, smtp_server):
    configure(workspace, smtp_server)
    smtp_server.mailbox.rcpt_codes = {"anna@example.com": "451 4.7.1 Try again later"}
    first = workspace.invoke("run", "--month", "2026-10")
    assert "anna@example.com" not in subjects(smtp_server), first.output
    smtp_server.mailbox.rcpt_codes = {}
    (workspace.root / "sources" / "highlights" / "2026-10.md").unlink(missing_ok=True)  # the draft would change
    again = workspace.invoke("run", "--month", "2026-10")
    assert again.exit_code == 0, again.output
    assert subjects(smtp_server)["anna@example.com"] == subjects(smtp_server)["dieter@example.com"]
    assert subjects(smtp_server)["anna@example.com"].startswith("IT im Oktober")


def configure_german_reviewers(workspace, server) -> None:
    """The people of PEOPLE, approval required from one reviewer, the workspace's language German."""
    configure(workspace, server)
    base = workspace.config.read_text().replace("retry_rounds = 0", 'retry_rounds = 0\nrequire_approval = true\n'
                                                'reviewers = ["rev@example.com"]')
    workspace.configure(base=base.replace('timezone = "Europe/Berlin"', 'timezone = "Europe/Berlin"\nlanguage = "de"'))


def test_the_reviewers_read_the_workspace_language(workspace, smtp_server):
    configure_german_reviewers(workspace, smtp_server)
    assert workspace.invoke("run", "--month", "2026-10").exit_code == 3
    (review,) = smtp_server.mailbox.messages
    assert str(review["Subject"]).startswith("Freigabe nötig: IT im Oktober")
    body = review.get_body(("plain",)).get_content()
    assert "wartet auf eure Freigabe" in body and "Die Zahlen:" in body and "IT-Support" in body
    assert "Sprachen:  de, en (die Freigabe gilt für jede" in body  # the people of the file read both


def test_the_reviewers_are_told_in_their_language_that_an_approved_draft_changed(workspace, smtp_server):
    configure_german_reviewers(workspace, smtp_server)
    assert workspace.invoke("run", "--month", "2026-10").exit_code == 3
    assert workspace.invoke("approve", "--month", "2026-10", "--by", "Ana").exit_code == 0
    workspace.write("sources/highlights/2026-10.md", "## Neue Drucker\nAlle laufen.\n")
    assert workspace.invoke("run", "--month", "2026-10").exit_code == 3
    again = smtp_server.mailbox.messages[-1].get_body(("plain",)).get_content()
    assert "(er hat sich geändert, seit Ana am " in again


def test_each_language_in_use_gets_one_message_builder_whatever_the_connections(workspace, smtp_server, monkeypatch):
    """The edition's pieces (encoded text, image parts) are made once per language people read, not
    per connection, and not for the workspace's own language when nobody reads it."""
    from newsletter.delivery import ledger

    made = []

    class Counted(ledger.MessageFactory):
        def __init__(self, envelope, personalizer, **options) -> None:
            made.append(personalizer.newsletter.language)
            super().__init__(envelope, personalizer, **options)

    monkeypatch.setattr(ledger, "MessageFactory", Counted)
    configure(workspace, smtp_server, "connections = 4\n")
    workspace.write("people.csv", "email,name,language\n" + "".join(f"p{i}@example.com,P {i},de\n" for i in range(12)))
    result = workspace.invoke("run", "--month", "2026-10")
    assert result.exit_code == 0, result.output
    assert len(smtp_server.mailbox.messages) == 12 and smtp_server.mailbox.connections == 4
    assert made == ["de"]
