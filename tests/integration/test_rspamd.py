"""A real rspamd on 127.0.0.1 (own config dir, ports and state): feed mail with rspamc, collect,
crash-restart it so its counters reset, and check the month still adds up."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from newsletter.collect import collect_month
from newsletter.collectors.rspamd import Rspamd, RspamdSettings
from newsletter.config import SourceConfig
from newsletter.period import Month
from newsletter.store import Store
from tests.conftest import free_port, require_program

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MONTH = Month(2026, 10, ZoneInfo("Europe/Berlin"))
CLEAN = """\
From: Alice <alice@example.com>
To: Bob <bob@example.com>
Subject: Lunch tomorrow {n}
Date: Mon, 23 Nov 2026 10:00:00 +0000
Message-ID: <lunch-{n}@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hi Bob, shall we have lunch tomorrow at noon? Alice
"""
GTUBE = """\
From: spammer@example.net
To: bob@example.com
Subject: offer {n}

XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X
"""


class Server:
    """rspamd run from its Debian config with our own LOCAL_CONFDIR, ports and state directories."""

    def __init__(self, root: Path) -> None:
        self.program = require_program("rspamd", "the rspamd integration test starts it")
        self.rspamc = require_program("rspamc", "the rspamd integration test feeds mail with it")
        self.root = root
        self.scan_port, self.controller_port, self.proxy_port = free_port(), free_port(), free_port()
        self.process: subprocess.Popen | None = None
        override = root / "local" / "override.d"
        override.mkdir(parents=True)
        (override / "worker-normal.inc").write_text(f'bind_socket = "127.0.0.1:{self.scan_port}";\ncount = 1;\n')
        (override / "worker-controller.inc").write_text(
            f'bind_socket = "127.0.0.1:{self.controller_port}";\ncount = 1;\nsecure_ip = "127.0.0.1";\n')
        (override / "worker-proxy.inc").write_text(f'bind_socket = "127.0.0.1:{self.proxy_port}";\nenabled = false;\n')
        # A short public-suffix list: compiling the full one takes half a minute on each fresh start.
        (root / "tld.dat").write_text("com\nnet\norg\nexample\n")
        (override.parent / "local.d").mkdir()
        (override.parent / "local.d" / "options.inc").write_text(f'url_tld = "{root}/tld.dat";\n')
        (override / "logging.inc").write_text('type = "file";\nfilename = "$LOGDIR/rspamd.log";\nlevel = "error";\n')
        for sub in ("db", "run", "log"):
            (root / sub).mkdir()
            if os.geteuid() == 0:
                subprocess.run(["chown", "_rspamd:_rspamd", str(root / sub)], check=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.controller_port}"

    def start(self) -> None:
        command = [self.program, "-c", "/etc/rspamd/rspamd.conf", "-f", "--var", f"LOCAL_CONFDIR={self.root}/local"]
        for var, sub in (("DBDIR", "db"), ("RUNDIR", "run"), ("LOGDIR", "log")):
            command += ["--var", f"{var}={self.root / sub}"]
        if os.geteuid() == 0:
            command += ["-u", "_rspamd", "-g", "_rspamd"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rspamd exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                if requests.get(self.url + "/ping", timeout=1).text.strip() == "pong":
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop(signal.SIGKILL)
        raise RuntimeError("rspamd did not answer /ping within 90 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGKILL is a crash: rspamd cannot save its counters, so they start again from zero."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def feed(self, tmp: Path, clean: int, gtube: int, tag: str) -> list[str]:
        """Scan messages with rspamc; returns the action rspamd chose for each."""
        files = []
        for kind, template, count in (("clean", CLEAN, clean), ("gtube", GTUBE, gtube)):
            for n in range(count):
                path = tmp / f"{tag}-{kind}-{n}.eml"
                path.write_text(template.format(n=f"{tag}{n}"))
                files.append(str(path))
        out = subprocess.run([self.rspamc, "-h", f"127.0.0.1:{self.scan_port}", *files], capture_output=True,
                             text=True, timeout=60, check=True).stdout
        return [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Action:")]

    def scanned(self) -> int:
        return requests.get(self.url + "/stat", timeout=5).json()["scanned"]


@pytest.fixture(scope="module")
def rspamd(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("rspamd"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Clock:
    now = MONTH.start

    def __call__(self):
        return self.now


def test_counts_and_a_reset(rspamd, tmp_path):
    clock = Clock()
    settings = RspamdSettings(base_url=rspamd.url)
    source = SourceConfig(tmp_path / "mail.toml", "mail-filter", "rspamd", False, True, settings)
    with Store(tmp_path / "newsletter.db") as store:  # a file store: collectors run in worker threads
        collector = Rspamd(settings, name="mail-filter", clock=clock, state=store)
        collector.validate()

        def collect_at(moment):
            clock.now = moment
            return collect_month([(source, collector)], MONTH)[0]

        baseline = rspamd.scanned()
        first = collect_at(MONTH.start - timedelta(minutes=10))
        assert first.status == "failed" and "has not ended" in first.error
        actions = rspamd.feed(tmp_path, clean=3, gtube=2, tag="a")
        assert collect_at(MONTH.start + timedelta(days=10)).status == "failed"

        rspamd.stop(signal.SIGKILL)  # a crash: the counters are lost
        rspamd.start()
        assert rspamd.scanned() == 0
        actions += rspamd.feed(tmp_path, clean=2, gtube=1, tag="b")
        result = collect_at(MONTH.end + timedelta(minutes=5))

    assert result.status == "ok", result.error
    metrics = result.metrics
    assert len(actions) == 8 and actions.count("reject") == 3  # every GTUBE message is rejected
    spam_actions = sum(actions.count(a) for a in ("add header", "rewrite subject", "soft reject"))
    assert baseline == 0 and metrics["scanned"] == 8
    assert metrics["rejected"] == 3
    assert metrics["spam"] == spam_actions
    assert metrics["blocked_total"] == 3 + spam_actions
    assert metrics["partial"] is True and "reset" in metrics["warnings"][0]
    assert result.partial is True and result.warnings == metrics["warnings"]  # the runner copies them
