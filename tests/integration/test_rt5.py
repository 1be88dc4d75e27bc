"""Request Tracker 5 for real: started once for this module on 127.0.0.1 with its own config
folder and SQLite database, filled through REST2 with backdated tickets, then collected.

REST2 drops the immutable fields (`Created` among them) from create and update bodies since
Debian's security update 5.0.3+dfsg-3~deb12u7, so `Created` is set in RT's own SQLite database
after the create. The fixture then reads every ticket back through REST2 and fails if a date is
not the one it asked for: a change in RT shows up as a fixture failure, not as a collector bug.

RT sets `Started` itself when a ticket that never left `new` is resolved; ticket D below gets
that Started (its resolution time), as it would in production.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import requests

from newsletter.collect import collect_month
from newsletter.collectors.registry import CollectorRegistry
from newsletter.config import load_source
from newsletter.http import make_session
from tests.conftest import free_port, require_program
from tests.contract.scenario import MONTH, ROWS, Row

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RT_SERVER = "/usr/share/request-tracker5/libexec/rt-server"
RT_SETUP = "/usr/sbin/rt-setup-database-5"
RT_LIB = "/usr/share/request-tracker5/lib"
PASSWORD = "rt-root-password"
HARDWARE = {"C", "D"}  # these go to a second queue


def _site_config(folder: Path, port: int) -> str:
    return "\n".join([
        "Set($rtname, 'rt.test');", "Set($Organization, 'test.local');",
        "Set($CorrespondAddress, 'rt\\@localhost');", "Set($CommentAddress, 'rt-comment\\@localhost');",
        "Set($DatabaseType, 'SQLite');", f"Set($DatabaseName, '{folder}/rt.db');",
        "Set($WebDomain, '127.0.0.1');", f"Set($WebPort, {port});", "Set($WebPath, '');",
        f"Set($WebBaseURL, 'http://127.0.0.1:{port}');", "Set($Timezone, 'UTC');",
        "Set($LogToSyslog, undef);", "Set($LogToSTDERR, 'error');", "Set($MailCommand, 'testfile');", "1;", "",
    ])


# RT 5.0.3 has no REST call that creates an auth token; RT::AuthToken does, from Perl.
MAKE_TOKEN = """
use RT; RT::LoadConfig(); RT::Init();
my $user = RT::CurrentUser->new(RT->SystemUser); $user->Load('root');
my ($ok, $msg, $token) = RT::AuthToken->new(RT->SystemUser)->Create(Owner => $user->Id, Description => 'newsletter');
die "$msg\\n" unless $ok; print $token;
"""


@pytest.fixture(scope="module")
def rt(tmp_path_factory):
    """(base_url, token, database) of a running RT 5; stopped with SIGTERM and waited for afterwards."""
    server = require_program(RT_SERVER, "Request Tracker 5 (request-tracker5, rt5-db-sqlite, rt5-standalone)")
    setup = require_program(RT_SETUP, "Request Tracker 5 database tool (request-tracker5)")
    folder = tmp_path_factory.mktemp("rt5")
    port = free_port()
    (folder / "etc").mkdir()
    (folder / "etc" / "50-test.pm").write_text(_site_config(folder, port))
    (folder / "root-password").write_text(PASSWORD)
    env = {**os.environ, "RT_SITE_CONFIG_DIR": str(folder / "etc")}
    subprocess.run([setup, "--action", "init", "--root-password-file", str(folder / "root-password")],
                   env=env, cwd=folder, check=True, capture_output=True, timeout=120)
    token = subprocess.run(["perl", f"-I{RT_LIB}", "-e", MAKE_TOKEN], env=env, cwd=folder, check=True,
                           capture_output=True, text=True, timeout=60).stdout.strip()
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen([server, "--host", "127.0.0.1", "--port", str(port), "--max-workers", "2"],
                               env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, base, token, folder / "server.log")
        yield base, token, folder / "rt.db"
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # not SIGINT: as root that chowns /var/lib/request-tracker5
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()


def _wait_ready(process: subprocess.Popen, base: str, token: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"rt-server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"{base}/REST/2.0/queues/all", headers={"Authorization": f"token {token}"},
                            timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    pytest.fail(f"rt-server did not answer within 90 s: {log.read_text()[-2000:]}")


def _glide(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _create(api: requests.Session, base: str, row: Row, database: Path) -> str:
    """Backdated Created/Started/Resolved; returns the ticket's REST2 URL. A and B are created open
    and resolved afterwards, the way staff do it (resolving stamps 'now', so Resolved is backdated
    after); the rest in one POST. `Created` is still sent, as an older RT would take it, and then
    written into the database, where the current RT leaves it alone."""
    started = row.first_response or row.resolved  # resolving a `new` ticket starts it
    resolve_later = row.key in ("A", "B")
    status = "open" if resolve_later or (started and not row.resolved) else "resolved" if row.resolved else "new"
    body = {"Queue": "Hardware" if row.key in HARDWARE else "General", "Subject": f"Scenario ticket {row.key}",
            "Content": "Printer on fire", "Created": _glide(row.created), "Status": status}
    if started:
        body["Started"] = _glide(started)
    if row.resolved and not resolve_later:
        body["Resolved"] = _glide(row.resolved)
    answer = api.post(f"{base}/REST/2.0/ticket", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    url = answer.json()["_url"]
    if resolve_later:
        assert api.put(url, json={"Status": "resolved"}, timeout=30).ok
        assert api.put(url, json={"Resolved": _glide(row.resolved)}, timeout=30).ok
    if row.deleted:  # a new ticket cannot be created deleted
        assert api.put(url, json={"Status": "deleted"}, timeout=30).ok
    _backdate_created(database, answer.json()["id"], row.created)
    return url


def _backdate_created(database: Path, ticket_id: str, created) -> None:
    with sqlite3.connect(database, timeout=30) as db:
        changed = db.execute("UPDATE Tickets SET Created = ? WHERE id = ?", (_glide(created), int(ticket_id)))
        assert changed.rowcount == 1, f"ticket {ticket_id} is not in {database}"
    db.close()


def _read_back(api: requests.Session, url: str) -> dict[str, str]:
    answer = api.get(url, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _rest2(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _assert_dates_as_asked(api: requests.Session, url: str, row: Row) -> None:
    """The fixture's own check: RT holds the dates the scenario asked for, or the test stops here."""
    ticket = _read_back(api, url)
    started = row.first_response or row.resolved
    # Deleting stamps Resolved with the time of deletion: a deleted ticket must not count at all,
    # so only its Created and Started are checked.
    resolved = row.resolved if row.resolved and not row.deleted else None
    expected = {"Created": _rest2(row.created), "Started": _rest2(started) if started else None,
                "Resolved": _rest2(resolved) if resolved else None}
    got = {field: ticket.get(field) for field in expected if expected[field] is not None}
    wanted = {field: value for field, value in expected.items() if value is not None}
    assert got == wanted, (f"fixture: RT did not keep the dates asked for ticket {row.key}: {got} != {wanted}; "
                           "see ../shared/reference/rt5.md for how REST2 treats each field")


@pytest.fixture(scope="module")
def filled(rt):
    base, token, database = rt
    api = requests.Session()
    api.headers["Authorization"] = f"token {token}"
    assert api.post(f"{base}/REST/2.0/queue", json={"Name": "Hardware"}, timeout=30).status_code == 201
    for row in ROWS:
        url = _create(api, base, row, database)
        _assert_dates_as_asked(api, url, row)
    return base, token


def _collect(base: str, tmp_path: Path, monkeypatch, token: str):
    monkeypatch.setenv("RT_TOKEN", token)
    file = tmp_path / "helpdesk.toml"
    file.write_text(f'type = "rt"\nbase_url = "{base}"\ntoken_env = "RT_TOKEN"\npage_size = 3\n')
    source = load_source(file, CollectorRegistry.from_entry_points())
    collector = CollectorRegistry.from_entry_points().get("rt")(source.settings, name=source.name,
                                                              session=make_session())
    collector.validate()
    [result] = collect_month([(source, collector)], MONTH)
    return result


def test_every_number_from_a_real_rt(filled, tmp_path, monkeypatch):
    base, token = filled
    result = _collect(base, tmp_path, monkeypatch, token)
    assert result.status == "ok", result.error
    metrics = result.metrics
    # October 2026 in Berlin (see tests/contract/scenario.py): opened B C D E, resolved A B E,
    # open at the end C, D (resolved 1 Nov, Berlin) and G; X was deleted, H and I fall outside.
    assert (metrics["opened"], metrics["resolved"], metrics["backlog_end"]) == (4, 3, 3)
    # Started of tickets opened in October: E 300, B 600, C 1800, D 991800 (11 d 11.5 h, when it
    # was resolved): median the mean of the two middle values (600 + 1800) / 2, p90 rank 4.
    assert metrics["first_response_median_s"] == 1200 and metrics["first_response_p90_s"] == 991800
    # Resolved in October: E 1200, B 7200, A 129600.
    assert metrics["resolution_median_s"] == 7200 and metrics["resolution_p90_s"] == 129600
    assert metrics["sla_met_pct"] is None and metrics["csat_pct"] is None  # RT keeps neither
    assert metrics["csat_responses"] is None
    assert metrics["top_categories"] == [["General", 2], ["Hardware", 2]]  # equal counts: by name


def test_wrong_token_is_a_failed_source_naming_the_variable(filled, tmp_path, monkeypatch):
    base, _ = filled
    result = _collect(base, tmp_path, monkeypatch, "1-14-00000000000000000000000000000000")
    assert result.status == "failed"
    assert "401" in result.error and "RT_TOKEN" in result.error
    assert "00000000000000000000000000000000" not in result.error
