"""[delivery.directory] checked before any network call, the directory contract's reading (all or
nothing, secrets masked), the pieces of Active Directory that OpenLDAP cannot show, and the ledger
following the recipients from one run to the next."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import EntryPoint

import pytest

from newsletter.binding import Secret, Where
from newsletter.delivery.directories.base import DirectoryError, DirectorySettings, Member, Roster, read_roster
from newsletter.delivery.directories.ldap import LdapSettings, is_disabled, normalize_dn, people_filter
from newsletter.delivery.directories.registry import GROUP, DirectoryRegistry, load_directory
from newsletter.delivery.ledger import deliver
from newsletter.errors import ConfigError
from newsletter.limits import DeadlineExceeded
from newsletter.store import Store
from tests.conftest import REPO
from tests.test_delivery_smtp import EDITION, people, plan, smtp

LDAP = """
[delivery.directory]
type = "ldap"
host = "dc1.corp.example"
group_dn = "CN=All Staff,OU=Groups,DC=corp,DC=example"
base_dn = "DC=corp,DC=example"
bind_dn = "CN=svc-newsletter,OU=Service,DC=corp,DC=example"
bind_password_env = "NEWSLETTER_LDAP_PASSWORD"
"""


def configured(workspace, extra: str):
    workspace.configure(extra)
    return workspace.invoke("check")


@pytest.mark.parametrize(("change", "message"), [
    (('type = "ldap"', 'type = "ldapp"'), "delivery.directory.type: unknown directory type 'ldapp'; expected one "
                                          "of: 'google_group', 'graph_group', 'ldap'"),
    (('type = "ldap"\n', ""), "delivery.directory.type: missing"),
    (('bind_password_env = "NEWSLETTER_LDAP_PASSWORD"', 'bind_password = "hunter2-in-the-file"'),
     "delivery.directory.bind_password: secrets are not written in config files; use bind_password_env"),
    (('host = "dc1.corp.example"', 'host = "dc1.corp.example:636"'), "delivery.directory.host: 'dc1.corp.example:636'"
                                                                     ": expected a host name or address alone"),
    (('base_dn = "DC=corp,DC=example"', 'base_dn = "corp.example"'), "delivery.directory.base_dn: 'corp.example' is "
                                                                     "not a DN"),
    (('bind_password_env', 'exclude_filter = "employeeType=disabled"\nbind_password_env'),
     "delivery.directory.exclude_filter: 'employeeType=disabled': an LDAP filter is written in parentheses"),
    (('bind_password_env', 'user_filter = "(&(objectClass=person)"\nbind_password_env'),
     "delivery.directory.user_filter: '(&(objectClass=person)' is not a valid LDAP filter"),
    (('bind_password_env', 'secruity = "ldaps"\nbind_password_env'), "delivery.directory.secruity: unknown key; did "
                                                                       "you mean 'security'?"),
    (('bind_password_env', 'security = "none"\nbind_password_env'), "delivery.directory.security: expected one of "
                                                                     "'starttls', 'ldaps'"),
    (('bind_password_env', 'deadline_s = 0\nbind_password_env'), "delivery.directory.deadline_s: expected a number "
                                                                 "of seconds above 0, at most 86,400, got 0"),
    (('bind_password_env', 'deadline_s = nan\nbind_password_env'),
     "delivery.directory.deadline_s: expected a number of seconds above 0, at most 86,400, got nan"),
    (('bind_password_env', 'deadline_s = inf\nbind_password_env'),
     "delivery.directory.deadline_s: expected a number of seconds above 0, at most 86,400, got inf"),
    (('bind_password_env', 'max_pages = 0\nbind_password_env'), "delivery.directory.max_pages: expected a whole "
                                                                "number from 1 to 1,000,000, got 0"),
    (('bind_password_env', 'timeout_s = inf\nbind_password_env'), "delivery.directory.timeout_s: expected a number "
                                                                  "of seconds above 0, at most 3,600, got inf"),
    (('bind_password_env', 'ca_file = "missing-ca.pem"\nbind_password_env'), "delivery.directory.ca_file: cannot "
                                                                             "read"),
])
def test_a_wrong_key_is_exit_2_naming_it_before_any_network_call(workspace, change, message):
    result = configured(workspace, LDAP.replace(*change))
    assert result.exit_code == 2, result.output
    assert f"newsletter.toml: {message}" in result.output
    assert "hunter2" not in result.output


def test_graph_and_google_keys_are_checked_too(workspace):
    graph = ('[delivery.directory]\ntype = "graph_group"\ntenant_id = "t"\nclient_id = "c"\n'
             'client_secret_env = "S"\ngroup_id = "02bd9fd6-8f93-4758-87c3-1fb73740a315"\n'
             'graph_url = "http://graph.example"\n')
    result = configured(workspace, graph)
    assert result.exit_code == 2 and "delivery.directory.graph_url: expected an https:// URL" in result.output
    result = configured(workspace, graph.replace("http://graph.example", "http://other\\\\@127.0.0.1"))
    assert result.exit_code == 2 and "delivery.directory.graph_url: expected an https:// URL" in result.output
    result = configured(workspace, graph.replace("http://", "https://") + 'timeout_s = nan\n')
    assert result.exit_code == 2 and "delivery.directory.timeout_s: expected a number of seconds" in result.output
    result = configured(workspace, graph.replace("http://", "https://") + 'ca_file = "none.pem"\n')
    assert result.exit_code == 2 and "delivery.directory.ca_file: cannot read" in result.output
    result = configured(workspace, graph.replace("http://", "https://").replace("02bd9fd6-8f93-4758-87c3-1fb73740a315",
                                                                              "AllStaff"))
    assert result.exit_code == 2 and "delivery.directory.group_id: expected the group id as the Entra" in result.output
    google = '[delivery.directory]\ntype = "google_group"\nkey_env = "K"\nadmin_email = "admin"\ngroup = "g"\n'
    result = configured(workspace, google)
    assert result.exit_code == 2 and "delivery.directory.admin_email: expected an administrator's address" in (
        result.output)


def test_the_ldap_defaults(tmp_path):
    config = load_directory({"type": "ldap", "host": "dc1", "group_dn": "cn=a,dc=b", "base_dn": "dc=b",
                             "bind_dn": "cn=s,dc=b", "bind_password_env": "P"}, Where(tmp_path / "n.toml"))
    settings = config.settings
    assert (settings.security, settings.effective_port, settings.nested) == ("starttls", 389, "auto")
    assert config.open().describe() == "ldap group cn=a,dc=b on ldap://dc1:389"
    assert config.open().credential() == "delivery.directory.bind_password_env (P)"


def test_a_broken_plugin_is_a_warning_and_a_config_error_naming_it(tmp_path, caplog):
    broken = EntryPoint("acme_hr", "acme_hr_missing.directory:Hr", GROUP)
    registry = DirectoryRegistry({"acme_hr": broken})
    with pytest.raises(ConfigError, match="unknown directory type 'acme_hr'; its plugin failed to load "
                                          r"\(ModuleNotFoundError"):
        load_directory({"type": "acme_hr"}, Where(tmp_path / "n.toml"), registry)
    assert ("directory plugin 'acme_hr' (acme_hr_missing.directory:Hr from no installed distribution) failed to load"
            in caplog.text)


def test_active_directory_is_asked_for_the_nesting_in_one_filter():
    settings = LdapSettings(host="dc1", group_dn="CN=Staff (all),OU=Groups,DC=corp,DC=example", base_dn="DC=corp",
                            bind_dn="CN=s,DC=corp", bind_password=Secret(env="P"))
    assert people_filter(settings, active_directory=True, in_chain=True) == (
        r"(&(&(objectCategory=person)(objectClass=user))(memberOf:1.2.840.113556.1.4.1941:=CN=Staff \28all\29,"
        r"OU=Groups,DC=corp,DC=example))")
    assert people_filter(settings, active_directory=False, in_chain=False) == "(objectClass=person)"


@pytest.mark.parametrize(("value", "disabled"), [(512, False), (514, True), ("66050", True), ("66048", False),
                                                 ("", False), (None, False)])
def test_userAccountControl_bit_2_is_a_disabled_account(value, disabled):
    assert is_disabled(value) is disabled


def test_dns_compare_whatever_their_case_and_spacing():
    assert normalize_dn("CN=Ann Smith, OU=People,DC=Example,DC=com") == normalize_dn("cn=ann smith,ou=people,"
                                                                                     "dc=example,dc=com")
    assert normalize_dn("uid=ann,ou=people,dc=x#'0101'B") == "uid=ann,ou=people,dc=x"  # uniqueMember's uid
    assert normalize_dn(r"cn=Smith\, Ann,ou=people") != normalize_dn("cn=Smith,ou=people")


@dataclass(frozen=True, kw_only=True)
class FakeSettings(DirectorySettings):
    pass


class Exploding:
    """A directory plugin whose library fails with the secret in its message, as some do."""

    type = "exploding"
    Settings = FakeSettings

    def __init__(self, settings) -> None:
        self.settings = settings

    def describe(self) -> str:
        return "exploding group"

    def credential(self) -> str:
        return "delivery.directory.token_env (TOKEN)"

    def secrets(self) -> list[str]:
        return ["s3cr3t-v@lue/x"]

    def validate(self) -> None: ...

    def members(self):
        yield Member("a", "a@example.com")
        raise OSError("connection reset while sending Authorization: Basic czNjcjN0LXZAbHVlL3g= and "
                      "password=s3cr3t-v%40lue%2Fx")


def test_a_reading_that_breaks_halfway_fails_whole_and_masks_every_form_of_the_secret():
    with pytest.raises(DirectoryError) as failed:
        read_roster(Exploding(FakeSettings()))
    message = str(failed.value)
    assert message.startswith("delivery.directory (exploding group): cannot read the members: OSError: connection")
    assert message.endswith("; check delivery.directory.token_env (TOKEN)")
    assert "s3cr3t" not in message and "czNjcjN0" not in message and "s3cr3t-v%40lue" not in message


def test_the_traceback_logged_with_vv_masks_every_form_of_the_secret(caplog):
    caplog.set_level(logging.DEBUG, logger="newsletter")
    with pytest.raises(DirectoryError):
        read_roster(Exploding(FakeSettings()))
    assert "OSError: connection reset" in caplog.text and "Traceback" in caplog.text
    assert "s3cr3t" not in caplog.text and "czNjcjN0" not in caplog.text and "s3cr3t-v%40lue" not in caplog.text


class Slow(Exploding):
    """A directory whose reading outlasts its deadline_s."""

    def members(self):
        yield Member("a", "a@example.com")
        raise DeadlineExceeded(1, "while reading https://directory.example/members")


def test_a_reading_past_its_deadline_says_so_and_names_deadline_s_not_the_credential():
    with pytest.raises(DirectoryError) as failed:
        read_roster(Slow(FakeSettings()))
    message = str(failed.value)
    assert "the deadline_s (1 s) passed while reading" in message
    assert message.endswith("try again later, or raise delivery.directory.deadline_s")
    assert "token_env" not in message


def test_the_roster_counts_what_check_reports():
    roster = Roster("g", [Member("1", "Ann@x.example"), Member("2", ""), Member("3", "ann@x.example"),
                          Member("4", "bob@x.example")], disabled=2)
    assert roster.summary() == "4 members, 1 without an address, 1 duplicate address, 2 disabled left out"


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "state") as s:
        yield s


def test_the_ledger_follows_the_recipients_between_runs(smtp_server, store):
    """Who joined is sent to; who left is `left` and not sent to; who comes back is sent to once;
    what went out (sent, unknown) never changes."""
    box = smtp_server.mailbox
    box.rcpt_codes = {"c@example.com": "451 4.7.1 later", "d@example.com": "451 4.7.1 later"}
    box.vanish_after_data = {"b@example.com"}
    first = deliver(store, EDITION, people("a@example.com", "b@example.com", "c@example.com", "d@example.com"),
                    smtp(smtp_server), plan())
    assert first.counts == {"sent": 1, "unknown": 1, "temp_failed": 2}
    box.rcpt_codes, box.vanish_after_data = {}, set()
    # b (unknown) and c (waiting) left the group; e joined
    second = deliver(store, EDITION, people("a@example.com", "d@example.com", "e@example.com"), smtp(smtp_server),
                     plan())
    rows = {row.recipient: row for row in store.deliveries("2026-10")}
    assert {key: row.status for key, row in rows.items()} == {
        "a@example.com": "sent", "b@example.com": "unknown", "c@example.com": "left", "d@example.com": "sent",
        "e@example.com": "sent"}
    assert "no longer among the recipients" in rows["c@example.com"].last_error
    assert second.counts == {"sent": 3, "unknown": 1, "left": 1} and second.finished
    box.rcpt_codes = {"f@example.com": "451 4.7.1 later"}
    deliver(store, EDITION, people("a@example.com", "c@example.com", "f@example.com"), smtp(smtp_server), plan())
    assert box.count_to("c@example.com") == 1 and box.count_to("a@example.com") == 1  # c came back: sent once
    assert {row.recipient: row.status for row in store.deliveries("2026-10")}["c@example.com"] == "sent"


def test_everyone_left_or_reached_is_a_complete_edition(smtp_server, store):
    box = smtp_server.mailbox
    box.rcpt_codes = {"b@example.com": "451 4.7.1 later"}
    deliver(store, EDITION, people("a@example.com", "b@example.com"), smtp(smtp_server), plan())
    report = deliver(store, EDITION, people("a@example.com", "c@example.com"), smtp(smtp_server), plan())
    assert report.counts == {"sent": 2, "left": 1} and report.complete


def test_a_preview_or_test_copy_knows_the_directorys_fields_without_reading_it(workspace):
    """The sample person of a preview has the fields every member has, empty: a template that writes
    [[ recipient.department ]] previews without a directory call (and without failing)."""
    from newsletter.delivery.mailing import sample_recipient
    from newsletter.workspace import Workspace

    workspace.configure(LDAP + '\n[delivery.directory.attributes]\ncost_center = "extensionAttribute1"\n')
    sample = sample_recipient(Workspace.open(config_path=str(workspace.config), in_memory=True).config)
    assert sample.fields() == {"email": "all@example.com", "name": "", "first_name": "", "department": "",
                               "language": "", "cost_center": ""}


def test_the_examples_in_the_directory_page_are_valid_configurations(tmp_path, monkeypatch):
    """Each [delivery.directory] example of docs/directory.md binds and validates as written
    (its secret files stood in for by one of mode 600)."""
    import re
    import tomllib

    secret = tmp_path / "secret"
    secret.write_text("x")
    secret.chmod(0o600)
    page = (REPO / "docs" / "directory.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```toml\n(.*?)```", page, re.S) if "[delivery.directory]" in b and "type" in b]
    types = []
    for block in blocks:
        block = re.sub(r'(_file = )"[^"]*"', f'\\1"{secret}"', block)
        table = tomllib.loads(block)["delivery"]["directory"]
        if len(table) == 1:  # the page's first example: `type` alone, the keys follow below
            continue
        types.append(load_directory(table, Where(tmp_path / "newsletter.toml")).type)
    assert sorted(types) == ["google_group", "graph_group", "ldap"]


def test_check_without_the_directorys_secret_names_the_directory_and_the_variable(workspace, monkeypatch):
    monkeypatch.delenv("NEWSLETTER_LDAP_PASSWORD", raising=False)
    result = configured(workspace, LDAP)
    assert result.exit_code == 2, result.output
    assert ("delivery.directory (ldap group CN=All Staff,OU=Groups,DC=corp,DC=example on ldap://dc1.corp.example:389)"
            ": environment variable NEWSLETTER_LDAP_PASSWORD is not set") in result.output
