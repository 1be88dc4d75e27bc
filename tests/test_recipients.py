"""Recipients, per-person fields after MJML, and headers no text can add to."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from newsletter.compose.personal import Personalizer, neutralize
from newsletter.compose.render import Newsletter, compile_mjml
from newsletter.delivery.message import Envelope, MessageFactory, as_bytes, build_message
from newsletter.delivery.recipients import Recipient, load_recipients
from newsletter.errors import ConfigError, TemplateError

ENVELOPE = Envelope("Example IT <it@example.com>", reply_to="help@example.com")


def edition(**kw) -> Newsletter:
    base = {"month": "2026-10", "subject": "IT in October", "preheader": "", "html": "<p>Hi</p>", "text": "Hi\n"}
    return Newsletter(**{**base, **kw})


def test_csv_people_with_their_columns_and_lists(tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text("Email,Name,Department\nann@example.com,Ann Smith,Finance\n"
                   "bob@Example.COM,Bob,\nnot-an-address,X,Y\nANN@example.com,Ann again,\n"
                   "eve@example.com,Eve,\n\"mallory@example.com\r\nBcc: x@y.test\",M,\n,Nobody,\n", encoding="utf-8")
    result = load_recipients(["All Staff <all@example.com>", "all@example.com"], csv)
    assert [r.email for r in result.recipients] == ["all@example.com", "ann@example.com", "bob@Example.COM",
                                                    "eve@example.com"]
    assert result.recipients[0].name == "All Staff"
    assert result.recipients[1].context(result.columns) == {"department": "Finance", "email": "ann@example.com",
                                                            "name": "Ann Smith"}
    assert result.recipients[0].context(result.columns)["department"] == ""
    assert result.recipients[2].key == "bob@example.com"
    skipped = "\n".join(result.skipped)
    assert "delivery.to[1]: all@example.com is a duplicate of delivery.to[0]" in skipped
    assert "people.csv:4: 'not-an-address' is not an email address" in skipped
    assert "people.csv:5: ANN@example.com is a duplicate of people.csv:2" in skipped
    assert "people.csv:7: 'mallory@example.com\\r\\nBcc: x@y.test' contains a line break or NUL" in skipped
    assert "people.csv:9: '' is not an email address" in skipped
    assert len(result.skipped) == 5


def test_a_recipients_file_without_an_email_column_is_a_config_error(tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text("mail,name\na@example.com,A\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"people.csv: the first row must name the columns, one of them 'email'"):
        load_recipients([], csv)


def test_per_person_fields_are_filled_after_mjml_and_escaped():
    mjml = ('<mjml><mj-body><mj-section><mj-column><mj-text>Hello [[ recipient.name or "colleague" ]] from '
            '[[ recipient.department ]]</mj-text></mj-column></mj-section></mj-body></mjml>')
    html = compile_mjml(mjml)  # once per edition
    personal = Personalizer(edition(html=html, text="Hello [[ recipient.name ]]\n",
                                    subject="For [[ recipient.name ]]"))
    ann = personal.for_recipient({"name": "<Ann & Co>", "department": "R&D", "email": "a@example.com"})
    assert "Hello &lt;Ann &amp; Co&gt; from R&amp;D" in ann.html
    assert ann.text == "Hello <Ann & Co>\n" and ann.subject == "For <Ann & Co>"
    nobody = personal.for_recipient({"name": "", "department": "", "email": "b@example.com"})
    assert "Hello colleague from" in nobody.html


def test_a_mistake_in_a_per_person_field_is_a_template_error():
    with pytest.raises(TemplateError, match="per-person field in the HTML part"):
        Personalizer(edition(html="<p>[[ recipient.name </p>"))
    personal = Personalizer(edition(text="[[ recipient.dept ]]"))
    with pytest.raises(TemplateError, match="columns are: email, name"):
        personal.for_recipient({"email": "a@example.com", "name": "A"})


def test_collected_text_cannot_open_a_per_person_field():
    assert neutralize("[[ recipient.email ]]") != "[[ recipient.email ]]"
    assert "[[" not in neutralize("x [[ y [% z [# w")
    assert neutralize(42) == 42
    from newsletter.compose.render import Renderer, Theme
    from newsletter.resources import builtin_theme

    env = Renderer(Theme(builtin_theme().parent, "default")).env
    out = env.from_string("{{ v }} [[ recipient.name ]]").render(v="[[ recipient.email ]]")
    assert Personalizer(edition(html=out)).for_recipient({"name": "Ann", "email": "a@x.com"}).html.endswith("Ann")
    assert "a@x.com" not in Personalizer(edition(html=out)).for_recipient({"name": "Ann", "email": "a@x.com"}).html


def test_the_fast_message_equals_the_email_packages():
    news = edition(html="<p>Grüße " + "x" * 3000 + "</p>", text="Grüße\n" * 200, subject="IT im Oktober · 99%")
    to = Recipient("ann@example.com", "Änn Smith")
    data = MessageFactory(ENVELOPE, Personalizer(news)).build(to, to.context()).data
    fast = message_from_bytes(data, policy=policy.default)
    slow = message_from_bytes(as_bytes(build_message(news, ENVELOPE, to)), policy=policy.default)
    for name in ("Subject", "From", "To", "Reply-To", "List-Id", "Auto-Submitted", "Precedence",
                 "X-Auto-Response-Suppress", "MIME-Version"):
        assert fast[name] == slow[name], name
    assert fast.get_content_type() == slow.get_content_type() == "multipart/alternative"
    for kind in ("plain", "html"):
        assert fast.get_body((kind,)).get_content().rstrip() == slow.get_body((kind,)).get_content().rstrip()
    assert all(len(line) <= 78 for line in data.split(b"\r\n"))


INJECTIONS = [
    "Hello\r\nBcc: victim@evil.test",
    "Hello\nBcc: victim@evil.test",
    "Hello\rBcc: victim@evil.test",
    "Hello\n",
    "=?utf-8?q?Hello=0D=0ABcc:_victim@evil.test?=",
    "=?utf-8?b?SGVsbG8NCkJjYzogdmljdGltQGV2aWwudGVzdA==?=",
    "Hello\u2028Bcc: victim@evil.test",
    "Hello\u2029Bcc: victim@evil.test",
    "Hello\x00Bcc: victim@evil.test",
    "Hello\x85Bcc: victim@evil.test",
]


@pytest.mark.parametrize("text", INJECTIONS)
@pytest.mark.parametrize("builder", ["fast", "email"])
def test_no_subject_or_name_can_add_a_header(text, builder):
    to = Recipient("ann@example.com", text)
    news = edition(subject=text)
    data = (MessageFactory(ENVELOPE, Personalizer(news)).build(to, to.context()).data if builder == "fast"
            else as_bytes(build_message(news, ENVELOPE, to)))
    head = data.split(b"\r\n\r\n", 1)[0]
    names = [line.split(b":", 1)[0] for line in head.split(b"\r\n") if line and not line[:1].isspace()]
    assert b"Bcc" not in names and len(names) == len(set(names))
    assert b"\x00" not in data and b"\n" not in head.replace(b"\r\n", b"")
    parsed = message_from_bytes(data, policy=policy.default)
    assert parsed["Bcc"] is None
    assert "\n" not in str(parsed["Subject"]) and "\r" not in str(parsed["Subject"])
    assert "\n" not in str(parsed["To"]) and parsed["To"].addresses[0].addr_spec == "ann@example.com"


def test_addresses_the_email_package_refuses_are_skipped_with_file_and_line(tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text("email,name\nann@example.com,Ann\nuser@corp.test.,A\n<user@corp.test>,B\nuser@[corp.test,C\n"
                   "\",user@corp.test\",D\n\nbob@example.com,Bob\n\"a@x.example, b@y.example\",E\n", encoding="utf-8")
    result = load_recipients([], csv)
    assert [r.email for r in result.recipients] == ["ann@example.com", "bob@example.com"]
    assert result.recipients[1].where == "people.csv:8"
    skipped = "\n".join(result.skipped)
    for line, value in ((3, "user@corp.test."), (4, "<user@corp.test>"), (5, "user@[corp.test"),
                        (6, ",user@corp.test"), (9, "a@x.example, b@y.example")):
        assert f"people.csv:{line}: {value!r} " in skipped
    assert len(result.skipped) == 5


def test_a_row_over_several_lines_is_named_by_its_first_line(tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text('email,name\n"x@example.com\nBcc: y@example.com",X\nann@example.com,"Ann\nSmith"\n'
                   "ANN@example.com,again\n", encoding="utf-8")
    result = load_recipients([], csv)
    assert result.skipped == ["people.csv:2: 'x@example.com\\nBcc: y@example.com' contains a line break or NUL; "
                              "skipped", "people.csv:6: ANN@example.com is a duplicate of people.csv:4; skipped"]


def test_send_skips_the_bad_rows_and_sends_everyone_else(workspace):
    workspace.write("people.csv", "email,name\nann@example.com,Ann\nuser@corp.test.,X\n,user@corp.test,Y\n"
                    "bob@example.com,Bob\n")
    workspace.configure('recipients = "people.csv"\n', base=workspace.config.read_text()
                        .replace('to = ["all@example.com"]', "to = []"))
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    result = workspace.invoke("send", "--month", "2026-10")
    assert result.exit_code == 0, result.output
    assert "people.csv:3: 'user@corp.test.' has a domain that ends with a dot" in result.stderr
    assert "people.csv:4: '' is not an email address (empty); skipped" in result.stderr
    sent = sorted(p.name.split("-", 1)[1] for p in (workspace.state / "outbox" / "2026-10").glob("*.eml"))
    assert sent == ["ann@example.com.eml", "bob@example.com.eml"]


def test_check_reports_bad_and_duplicate_rows_of_the_recipients_file(workspace):
    workspace.write("people.csv", "email,name\nann@example.com,Ann\n<user@corp.test>,X\nANN@example.com,Ann\n")
    workspace.configure('recipients = "people.csv"\n')
    result = workspace.invoke("check")
    assert result.exit_code == 0, result.output
    assert "people.csv:3: '<user@corp.test>' has angle brackets" in result.stderr
    assert "people.csv:4: ANN@example.com is a duplicate of people.csv:2; skipped" in result.stderr
    assert "recipients: 2 (2 skipped, see above)" in result.stdout


def test_check_refuses_a_recipients_file_without_anyone_to_send_to(workspace):
    workspace.write("people.csv", "email,name\nuser@corp.test.,X\n")
    workspace.configure('recipients = "people.csv"\n', base=workspace.config.read_text()
                        .replace('to = ["all@example.com"]', "to = []"))
    result = workspace.invoke("check")
    assert result.exit_code == 2, result.output
    assert "people.csv:2: 'user@corp.test.'" in result.stderr and "no valid recipient" in result.stderr


def test_a_field_that_raises_for_one_person_is_a_reason_not_a_crash():
    personal = Personalizer(edition(text="Share: [[ 100 // (recipient.team_size | int) ]]\n",
                                    html="<p>[% if recipient.name %][[ recipient.name.split()[0] ]][% endif %]</p>"))
    assert personal.problem({"name": "Ann Smith", "team_size": "4", "email": "a@example.com"}) is None
    assert personal.problem({"name": "", "team_size": "4", "email": "a@example.com"}) is None
    assert personal.problem({"name": "Ann", "team_size": "0", "email": "a@example.com"}) == (
        "per-person field in the text part: ZeroDivisionError: integer division or modulo by zero")
    with pytest.raises(TemplateError, match="text part: ZeroDivisionError"):
        personal.for_recipient({"name": "Ann", "team_size": "0", "email": "a@example.com"})


HEADER = ('{%% extends "default:newsletter.mjml.j2" %%}\n{%% block header %%}<mj-section><mj-column>'
          "<mj-text>Hello %s</mj-text></mj-column></mj-section>{%% endblock %%}\n")


def test_check_names_the_people_whose_fields_would_fail(workspace):
    workspace.write("people.csv", "email,name\nann@example.com,Ann Smith\nbob@example.com,\n")
    workspace.write("templates/brand/newsletter.mjml.j2", HEADER % "[[ recipient.name.split()[0] ]]")
    workspace.configure('recipients = "people.csv"\n', base=workspace.config.read_text()
                        .replace('to = ["all@example.com"]', "to = []").replace("[newsletter]\n",
                                                                              '[newsletter]\ntheme = "brand"\n'))
    result = workspace.invoke("check")
    assert result.exit_code == 0, result.output
    assert ("newsletter: warning: bob@example.com (people.csv:3): per-person field in the HTML part: list object "
            "has no element 0; this person would be held back, not sent") in result.stderr
    workspace.write("templates/brand/newsletter.mjml.j2", HEADER % "[[ recipient.nmae ]]")
    result = workspace.invoke("check")
    assert result.exit_code == 2, result.output
    assert "ann@example.com (people.csv:2): per-person field in the HTML part: " in result.stderr
    assert "it fails for every recipient (2): fix the template (the recipients' columns are: email, name)" in (
        result.stderr)


TIP = ('{% extends "default:newsletter.mjml.j2" %}\n{% block tip %}<mj-section><mj-column>'
       "<mj-text>Tip for [[ recipient.name ]]: lock your screen.</mj-text></mj-column></mj-section>{% endblock %}\n")


def test_per_person_fields_in_a_section_block_are_filled_in(workspace):
    # A section block is printed by the layout's loop over `sections`: its output is the template's
    # own, so its [[ ... ]] are fields to fill in, not a collected value to defuse.
    workspace.write("people.csv", "email,name\nann@example.com,Ann Smith\n")
    workspace.write("templates/brand/newsletter.mjml.j2", TIP)
    workspace.configure('recipients = "people.csv"\n', base=workspace.config.read_text()
                        .replace('to = ["all@example.com"]', "to = []").replace("[newsletter]\n",
                                                                              '[newsletter]\ntheme = "brand"\n'))
    result = workspace.invoke("run", "--month", "2026-10")
    assert result.exit_code == 0, result.output
    [eml] = (workspace.state / "outbox" / "2026-10").glob("*.eml")
    html = message_from_bytes(eml.read_bytes(), policy=policy.default).get_body(("html",)).get_content()
    assert "Tip for Ann Smith: lock your screen." in html and "recipient.name" not in html


def test_a_quote_never_closed_is_an_error_not_the_rest_of_the_file_in_one_name(tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text('email,name\nann@example.com,"Doe, Ann\nbob@example.com,Bob\ncarol@example.com,Carol\n')
    with pytest.raises(ConfigError, match=r"people.csv:\d+: not a readable CSV file"):
        load_recipients([], csv)


def test_a_column_named_twice_is_an_error_naming_it(tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text("email,name,E-mail,Email\nann@example.com,Ann,,ann.private@example.com\n")
    with pytest.raises(ConfigError, match=r"people\.csv: the first row names the column 'email' twice"):
        load_recipients([], csv)


def test_a_byte_that_is_not_utf8_is_named_by_its_line(tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_bytes(b"email,name\nann@example.com,Ann\n" + b"x@example.com,X\n" * 2000 + b"j@example.com,J\xfcrgen\n")
    with pytest.raises(ConfigError, match=r"people.csv:2003: not UTF-8 text; save the file as UTF-8"):
        load_recipients([], csv)
