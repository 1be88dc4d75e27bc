"""A real Prometheus on 127.0.0.1 serving a backfilled month of probe_success samples
(promtool tsdb create-blocks-from openmetrics) with outages at known times."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from newsletter.collectors.prometheus import Prometheus, PrometheusSettings
from newsletter.errors import SourceError
from newsletter.period import Month
from tests.conftest import free_port, require_program

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BERLIN = ZoneInfo("Europe/Berlin")
MONTH = Month(2026, 10, BERLIN)  # 2026-09-30 22:00 UTC to 2026-10-31 23:00 UTC: 2_682_000 s
MAIL, VPN = "https://mail.example.com", "https://vpn.example.com"
STEP = 300  # a probe every 5 minutes: promtool's backfill time grows with the samples it reads


def local(*args) -> int:
    return int(datetime(*args, tzinfo=BERLIN).timestamp())


def probes(first: int, count: int) -> set[int]:
    return {first + STEP * k for k in range(count)}


def openmetrics() -> str:
    """A probe every STEP seconds from two hours before the month to two hours after it."""
    start, end = int(MONTH.start.timestamp()), int(MONTH.end.timestamp())
    mail_down = probes(start - 600, 4) | probes(local(2026, 10, 5, 10, 0), 5) | probes(local(2026, 10, 20, 12, 0), 6)
    mail_missing = probes(local(2026, 10, 10, 0, 0), 24)  # Prometheus itself was down: no samples, no downtime
    vpn_down = probes(local(2026, 10, 28, 9, 0), 2)
    lines = ["# HELP probe_success Displays whether or not the probe was a success", "# TYPE probe_success gauge"]
    for instance, first, down, missing in ((MAIL, start - 7200, mail_down, mail_missing),
                                           (VPN, local(2026, 10, 15, 12, 0), vpn_down, set())):
        labels = f'{{instance="{instance}",job="blackbox"}}'
        lines += [f"probe_success{labels} {0 if t in down else 1} {t}"
                  for t in range(first, end + 7200, STEP) if t not in missing]
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    program = require_program("prometheus", "the Prometheus integration test starts it")
    promtool = require_program("promtool", "the Prometheus integration test backfills its data with it")
    root: Path = tmp_path_factory.mktemp("prometheus")
    (root / "month.om").write_text(openmetrics())
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", str(root / "month.om"),
                    str(root / "data")], check=True, capture_output=True, timeout=120)
    (root / "prometheus.yml").write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
    port = free_port()
    process = subprocess.Popen(
        [program, f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'data'}",
         "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {process.stderr.read().decode()[-2000:]}")
            try:
                if requests.get(url + "/-/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("prometheus was not ready within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_backfilled_month(prometheus):
    settings = PrometheusSettings(base_url=prometheus, selector='probe_success{job="blackbox"}',
                                  rename={MAIL: "Email", VPN: "VPN"}, scrape_interval_s=STEP)
    collector = Prometheus(settings, name="monitoring", clock=lambda: datetime(2026, 11, 2, 6, tzinfo=UTC))
    collector.validate()
    metrics = collector.collect(MONTH).metrics()
    services = {s["name"]: s for s in metrics["services"]}
    # Email: 00:00-00:10 on the 1st (the ten minutes before midnight belong to September) = 600 s,
    # 10:00-10:25 on the 5th = 1500 s, 12:00-12:30 on the 20th = 1800 s; the 2 h without samples
    # on the 10th is not downtime. 100 * (1 - 3900 / 2_682_000) = 99.8546.
    assert services["Email"] == {"name": "Email", "uptime_pct": 99.8546, "downtime_s": 3900, "incidents": 3,
                                 "longest_outage_s": 1800, "status": "monitored"}
    # VPN: first probed 2026-10-15 12:00 CEST, 1_429_200 s before the month's end; down 09:00-09:10
    # on the 28th: 100 * (1 - 600 / 1_429_200) = 99.958.
    assert services["VPN"] == {"name": "VPN", "uptime_pct": 99.958, "downtime_s": 600, "incidents": 1,
                               "longest_outage_s": 600, "status": "monitored"}


def test_the_real_retention_flag_is_read(prometheus):
    """Prometheus's own /api/v1/status/flags: a month older than its retention is refused."""
    settings = PrometheusSettings(base_url=prometheus, selector='probe_success{job="blackbox"}')
    collector = Prometheus(settings, name="monitoring", clock=lambda: datetime(2127, 1, 1, tzinfo=UTC))
    with pytest.raises(SourceError, match=r"Prometheus keeps 100y of data but 2026-10 began \d+ days ago"):
        collector.collect(MONTH)
