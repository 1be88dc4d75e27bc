"""The draft is whole, or says it is not: through the CLI on a real workspace (tests/fixtures/workspace.py)."""

from __future__ import annotations


def fail_mail_source(workspace, extra: str = "") -> None:
    """The mail source becomes a real one whose export file is missing: it fails at every collect."""
    workspace.write("sources/mail.toml", f'type = "exchange_csv"\nname = "mail-filter"\npath = "missing.csv"\n{extra}')


def test_a_failed_source_is_named_by_its_kind_never_by_its_file_name(workspace, tmp_path):
    fail_mail_source(workspace)
    collected = workspace.invoke("collect", "--month", "2026-10")
    assert collected.exit_code == 1
    out = tmp_path / "draft.txt"
    assert workspace.invoke("preview", "--month", "2026-10", "--output", str(out), "--format", "text").exit_code == 0
    text = out.read_text()
    assert "Not included this month: Mail security." in text
    assert "mail-filter" not in text


def test_a_title_names_the_source_in_the_email(workspace, tmp_path):
    fail_mail_source(workspace, 'title = "Spam filter (Berlin)"\n')
    workspace.write("sources/helpdesk-emea.toml", 'type = "demo_ticketing"\nname = "helpdesk-emea"\n'
                    'title = "Help desk EMEA"\n')
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 1
    for fmt in ("text", "html"):
        out = tmp_path / f"draft.{fmt}"
        assert workspace.invoke("preview", "--month", "2026-10", "--output", str(out), "--format", fmt).exit_code == 0
        page = out.read_text()
        assert "Not included this month: Spam filter (Berlin)." in page
        assert "help desk emea" in page.lower() and "helpdesk-emea" not in page and "mail-filter" not in page
    text = (tmp_path / "draft.text").read_text()
    assert "HELP DESK EMEA\n" in text and "\nHELP DESK\n" in text  # two help desks: each under its title


def test_check_warns_when_two_sources_share_a_title(workspace):
    workspace.write("sources/helpdesk-emea.toml", 'type = "demo_ticketing"\nname = "helpdesk-emea"\n')
    result = workspace.invoke("check")
    assert result.exit_code == 0, result.output
    assert "helpdesk-emea.toml" in result.stderr and "title" in result.stderr and "Help desk" in result.stderr


def test_an_empty_title_is_a_config_error(workspace):
    workspace.write("sources/helpdesk.toml", 'type = "demo_ticketing"\nname = "helpdesk"\ntitle = " "\n')
    result = workspace.invoke("check")
    assert result.exit_code == 2
    assert "helpdesk.toml: title: expected the name people know this source by" in result.stderr
