"""Get-MailflowStatusReport CSV exports, as Windows PowerShell and PowerShell 7 write them."""

from __future__ import annotations

import pytest

from newsletter.collectors.exchange_csv import ExchangeCsv, ExchangeCsvSettings
from newsletter.errors import ConfigError, SourceError
from tests.contract.conftest import OCTOBER

HEADER = '"Organization","Date","Direction","EventType","Count"'


def row(day, direction, event, count, org="contoso.onmicrosoft.com"):
    return f'"{org}","{day}","{direction}","{event}","{count}"'


def october_rows(fmt):
    rows = []
    for d in range(1, 32):
        day = fmt(d)
        rows += [row(day, "Inbound", "GoodMail", 1000), row(day, "Inbound", "EdgeBlockSpam", 300),
                 row(day, "Inbound", "SpamDetections", 40), row(day, "Inbound", "EmailPhish", 3),
                 row(day, "Inbound", "EmailMalware", 1), row(day, "Outbound", "GoodMail", 900),
                 row(day, "Inbound", "TransportRules", 5)]
    return rows


def make(path, **settings):
    collector = ExchangeCsv(ExchangeCsvSettings(path=path, **settings), name="exchange")
    collector.validate()
    return collector


def test_a_windows_powershell_export_in_utf16(tmp_path):
    lines = ["#TYPE Deserialized.Microsoft.Exchange.Management.FfoReporting.MailflowStatusReport", HEADER]
    lines += october_rows(lambda d: f"10/{d}/2026 12:00:00 AM")
    lines += [row("9/30/2026 12:00:00 AM", "Inbound", "EdgeBlockSpam", 99999),  # other months are left out
              row("11/1/2026 12:00:00 AM", "Inbound", "EdgeBlockSpam", 99999)]
    path = tmp_path / "mailflow.csv"
    path.write_bytes("\r\n".join(lines).encode("utf-16"))
    metrics = make(path).collect(OCTOBER).metrics
    # per day inbound: 1000 + 300 + 40 + 3 + 1 + 5 = 1349 scanned; spam 340, phishing 3, malware 1
    assert metrics == {"scanned": 31 * 1349, "spam": 31 * 340, "phishing": 31 * 3, "malware": 31,
                       "blocked_total": 31 * 344, "partial": False, "warnings": []}


def test_a_german_export_with_a_date_format_and_a_missing_week(tmp_path):
    rows = [r for r in october_rows(lambda d: f"{d:02d}.10.2026 00:00:00") if not r.split(",")[1].startswith('"0')]
    path = tmp_path / "mailflow.csv"
    path.write_text("\ufeff" + HEADER + "\n" + "\n".join(rows), encoding="utf-8")
    metrics = make(path, date_format="%d.%m.%Y %H:%M:%S").collect(OCTOBER).metrics
    assert metrics["spam"] == 22 * 340  # days 10..31
    assert metrics["partial"] is True and metrics["warnings"] == ["mailflow.csv covers 22 of the 31 days of 2026-10"]


def test_mistakes_are_named(tmp_path):
    path = tmp_path / "mailflow.csv"
    path.write_text(HEADER + "\n" + row("2026-09-03", "Inbound", "GoodMail", 5) + "\n")
    with pytest.raises(SourceError, match=r"no Inbound rows for 2026-10; export it with Get-MailflowStatusReport "
                                          r"-StartDate 2026-10-01 -EndDate 2026-10-31"):
        make(path).collect(OCTOBER)
    path.write_text(HEADER + "\n" + row("2026-10-03", "Inbound", "GoodMail", "lots") + "\n")
    with pytest.raises(SourceError, match=r"mailflow.csv:2: Count 'lots' is not a whole number"):
        make(path).collect(OCTOBER)
    path.write_text(HEADER + "\n" + row("3/Oct/2026", "Inbound", "GoodMail", 1) + "\n")
    with pytest.raises(SourceError, match="set date_format"):
        make(path).collect(OCTOBER)
    path.write_text("Date,Count\n2026-10-01,5\n")
    with pytest.raises(SourceError, match="no column Direction, EventType"):
        make(path).collect(OCTOBER)
    with pytest.raises(SourceError, match="cannot read"):
        make(tmp_path / "missing.csv").collect(OCTOBER)
    with pytest.raises(ConfigError, match="is a folder"):
        make(tmp_path)
