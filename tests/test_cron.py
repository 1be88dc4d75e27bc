"""Unattended operation: the schedule, one run at a time, a killed run, owners told, the ping URL."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from newsletter.collectors.registry import CollectorRegistry
from newsletter.config import load_config
from newsletter.errors import NewsletterError, NothingToDo
from newsletter.operations import scheduled_month
from newsletter.period import Month
from newsletter.store import Store
from tests.fixtures.workspace import BASE_CONFIG

BERLIN = ZoneInfo("Europe/Berlin")
OCT = Month.parse("2026-10", BERLIN)


def smtp_config(server, *, recipients: str | None = None, extra: str = "", connections: int = 1) -> str:
    who = f'recipients = "{recipients}"\nto = []' if recipients else 'to = ["all@example.com"]'
    return f"""\
[newsletter]
timezone = "Europe/Berlin"
state_dir = "state"

[delivery]
from = "IT <it@example.com>"
{who}
transport = "smtp"
max_errors = 3
retry_rounds = 0
{extra}
[delivery.smtp]
host = "{server.host}"
port = {server.port}
security = "none"
timeout_s = 10
connections = {connections}

[run]
max_days_late = 4000
owners = ["owner@example.com"]
ping_url_env = "PING_URL"
"""


def people_csv(folder: Path, count: int) -> Path:
    path = folder / "people.csv"
    lines = ["email,name,department"] + [f"p{i:04d}@example.com,Person {i},Dept {i % 7}" for i in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# the schedule ---------------------------------------------------------------------------------


@pytest.fixture
def config(workspace):
    workspace.configure(base=BASE_CONFIG.replace("max_days_late = 4000", "send_day = 2\nmax_days_late = 10"))
    return load_config(workspace.config, CollectorRegistry.from_entry_points())


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=BERLIN)


def test_not_due_before_send_day_then_due_then_late(config, tmp_path):
    store = Store.open(tmp_path)
    with pytest.raises(NothingToDo, match="due on 2026-11-02"):
        scheduled_month(config, store, at("2026-11-01T12:00"), OCT, force=False)
    assert scheduled_month(config, store, at("2026-11-02T00:01"), OCT, force=False) == OCT
    assert scheduled_month(config, store, at("2026-11-12T23:00"), OCT, force=False) == OCT  # missed days: caught up
    with pytest.raises(NewsletterError, match=r"11 days late .* --force"):
        scheduled_month(config, store, at("2026-11-13T08:00"), OCT, force=False)
    assert store.edition("2026-10").status == "skipped"
    with pytest.raises(NothingToDo, match="skipped as too late"):  # later runs stay quiet
        scheduled_month(config, store, at("2026-11-14T08:00"), OCT, force=False)
    assert scheduled_month(config, store, at("2026-11-14T08:00"), OCT, force=True) == OCT
    with pytest.raises(NothingToDo, match="due on"):  # a month not over is never sent
        scheduled_month(config, store, at("2026-10-30T08:00"), OCT, force=True)


def test_an_edition_being_sent_is_finished_however_late(config, tmp_path):
    store = Store.open(tmp_path)
    store.save_edition("2026-10", "failed")
    store.queue("2026-10", ["a@example.com", "b@example.com"])
    store.mark("2026-10", "a@example.com", "sent")  # someone has it: the rest get it too
    assert scheduled_month(config, store, at("2026-12-20T08:00"), OCT, force=False) == OCT
    store.save_edition("2026-10", "sent")
    with pytest.raises(NothingToDo, match="already sent"):
        scheduled_month(config, store, at("2026-11-03T08:00"), OCT, force=False)


def test_an_edition_that_reached_nobody_is_late_like_one_never_sent(config, tmp_path):
    # the mail server unreachable from 2 to 25 November: nobody has October, so it is not sent 24 days late
    store = Store.open(tmp_path)
    store.save_edition("2026-10", "failed")
    store.queue("2026-10", ["a@example.com", "b@example.com"])
    store.mark("2026-10", "a@example.com", "temp_failed", attempted=True)
    assert scheduled_month(config, store, at("2026-11-12T08:00"), OCT, force=False) == OCT  # still in time
    with pytest.raises(NewsletterError, match=r"24 days late .* --force"):
        scheduled_month(config, store, at("2026-11-26T08:00"), OCT, force=False)
    assert store.edition("2026-10").status == "skipped"
    assert scheduled_month(config, store, at("2026-11-27T08:00"), OCT, force=True) == OCT


def test_a_run_of_an_edition_that_reached_nobody_for_weeks_is_refused_as_late(workspace, smtp_server, clock):
    # the same through `run`: its first try reached nobody, the one 24 days later mails nobody
    workspace.configure(smtp_config(smtp_server).replace("max_days_late = 4000", "max_days_late = 10"), base="")
    smtp_server.mailbox.rcpt_codes = {"all@example.com": "451 4.7.1 Try again later"}
    clock.now = datetime(2026, 11, 2, 7, tzinfo=UTC)
    assert workspace.invoke("run", "--month", "2026-10").exit_code == 1
    smtp_server.mailbox.rcpt_codes = {}
    clock.now = datetime(2026, 11, 26, 7, tzinfo=UTC)
    late = workspace.invoke("run", "--month", "2026-10")
    assert late.exit_code == 1 and "edition 2026-10 is 25 days late" in late.stderr, late.output
    assert [rcpts for _, rcpts in smtp_server.mailbox.envelopes if rcpts != ["owner@example.com"]] == []


# owners and the ping URL ------------------------------------------------------------------------


@pytest.fixture
def ping_server() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ping/5f1e-secret-uuid", hits
    server.shutdown()
    server.server_close()


def test_a_failed_run_emails_the_owners_and_pings_fail(workspace, smtp_server, ping_server):
    url, hits = ping_server
    box = smtp_server.mailbox
    box.rcpt_codes = {"all@example.com": "550 5.7.1 Relaying denied"}
    workspace.configure(smtp_config(smtp_server, extra="max_errors = 1\n").replace("max_errors = 3\n", ""), base="")
    result = workspace.invoke("run", "--month", "2026-10", env={"PING_URL": url})
    assert result.exit_code == 1, result.output
    assert "stopped after 1 recipients failed" in result.output
    assert hits == ["/ping/5f1e-secret-uuid/start", "/ping/5f1e-secret-uuid/fail"]
    assert [rcpts for _, rcpts in box.envelopes] == [["owner@example.com"]]
    report = box.messages[0]
    assert "failed" in report["Subject"] and "stopped after 1 recipients failed" in report["Subject"]
    body = report.get_content()
    assert "Edition 2026-10: 1 perm_failed" in body and "newsletter history" in body
    assert "perm_failed: all@example.com (550 5.7.1 Relaying denied)" in body  # who, and what the server said
    delivery = json.loads((workspace.state / "archive" / "2026-10" / "delivery.json").read_text())
    assert delivery["counts"] == {"perm_failed": 1}


def test_a_good_run_pings_start_and_success_and_tells_nobody(workspace, smtp_server, ping_server):
    url, hits = ping_server
    workspace.configure(smtp_config(smtp_server), base="")
    result = workspace.invoke("run", "--month", "2026-10", env={"PING_URL": url})
    assert result.exit_code == 0, result.output
    assert hits == ["/ping/5f1e-secret-uuid/start", "/ping/5f1e-secret-uuid"]
    assert [rcpts for _, rcpts in smtp_server.mailbox.envelopes] == [["all@example.com"]]
    archive = workspace.state / "archive" / "2026-10"
    assert {p.name for p in archive.iterdir()} == {"newsletter.html", "newsletter.txt", "edition.json",
                                                    "delivery.json", "view.html", "web.html", "images"}
    again = workspace.invoke("run", "--month", "2026-10", env={"PING_URL": url})
    assert again.exit_code == 3 and "already sent" in again.output
    assert len(smtp_server.mailbox.envelopes) == 1


def test_history_lists_unknown_and_resend_unknown_sends_to_them_on_purpose(workspace, smtp_server, tmp_path):
    csv = people_csv(tmp_path, 5)
    box = smtp_server.mailbox
    box.vanish_after_data = {"p0002@example.com"}
    workspace.configure(smtp_config(smtp_server, recipients=str(csv)), base="")
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    first = workspace.invoke("send", "--month", "2026-10")
    assert first.exit_code == 1 and "4 sent, 1 unknown" in first.output
    history = workspace.invoke("history")
    assert "unknown: p0002@example.com (connection lost after the data was sent" in history.output
    box.vanish_after_data = set()
    assert workspace.invoke("send", "--month", "2026-10").exit_code == 3
    assert box.count_to("p0002@example.com") == 1
    resend = workspace.invoke("send", "--month", "2026-10", "--resend-unknown")
    assert resend.exit_code == 0, resend.output
    assert box.count_to("p0002@example.com") == 2 and len(box.envelopes) == 6
    assert box.messages[-1].get_body(("plain",)) is not None


def test_history_names_the_people_refused_for_good_and_for_now_with_the_servers_answer(workspace, smtp_server,
                                                                                      tmp_path):
    csv = people_csv(tmp_path, 5)
    box = smtp_server.mailbox
    box.rcpt_codes = {"p0001@example.com": "550 5.1.1 <p0001@example.com>: Recipient address rejected",
                      "p0003@example.com": "452 4.2.2 Mailbox over quota, try later"}
    workspace.configure(smtp_config(smtp_server, recipients=str(csv)), base="")
    assert workspace.invoke("run", "--month", "2026-10").exit_code == 1
    history = workspace.invoke("history").output
    assert "1 perm_failed, 3 sent, 1 temp_failed" in history
    lines = [line.strip() for line in history.splitlines() if line.startswith("    ")]
    assert lines == ["perm_failed: p0001@example.com (550 5.1.1 <p0001@example.com>: Recipient address rejected)",
                     "temp_failed: p0003@example.com (452 4.2.2 Mailbox over quota, try later)"]


FIRST_NAME_HEADER = ('{% extends "default:newsletter.mjml.j2" %}\n{% block header %}<mj-section><mj-column>'
                   "<mj-text>Hello [[ recipient.name.split()[0] ]]</mj-text></mj-column></mj-section>{% endblock %}\n")


def test_a_field_that_fails_for_one_person_holds_back_that_person_alone(workspace, smtp_server, tmp_path):
    csv = people_csv(tmp_path, 6)
    csv.write_text(csv.read_text().replace("p0003@example.com,Person 3,", "p0003@example.com,,"), encoding="utf-8")
    config = smtp_config(smtp_server, recipients=str(csv)).replace("[newsletter]\n", '[newsletter]\ntheme = "brand"\n')
    workspace.configure(config, base="")
    workspace.write("templates/brand/newsletter.mjml.j2", FIRST_NAME_HEADER)
    box = smtp_server.mailbox
    first = workspace.invoke("run", "--month", "2026-10")
    assert first.exit_code == 1, first.output
    assert ("p0003@example.com: not sent: per-person field in the HTML part: list object has no element 0 "
            "(people.csv:5)") in first.stderr
    assert "5 sent, 1 temp_failed, 1 held back (their per-person fields failed)" in first.stdout
    assert sorted(r for _, (r,) in box.envelopes if r != "owner@example.com") == [
        f"p{i:04d}@example.com" for i in (0, 1, 2, 4, 5)]
    to_p4 = next(m for m in box.messages if m["To"] == "Person 4 <p0004@example.com>")
    assert "Hello Person" in to_p4.get_body(("html",)).get_content()
    history = workspace.invoke("history").output
    assert ("    temp_failed: p0003@example.com (not sent: per-person field in the HTML part: list object has no "
            "element 0 (people.csv:5); fix the row") in history
    csv.write_text(csv.read_text().replace("p0003@example.com,,", "p0003@example.com,Pat Doe,"), encoding="utf-8")
    second = workspace.invoke("run", "--month", "2026-10")
    assert second.exit_code == 0, second.output
    assert all(box.count_to(f"p{i:04d}@example.com") == 1 for i in range(6))
    assert "Hello Pat" in box.messages[-1].get_body(("html",)).get_content()
    assert box.messages[-1]["To"] == "Pat Doe <p0003@example.com>"


# real processes --------------------------------------------------------------------------------


def spawn(workspace, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "newsletter", *args, "--config", str(workspace.config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize("connections", [1, 3], ids=["1-connection", "3-connections"])
def test_two_runs_started_together_exactly_one_sends(workspace, smtp_server, tmp_path, connections):
    csv = people_csv(tmp_path, 30)
    workspace.configure(smtp_config(smtp_server, recipients=str(csv), extra="rate_per_s = 15\n",
                                    connections=connections), base="")
    runs = [spawn(workspace, "run", "--month", "2026-10") for _ in range(2)]
    outcomes = sorted((run.wait(timeout=120), run.stderr.read()) for run in runs)
    assert [code for code, _ in outcomes] == [0, 3], outcomes
    assert "holds" in outcomes[1][1] and "pid" in outcomes[1][1]
    box = smtp_server.mailbox
    assert len(box.envelopes) == 30
    assert all(box.count_to(f"p{i:04d}@example.com") == 1 for i in range(30))


def test_a_run_while_another_holds_the_lock_says_who_even_under_quiet(workspace):
    # cron mails what `-q run` prints: a run that could not start must say why and who is in the way
    from click.testing import CliRunner

    from newsletter.cli import cli
    from newsletter.operations import lock
    from newsletter.workspace import Workspace

    holder = Workspace.open(config_path=str(workspace.config))
    with lock(holder.config.state_dir):
        result = CliRunner().invoke(cli, ["-q", "run", "--config", str(workspace.config), "--month", "2026-10"])
    holder.store.close()
    assert result.exit_code == 3, result.output
    (line,) = result.stderr.splitlines()
    assert f"pid {os.getpid()}" in line and f"on {socket.gethostname()}" in line and " since 20" in line, line
    assert str(workspace.state / "newsletter.lock") in line
    assert not (workspace.state / "outbox").exists(), "nothing was sent"
    quiet = CliRunner().invoke(cli, ["-q", "run", "--config", str(workspace.config), "--month", "2026-10"])
    assert quiet.exit_code == 0
    again = CliRunner().invoke(cli, ["-q", "run", "--config", str(workspace.config), "--month", "2026-10"])
    assert again.exit_code == 3 and again.stderr == "", "'already sent' stays quiet under -q"


@pytest.mark.parametrize("code", [errno.ENOLCK, errno.EOPNOTSUPP])
def test_a_state_dir_on_a_file_system_without_locks_is_one_line_naming_it(workspace, monkeypatch, code):
    # some network file systems refuse flock(): the run says where and what to do, and sends nothing
    def refuse(handle, operation):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(fcntl, "flock", refuse)
    result = workspace.invoke("run", "--month", "2026-10")
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert str(workspace.state) in line and os.strerror(code) in line and "state_dir" in line, line
    assert not (workspace.state / "outbox").exists(), "nothing was sent"


@pytest.mark.parametrize("pipelining", [False, True], ids=["stepwise", "pipelined"])
@pytest.mark.parametrize("connections", [1, 4], ids=["1-connection", "4-connections"])
def test_a_run_killed_midway_and_run_again_sends_everyone_exactly_once(workspace, smtp_server, tmp_path, connections,
                                                                      pipelining):
    total = 1000
    csv = people_csv(tmp_path, total)
    workspace.configure(smtp_config(smtp_server, recipients=str(csv), connections=connections), base="")
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    box = smtp_server.mailbox
    box.pipelining = pipelining  # the next envelope goes out with the data: still nothing recorded for it
    victim = spawn(workspace, "send", "--month", "2026-10")
    deadline = time.monotonic() + 120
    kill_after = random.randint(100, 600)  # a random moment: building, envelope, data or the ledger's write
    while len(box.envelopes) < kill_after and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(random.random() / 200)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = len(box.envelopes)
    assert kill_after <= killed_at < total, f"the run should have been killed midway (after {kill_after})"
    again = spawn(workspace, "send", "--month", "2026-10")
    _, err = again.communicate(timeout=300)
    with Store.open(workspace.state) as store:
        ledger = {row.recipient: row.status for row in store.deliveries("2026-10")}
    unknown = {who for who, status in ledger.items() if status == "unknown"}
    assert len(ledger) == total and set(ledger.values()) <= {"sent", "unknown"}
    assert len(unknown) <= connections  # at most the one each connection had in flight when the kill came
    assert again.returncode == (1 if unknown else 0), err
    for i in range(total):
        who = f"p{i:04d}@example.com"
        copies = box.count_to(who)
        assert copies == 1 or (who in unknown and copies <= 1), (who, copies, ledger[who])


def test_a_full_disk_is_one_line_and_exit_1_not_a_traceback(workspace):
    # /dev/full answers every write with "No space left on device", as a full disk does
    from click.testing import CliRunner

    from newsletter.cli import cli

    full = workspace.state / "archive" / "2026-10" / "view.html"
    full.parent.mkdir(parents=True)
    full.symlink_to("/dev/full")
    result = CliRunner().invoke(cli, ["run", "--config", str(workspace.config), "--month", "2026-10"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    last = result.stderr.splitlines()[-1]
    assert last.startswith("newsletter: ") and "No space left on device" in last and "free some space" in last


def test_a_ping_url_that_answers_a_byte_at_a_time_for_ever_does_not_hold_the_run(workspace, smtp_server):
    # a monitoring endpoint (or a proxy before it) that never finishes its answer: the run goes on
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            try:
                while self.path.endswith("/start"):
                    self.wfile.write(b".")
                    self.wfile.flush()
                    time.sleep(1)
                self.wfile.write(b"." * 1000000)
            except OSError:
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    workspace.configure(smtp_config(smtp_server), base="")
    started = time.monotonic()
    try:
        result = workspace.invoke("run", "--month", "2026-10",
                                  env={"PING_URL": f"http://127.0.0.1:{server.server_address[1]}/ping/uuid"})
    finally:
        server.shutdown()
        server.server_close()
    assert time.monotonic() - started < 40
    assert result.exit_code == 0, result.output
    assert "ping /start failed" in result.stderr
    assert [rcpts for _, rcpts in smtp_server.mailbox.envelopes] == [["all@example.com"]]


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/ping/5f1e-secret-uuid", "http://[::1/ping/5f1e-secret-uuid",
                                 "hc-ping.com/5f1e-secret-uuid"], ids=["bad-port", "bad-ipv6", "no-scheme"])
def test_a_ping_url_that_is_not_one_is_a_warning_and_the_run_goes_on(workspace, smtp_server, url):
    # a typo in the monitoring URL must neither stop the edition nor show the check's key
    workspace.configure(smtp_config(smtp_server), base="")
    result = workspace.invoke("run", "--month", "2026-10", env={"PING_URL": url})
    assert result.exit_code == 0, result.output
    assert [rcpts for _, rcpts in smtp_server.mailbox.envelopes] == [["all@example.com"]]
    assert "run.ping_url" in result.stderr and "not pinging" in result.stderr
    assert "5f1e-secret-uuid" not in result.output


def test_an_edition_due_late_in_a_month_is_still_caught_up_after_the_month_turns(workspace, clock):
    # send_day 25: October is due on 25 November; a machine off from the 24th to 2 December catches it up
    workspace.configure(base=BASE_CONFIG.replace("max_days_late = 4000", "send_day = 25\nmax_days_late = 10"))
    result = workspace.invoke("run")
    assert result.exit_code == 0, result.output
    assert list((workspace.state / "outbox" / "2026-10").glob("*.eml"))
    clock.now = datetime(2026, 12, 3, 7, tzinfo=UTC)
    quiet = workspace.invoke("run")
    assert quiet.exit_code == 3 and "edition 2026-11 is due on 2026-12-25" in quiet.stderr
    clock.now = datetime(2026, 12, 25, 7, tzinfo=UTC)
    assert workspace.invoke("run").exit_code == 0
    assert list((workspace.state / "outbox" / "2026-11").glob("*.eml"))


def test_an_edition_past_its_days_late_when_the_month_turned_is_refused_once_not_dropped(workspace, clock):
    # the machine was off from 24 November to 10 December: October is refused as late, and said so
    workspace.configure(base=BASE_CONFIG.replace("max_days_late = 4000", "send_day = 25\nmax_days_late = 10"))
    clock.now = datetime(2026, 12, 10, 7, tzinfo=UTC)
    result = workspace.invoke("run")
    assert result.exit_code == 1, result.output
    assert "edition 2026-10 is 15 days late" in result.stderr and "--month 2026-10 --force" in result.stderr
    again = workspace.invoke("run")
    assert again.exit_code == 3 and "edition 2026-11 is due on 2026-12-25" in again.stderr
    assert not (workspace.state / "outbox").exists()
