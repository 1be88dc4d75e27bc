"""Config mistakes: exit 2, one line naming the file, the key and what was expected, no traceback."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from newsletter.binding import Secret, Where, bind
from newsletter.errors import ConfigError


def assert_config_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_unknown_key_suggests_the_right_one(workspace):
    workspace.configure(base=workspace.config.read_text().replace("timezone", "time_zone"))
    result = workspace.invoke("check")
    assert_config_error(result, "newsletter.toml", "newsletter.time_zone", "did you mean 'timezone'")


def test_unknown_table(workspace):
    workspace.configure("[deliveries]\nto = []\n")
    assert_config_error(workspace.invoke("check"), "newsletter.toml", "deliveries", "unknown key")


def test_wrong_type(workspace):
    workspace.configure().write_text(workspace.config.read_text().replace('transport = "outbox"',
                                                                          'transport = "outbox"\nmax_errors = "ten"'))
    assert_config_error(workspace.invoke("check"), "delivery.max_errors", "expected an integer", "'ten'")


def test_wrong_choice(workspace):
    workspace.configure().write_text(workspace.config.read_text().replace('"outbox"', '"pigeon"'))
    assert_config_error(workspace.invoke("check"), "delivery.transport", "'outbox'", "'smtp'", "'pigeon'")


def test_bad_timezone(workspace):
    workspace.configure().write_text(workspace.config.read_text().replace("Europe/Berlin", "Europe/Springfield"))
    assert_config_error(workspace.invoke("check"), "newsletter.timezone", "Europe/Springfield", "IANA")


def test_bad_address(workspace):
    workspace.configure().write_text(workspace.config.read_text().replace('["all@example.com"]', '["everyone"]'))
    assert_config_error(workspace.invoke("check"), "delivery.to", "'everyone'", "not an email address")


def test_invalid_toml(workspace):
    workspace.write("sources/broken.toml", 'type = "demo_uptime"\nservices = [\n')
    assert_config_error(workspace.invoke("check"), "broken.toml", "not valid TOML")


def test_files_saved_with_a_byte_order_mark_read_as_without(workspace):
    # Notepad (and PowerShell's Out-File) begin a UTF-8 file with one
    workspace.config.write_bytes(b"\xef\xbb\xbf" + workspace.config.read_bytes())
    uptime = workspace.root / "sources" / "uptime.toml"
    uptime.write_bytes(b"\xef\xbb\xbf" + uptime.read_bytes())
    result = workspace.invoke("check")
    assert result.exit_code == 0, result.output


def test_unreadable_source_file(workspace):
    (workspace.root / "sources" / "gone.toml").symlink_to(workspace.root / "nowhere.toml")
    assert_config_error(workspace.invoke("check"), "gone.toml", "cannot read")


def test_missing_source_type(workspace):
    workspace.write("sources/notype.toml", 'name = "x"\n')
    assert_config_error(workspace.invoke("check"), "notype.toml", "type", "missing", "demo_ticketing")


def test_unknown_source_type(workspace):
    workspace.write("sources/jira-old.toml", 'type = "jira-server"\n')
    assert_config_error(workspace.invoke("check"), "jira-old.toml", "unknown source type 'jira-server'",
                        "highlights")


def test_unknown_collector_key(workspace):
    workspace.write("sources/uptime.toml", 'type = "demo_uptime"\nservice = ["Email"]\n')
    assert_config_error(workspace.invoke("check"), "uptime.toml", "service", "did you mean 'services'")


def test_collector_validation_runs_before_any_collection(workspace):
    workspace.write("sources/uptime.toml", 'type = "demo_uptime"\nservices = []\n')
    assert_config_error(workspace.invoke("collect"), "uptime.toml", "at least one service")


def test_duplicate_source_names(workspace):
    workspace.write("sources/again.toml", 'type = "demo_uptime"\nname = "monitoring"\n')
    assert_config_error(workspace.invoke("check"), "again.toml", "'monitoring'", "also used")


def test_plaintext_secret_is_refused(workspace):
    workspace.configure('[delivery.smtp]\nhost = "127.0.0.1"\npassword = "hunter2-hunter2"\n')
    result = workspace.invoke("check")
    assert_config_error(result, "delivery.smtp.password", "password_env", "password_file")
    assert "hunter2" not in result.output


@pytest.mark.parametrize("pasted", ["u1234567-0a1b2c3d4e5f6a7b8c9d0e1f", "https://hc-ping.com/5f1e0a2b-9c8d",
                                    "dG9rZW4tdmFsdWUtZm9yLXRlc3Rz+/="])
def test_a_secret_written_where_its_variable_is_named_is_refused_without_saying_it(workspace, pasted):
    # The key asks for a variable's name; the value itself would be echoed in every "is not set"
    # (stderr, the cron mail, the stored error, the reviewers' email).
    workspace.configure(f'[delivery.smtp]\nhost = "127.0.0.1"\nusername = "it"\npassword_env = "{pasted}"\n')
    result = workspace.invoke("check")
    assert_config_error(result, "delivery.smtp.password_env", "name of an environment variable")
    assert pasted not in result.output and pasted[:8] not in result.output


def test_secret_file_readable_by_others_is_refused(workspace):
    secret = workspace.write("smtp-password", "hunter2-hunter2\n")
    os.chmod(secret, 0o644)
    workspace.configure('[delivery.smtp]\nhost = "127.0.0.1"\npassword_file = "smtp-password"\n')
    result = workspace.invoke("check")
    assert_config_error(result, "delivery.smtp.password_file", "readable by group or others", "chmod 600")
    assert "hunter2" not in result.output
    os.chmod(secret, 0o600)
    assert workspace.invoke("check").exit_code == 0


@pytest.mark.parametrize(("content", "said"), [(b"", "the secret file is empty"), (b"  \n", "the secret file is empty"),
                                             (b"\xffhunter2", "the secret file is not UTF-8 text")])
def test_a_secret_file_that_is_empty_or_not_text_is_named_never_used(workspace, content, said):
    secret = workspace.root / "smtp-password"
    secret.write_bytes(content)
    os.chmod(secret, 0o600)
    workspace.configure('[delivery.smtp]\nhost = "127.0.0.1"\nusername = "it"\npassword_file = "smtp-password"\n')
    check = workspace.invoke("check")
    assert f"password_file: {secret}: {said}" in check.output, check.output
    from newsletter.binding import Secret
    from newsletter.errors import ConfigError

    with pytest.raises(ConfigError, match=said):
        Secret(file=secret).reveal()


def test_missing_config_says_where_it_looked(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from newsletter.cli import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSLETTER_CONFIG", raising=False)
    result = CliRunner().invoke(cli, ["check"])
    assert result.exit_code == 2
    assert "no newsletter.toml in" in result.stderr and "--demo" in result.stderr


def test_config_found_through_environment(workspace, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from newsletter.cli import cli

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["check"], env={"NEWSLETTER_CONFIG": str(workspace.config)})
    assert result.exit_code == 0, result.output
    assert "7 sources" in result.output


@dataclass(frozen=True)
class Needs:
    url: str
    retries: int = 3
    token: Secret | None = None


def test_bind_reports_missing_required_key(tmp_path):
    with pytest.raises(ConfigError, match=r"x\.toml: url: missing required key \(a string\)"):
        bind(Needs, {}, Where(tmp_path / "x.toml"))


def test_bind_rejects_booleans_for_integers(tmp_path):
    with pytest.raises(ConfigError, match="retries: expected int, got a boolean"):
        bind(Needs, {"url": "u", "retries": True}, Where(tmp_path / "x.toml"))


def test_secret_from_environment_is_read_only_when_needed(tmp_path, monkeypatch):
    bound = bind(Needs, {"url": "u", "token_env": "NEWSLETTER_TEST_TOKEN"}, Where(tmp_path / "x.toml"))
    monkeypatch.delenv("NEWSLETTER_TEST_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="NEWSLETTER_TEST_TOKEN is not set"):
        bound.token.reveal()
    monkeypatch.setenv("NEWSLETTER_TEST_TOKEN", "tok-123456")
    assert bound.token.reveal() == "tok-123456"
    assert "tok-123456" not in repr(bound)


def test_check_warns_about_secret_variables_this_shell_lacks(workspace, monkeypatch):
    monkeypatch.delenv("NEWSLETTER_TEST_SMTP_PASSWORD", raising=False)
    workspace.configure('[delivery.smtp]\nhost = "127.0.0.1"\nusername = "u"\n'
                        'password_env = "NEWSLETTER_TEST_SMTP_PASSWORD"\n')
    result = workspace.invoke("check")
    assert result.exit_code == 0, result.output
    assert "delivery.smtp.password_env: NEWSLETTER_TEST_SMTP_PASSWORD is not set" in result.stderr
    monkeypatch.setenv("NEWSLETTER_TEST_SMTP_PASSWORD", "s3cret-value")
    result = workspace.invoke("check")
    assert "is not set" not in result.stderr and "s3cret-value" not in result.output


def test_deadline_and_page_limit_are_common_source_keys(workspace):
    from newsletter.collectors.registry import CollectorRegistry
    from newsletter.config import load_source

    registry = CollectorRegistry.from_entry_points()
    plain = load_source(workspace.root / "sources" / "helpdesk.toml", registry)
    assert (plain.deadline_s, plain.max_pages) == (600, 1000)
    tuned = workspace.write("sources/tuned.toml", 'type = "demo_uptime"\ndeadline_s = 90\nmax_pages = 20\n')
    assert (load_source(tuned, registry).deadline_s, load_source(tuned, registry).max_pages) == (90.0, 20)


@pytest.mark.parametrize(("line", "fragment"), [
    ("deadline_s = 0", "deadline_s: expected a number of seconds above 0"), ("deadline_s = \"10\"", "deadline_s"),
    ("max_pages = 0", "max_pages: expected a whole number from 1"), ("max_pages = 2.5", "max_pages"),
    ("max_pages = true", "max_pages"),
])
def test_bad_deadline_or_page_limit(workspace, line, fragment):
    workspace.write("sources/tuned.toml", f'type = "demo_uptime"\n{line}\n')
    assert_config_error(workspace.invoke("check"), "tuned.toml", fragment)


@pytest.mark.parametrize("months", [-1, 241])
def test_history_months_out_of_range_is_a_config_error_not_a_run_that_never_ends(workspace, months):
    """Each earlier month is read (and `check` makes a demo month for each): 100,000 would run for hours."""
    text = workspace.configure().read_text()
    workspace.config.write_text(text.replace('state_dir = "state"', f'state_dir = "state"\nhistory_months = {months}'))
    assert_config_error(workspace.invoke("check"), "newsletter.history_months", "from 0 to 240", str(months))


@pytest.mark.parametrize("months", ["-1", "241"])
def test_backfill_out_of_range_is_refused(workspace, months):
    result = workspace.invoke("collect", "--backfill", months)
    assert result.exit_code == 2 and "--backfill" in result.output and "Traceback" not in result.output
