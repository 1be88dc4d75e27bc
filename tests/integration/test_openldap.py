"""The `ldap` directory against a real OpenLDAP (Debian's slapd) on 127.0.0.1, with its own config.

The test's slapd: an mdb database in tmp_path, the core/cosine/inetorgperson schemas, StartTLS with
a throwaway CA, 1,000 people and a few outsiders, nested groups with a cycle, a disabled account
(`employeeType: disabled`, matched by `exclude_filter`), one person without an address and two
with the same address. Its size limit is OpenLDAP's default 500, as AD's is 1000: only paging
reads the whole group. The service account may page without a total limit
(`limits ... size.prtotal=unlimited`), as an administrator grants it; a second account may not.
slapd logs every operation (`-d stats`), so a test sees how many pages a search took.
"""

from __future__ import annotations

import os
import re
import subprocess
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import trustme

from newsletter.binding import Secret
from newsletter.delivery.directories.base import DirectoryError, read_roster
from newsletter.delivery.directories.ldap import Ldap, LdapSettings
from tests.conftest import free_port, require_program

SUFFIX = "dc=example,dc=test"
ADMIN_DN, ADMIN_PASSWORD = f"cn=admin,{SUFFIX}", "admin-pw-for-the-test"
SERVICE_DN, SERVICE_PASSWORD = f"cn=newsletter,ou=services,{SUFFIX}", "svc-Pa55-w0rd-ldap"
LIMITED_DN = f"cn=limited,ou=services,{SUFFIX}"  # no paging beyond the size limit
PEOPLE = 1000
_SEARCH = re.compile(r'(conn=\d+ op=\d+) SRCH base=.* filter="(.*)"$', re.M)
_ANSWER = re.compile(r"(conn=\d+ op=\d+) SEARCH RESULT .* nentries=(\d+) ")
_CLOSED = re.compile(r"(conn=\d+) fd=\d+ closed")


@dataclass
class Slapd:
    port: int  # StartTLS
    ca_file: Path
    folder: Path
    ldaps_port: int = 0  # TLS from the first byte

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        """slapd's stderr: its stats log (`-d stats`), one line per operation and per answer."""
        return self.folder / "slapd.log"

    def pages_answered(self, since: int, timeout_s: float = 5.0) -> dict[str, list[int]]:
        """The entries slapd sent in each answer to each search filter, from the log after byte `since`
        (a paged search is one operation a page). Read once every connection that searched is closed:
        slapd writes an answer's line after sending it."""
        ends = time.monotonic() + timeout_s
        while True:
            text = self.log.read_bytes()[since:].decode()
            searches = _SEARCH.findall(text)
            closed = set(_CLOSED.findall(text))
            if all(op.split()[0] in closed for op, _ in searches) or time.monotonic() > ends:
                break
            time.sleep(0.02)
        answered = dict(_ANSWER.findall(text))
        pages: dict[str, list[int]] = {}
        for op, search_filter in searches:
            if op in answered:
                pages.setdefault(search_filter, []).append(int(answered[op]))
        return pages

    def modify(self, ldif: str, *, add: bool = False) -> None:
        """ldapadd / ldapmodify as the rootdn, over StartTLS (-ZZ: the server takes no bind in clear)."""
        tool = require_program("ldapadd" if add else "ldapmodify")
        subprocess.run([tool, "-x", "-ZZ", "-H", self.url, "-D", ADMIN_DN, "-w", ADMIN_PASSWORD],
                       input=ldif, text=True, check=True, capture_output=True, timeout=30,
                       env={**os.environ, "LDAPTLS_CACERT": str(self.ca_file)})


def person(uid: str, *, mail: str | None = None, department: str = "Sales", extra: str = "") -> str:
    mail_line = f"mail: {mail}\n" if mail else ""
    return (f"dn: uid={uid},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: Person {uid}\n"
            f"sn: {uid}\ngivenName: Given{uid}\ndisplayName: Person {uid}\nou: {department}\n"
            f"preferredLanguage: de\n{mail_line}{extra}\n")


def group(name: str, members: list[str]) -> str:
    lines = "".join(f"member: {m}\n" for m in members)
    return f"dn: cn={name},ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: {name}\n{lines}\n"


def uid_dn(uid: str) -> str:
    return f"uid={uid},ou=people,{SUFFIX}"


def directory_ldif() -> str:
    """1,000 people in nested groups (staff > engineering > platform > staff again), 50 outsiders."""
    entries = [f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n"]
    for ou in ("people", "groups", "services"):
        entries.append(f"dn: ou={ou},{SUFFIX}\nobjectClass: organizationalUnit\nou: {ou}\n\n")
    for dn, password in ((SERVICE_DN, SERVICE_PASSWORD), (LIMITED_DN, SERVICE_PASSWORD)):
        cn = dn.split(",")[0][3:]
        entries.append(f"dn: {dn}\nobjectClass: person\nobjectClass: simpleSecurityObject\ncn: {cn}\nsn: {cn}\n"
                       f"userPassword: {password}\n\n")
    for i in range(PEOPLE):
        uid = f"p{i:04d}"
        mail = {998: None, 997: "P0996@Example.test"}.get(i, f"{uid}@example.test")
        extra = "employeeType: disabled\n" if i == 500 else ""
        entries.append(person(uid, mail=mail, department="Engineering" if i >= 400 else "Sales", extra=extra))
    entries += [person(f"x{i:04d}", mail=f"x{i:04d}@example.test") for i in range(50)]
    groups = f"ou=groups,{SUFFIX}"
    entries.append(group("sales", [uid_dn(f"p{i:04d}") for i in range(400)]))
    entries.append(group("platform", [uid_dn(f"p{i:04d}") for i in range(700, PEOPLE)]))  # staff added below
    entries.append(group("engineering", [*(uid_dn(f"p{i:04d}") for i in range(400, 700)), f"cn=platform,{groups}"]))
    entries.append(group("staff", [f"cn=sales,{groups}", f"cn=engineering,{groups}", uid_dn("p0000")]))
    return "".join(entries)


def slapd_config(folder: Path, cert: Path, key: Path, ca: Path) -> str:
    schema = Path("/etc/ldap/schema")
    return textwrap.dedent(f"""\
        include {schema / 'core.schema'}
        include {schema / 'cosine.schema'}
        include {schema / 'inetorgperson.schema'}
        modulepath /usr/lib/ldap
        moduleload back_mdb
        pidfile {folder / 'slapd.pid'}
        TLSCACertificateFile {ca}
        TLSCertificateFile {cert}
        TLSCertificateKeyFile {key}
        security simple_bind=128
        access to attrs=userPassword by anonymous auth by * none
        access to * by users read by * none
        database mdb
        suffix "{SUFFIX}"
        rootdn "{ADMIN_DN}"
        rootpw {ADMIN_PASSWORD}
        directory {folder / 'db'}
        maxsize 67108864
        dbnosync
        limits dn.exact="{SERVICE_DN}" size.prtotal=unlimited
        """)


@pytest.fixture(scope="module")
def slapd(tmp_path_factory) -> Iterator[Slapd]:
    program = require_program("/usr/sbin/slapd", "the OpenLDAP server (Debian package slapd)")
    require_program("ldapadd", "the OpenLDAP tools (Debian package ldap-utils)")
    with running_slapd(program, tmp_path_factory.mktemp("slapd")) as server:
        yield server


@contextmanager
def running_slapd(program: str, folder: Path) -> Iterator[Slapd]:
    """slapd with the test's config and directory in `folder` (empty), stopped on leaving
    (benchmarks/directory.py starts the same one)."""
    (folder / "db").mkdir()
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = {name: folder / f"{name}.pem" for name in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    cert.private_key_pem.write_to_path(str(paths["key"]))
    (folder / "slapd.conf").write_text(slapd_config(folder, paths["cert"], paths["key"], paths["ca"]))
    port, ldaps_port = free_port(), free_port()
    log = (folder / "slapd.log").open("w")
    # also on 127.0.0.2: the same server by an address its certificate does not name
    urls = f"ldap://127.0.0.1:{port}/ ldap://127.0.0.2:{port}/ ldaps://127.0.0.1:{ldaps_port}/"
    process = subprocess.Popen([program, "-h", urls, "-f", str(folder / "slapd.conf"), "-d", "stats"],
                               stdout=log, stderr=subprocess.STDOUT)
    server = Slapd(port, paths["ca"], folder, ldaps_port)
    try:
        _wait_until_up(server, process)
        server.modify(directory_ldif(), add=True)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _wait_until_up(server: Slapd, process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    search = require_program("ldapsearch")
    ends = time.monotonic() + timeout_s
    while time.monotonic() < ends:
        if process.poll() is not None:
            raise AssertionError(f"slapd exited: {(server.folder / 'slapd.log').read_text()[-2000:]}")
        probe = subprocess.run([search, "-x", "-H", server.url, "-s", "base", "-b", "", "namingContexts"],
                               capture_output=True, timeout=5)
        if probe.returncode == 0:
            return
        time.sleep(0.05)
    raise AssertionError("slapd did not answer within 10 s")


@pytest.fixture
def settings(slapd, monkeypatch) -> LdapSettings:
    monkeypatch.setenv("LDAP_TEST_PASSWORD", SERVICE_PASSWORD)
    return service_settings(slapd)


def service_settings(slapd: Slapd) -> LdapSettings:
    """The service account reading the staff group over StartTLS, 200 entries a page; its password
    from LDAP_TEST_PASSWORD."""
    return LdapSettings(host="127.0.0.1", port=slapd.port, security="starttls", ca_file=slapd.ca_file,
                        group_dn=f"cn=staff,ou=groups,{SUFFIX}", base_dn=SUFFIX, bind_dn=SERVICE_DN,
                        bind_password=Secret(env="LDAP_TEST_PASSWORD"), exclude_filter="(employeeType=disabled)",
                        attributes={"department": "ou"}, page_size=200)


def test_the_whole_nested_group_is_read_page_by_page_over_starttls(settings, slapd):
    directory = Ldap(settings)
    directory.validate()
    since = slapd.log.stat().st_size
    roster = read_roster(directory)
    ids = {m.id for m in roster.members}
    # everyone of the nesting (staff > sales, engineering > platform > staff) once; no outsider
    assert len(roster.members) == PEOPLE - 1 and len(ids) == PEOPLE - 1
    assert not any(i.startswith("uid=x") for i in ids)
    assert roster.disabled == 1 and uid_dn("p0500") not in ids  # employeeType: disabled
    assert [m.id for m in roster.without_address] == [uid_dn("p0998")]
    assert roster.duplicates == ["p0996@example.test"]
    first = next(m for m in roster.members if m.id == uid_dn("p0401"))
    assert (first.email, first.name) == ("p0401@example.test", "Person p0401")
    assert first.fields == {"first_name": "Givenp0401", "department": "Engineering", "language": "de"}
    # past the server's size limit (500) only in pages of page_size, one operation each (its speed:
    # benchmarks/directory.py)
    pages = max(slapd.pages_answered(since).values(), key=sum)
    assert sum(pages) > PEOPLE and len(pages) > 1 and max(pages) == settings.page_size, pages


def test_ldaps_works_the_same(settings, slapd):
    roster = read_roster(Ldap(replace(settings, security="ldaps", port=slapd.ldaps_port)))
    assert len(roster.members) == PEOPLE - 1


def test_ldaps_checks_the_certificate_too(settings, slapd):
    with pytest.raises(DirectoryError) as failed:
        read_roster(Ldap(replace(settings, security="ldaps", port=slapd.ldaps_port, ca_file=None)))
    assert f"TLS with ldaps://127.0.0.1:{slapd.ldaps_port} failed" in str(failed.value)


def test_without_paging_past_the_size_limit_the_reading_fails_whole(settings):
    """An account the server stops at 500 entries gets an error, never half the company."""
    with pytest.raises(DirectoryError) as failed:
        read_roster(Ldap(replace(settings, bind_dn=LIMITED_DN)))
    message = str(failed.value)
    assert "size limit" in message and "cn=staff" in message


def test_a_wrong_password_names_the_directory_and_the_key(settings, monkeypatch):
    monkeypatch.setenv("LDAP_TEST_PASSWORD", "not-the-password")
    with pytest.raises(DirectoryError) as failed:
        read_roster(Ldap(settings))
    message = str(failed.value)
    assert "delivery.directory (ldap group cn=staff" in message
    assert "delivery.directory.bind_password_env (LDAP_TEST_PASSWORD)" in message
    assert "invalid credentials" in message and "not-the-password" not in message


def test_an_untrusted_certificate_stops_before_the_password_is_sent(settings):
    with pytest.raises(DirectoryError) as failed:
        read_roster(Ldap(replace(settings, ca_file=None)))
    assert "TLS with ldap://127.0.0.1" in str(failed.value) and "ca_file" in str(failed.value)


def test_a_host_name_that_is_not_in_the_certificate_is_refused(settings, slapd):
    """The certificate is for 127.0.0.1 and localhost; the same server by another loopback address is not it."""
    with pytest.raises(DirectoryError) as failed:
        read_roster(Ldap(replace(settings, host="127.0.0.2")))
    assert "TLS with ldap://127.0.0.2" in str(failed.value)


def test_a_group_that_does_not_exist_fails(settings):
    with pytest.raises(DirectoryError) as failed:
        read_roster(Ldap(replace(settings, group_dn=f"cn=nobody,ou=groups,{SUFFIX}")))
    assert "has no such entry" in str(failed.value) and "check group_dn" in str(failed.value)


def test_a_group_without_anyone_enabled_fails(settings, slapd):
    slapd.modify(group("only-disabled", [uid_dn("p0500")]), add=True)
    with pytest.raises(DirectoryError) as failed:
        read_roster(Ldap(replace(settings, group_dn=f"cn=only-disabled,ou=groups,{SUFFIX}")))
    assert "the group has no enabled members" in str(failed.value)


def test_check_and_send_read_the_directory_and_the_ledger_follows_the_group(workspace, slapd, smtp_server):
    """`check` counts; a send goes to who is a member then; a later run in the retry window adds who
    joined and sends nobody who left."""
    groups = f"ou=groups,{SUFFIX}"
    slapd.modify(group("pilot", [uid_dn("p0001"), uid_dn("p0002"), uid_dn("p0003"), f"cn=pilot-sub,{groups}"])
                 + group("pilot-sub", [uid_dn("p0004"), uid_dn("p0500"), uid_dn("p0998")]), add=True)
    password = workspace.root / "ldap-password"
    password.write_text(SERVICE_PASSWORD + "\n")
    password.chmod(0o600)
    workspace.configure(f"""
        [delivery.smtp]
        host = "127.0.0.1"
        port = {smtp_server.port}
        security = "none"

        [delivery.directory]
        type = "ldap"
        host = "127.0.0.1"
        port = {slapd.port}
        ca_file = "{slapd.ca_file}"
        group_dn = "cn=pilot,{groups}"
        base_dn = "{SUFFIX}"
        bind_dn = "{SERVICE_DN}"
        bind_password_file = "ldap-password"
        exclude_filter = "(employeeType=disabled)"
        """, base=without_lists(workspace, 'transport = "smtp"\nretry_rounds = 0'))
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    checked = workspace.invoke("check")
    assert checked.exit_code == 0, checked.output
    assert "directory: 5 members, 1 without an address, 0 duplicate addresses, 1 disabled left out" in checked.output
    assert "recipients: 4 (1 skipped, see above)" in checked.output
    smtp_server.mailbox.rcpt_codes["p0003@example.test"] = "451 4.7.1 try again later"
    first = workspace.invoke("send", "--month", "2026-10")
    assert first.exit_code == 1, first.output  # p0003 refused for now
    assert sorted(r for _, rcpts in smtp_server.mailbox.envelopes for r in rcpts) == [
        "p0001@example.test", "p0002@example.test", "p0004@example.test"]
    # p0003 leaves the group before the next run, p0010 joins it
    slapd.modify(f"dn: cn=pilot,{groups}\nchangetype: modify\ndelete: member\nmember: {uid_dn('p0003')}\n-\n"
                 f"add: member\nmember: {uid_dn('p0010')}\n")
    smtp_server.mailbox.rcpt_codes.clear()
    second = workspace.invoke("send", "--month", "2026-10")
    assert second.exit_code == 0, second.output
    sent = [r for _, rcpts in smtp_server.mailbox.envelopes for r in rcpts]
    assert sorted(sent) == ["p0001@example.test", "p0002@example.test", "p0004@example.test", "p0010@example.test"]
    history = workspace.invoke("history")
    assert "left: p0003@example.test" in history.output


def test_a_directory_that_cannot_be_read_fails_the_send_before_anyone_is_mailed(workspace, slapd):
    workspace.configure(f"""
        [delivery.directory]
        type = "ldap"
        host = "127.0.0.1"
        port = {slapd.port}
        ca_file = "{slapd.ca_file}"
        group_dn = "cn=staff,ou=groups,{SUFFIX}"
        base_dn = "{SUFFIX}"
        bind_dn = "{SERVICE_DN}"
        bind_password_env = "LDAP_TEST_PASSWORD"
        """, base=without_lists(workspace))
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    result = workspace.invoke("send", "--month", "2026-10", env={"LDAP_TEST_PASSWORD": "wrong-password-here"})
    assert result.exit_code == 1, result.output
    assert "delivery.directory (ldap group cn=staff" in result.output
    assert "bind_password_env (LDAP_TEST_PASSWORD)" in result.output and "wrong-password-here" not in result.output
    assert not list((workspace.state / "outbox").glob("*/*.eml"))


def without_lists(workspace, transport: str = 'transport = "outbox"') -> str:
    """The workspace's config with no distribution list: the directory alone says who gets it."""
    text = workspace.config.read_text().replace('to = ["all@example.com"]', "to = []")
    return text.replace('transport = "outbox"', transport)
