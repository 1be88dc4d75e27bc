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
    metrics = make(path).collect(OCTOBER).metrics()
    # per day inbound: 1000 + 300 + 40 + 3 + 1 + 5 = 1349 scanned; spam 340, phishing 3, malware 1
    assert metrics == {"scanned": 31 * 1349, "spam": 31 * 340, "phishing": 31 * 3, "malware": 31,
                       "blocked_total": 31 * 344, "partial": False, "warnings": []}


def test_a_german_export_with_a_date_format_and_a_missing_week(tmp_path):
    rows = [r for r in october_rows(lambda d: f"{d:02d}.10.2026 00:00:00") if not r.split(",")[1].startswith('"0')]
    path = tmp_path / "mailflow.csv"
    path.write_text("\ufeff" + HEADER + "\n" + "\n".join(rows), encoding="utf-8")
    metrics = make(path, date_format="%d.%m.%Y %H:%M:%S").collect(OCTOBER).metrics()
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


# Exports of the real cmdlet: its objects name the number MessageCount, and Export-Csv writes every
# property (Windows PowerShell adds a #TYPE line, remote sessions add PS* columns).
CMDLET_PROPERTIES = ["Organization", "Date", "Direction", "EventType", "Domain", "MessageCount", "StartDate",
                     "EndDate", "Index"]


def export(path, header, rows, *, delimiter=",", encoding="utf-8", type_line=False):
    """Write a file as Export-Csv does: every field quoted, one row per (day, event type)."""
    lines = ['#TYPE Deserialized.Microsoft.Exchange.Management.FfoReporting.MailflowStatusReport'] if type_line else []
    lines.append(delimiter.join(f'"{name}"' for name in header))
    for values in rows:
        lines.append(delimiter.join(f'"{values.get(name, "")}"' for name in header))
    path.write_bytes("\r\n".join(lines).encode(encoding))
    return path


def cmdlet_rows(count_column="MessageCount", date=lambda d: f"10/{d}/2026 12:00:00 AM", **names):
    name = {"Date": "Date", "Direction": "Direction", "EventType": "EventType", **names}
    rows = []
    for d in range(1, 32):
        for event, count in (("GoodMail", 1000), ("EdgeBlockSpam", 300), ("SpamDetections", 40), ("EmailPhish", 3),
                             ("EmailMalware", 1), ("TransportRules", 5)):
            rows.append({"Organization": "contoso.onmicrosoft.com", name["Date"]: date(d), name["Direction"]: "Inbound",
                         name["EventType"]: event, "Domain": "", count_column: count, "Index": len(rows),
                         "StartDate": "10/1/2026 12:00:00 AM", "EndDate": "10/31/2026 12:00:00 AM"})
    return rows


WHOLE_OCTOBER = {"scanned": 31 * 1349, "spam": 31 * 340, "phishing": 31 * 3, "malware": 31,
                 "blocked_total": 31 * 344, "partial": False, "warnings": []}


def test_the_cmdlets_own_columns_with_message_count(tmp_path):
    path = export(tmp_path / "mailflow.csv", CMDLET_PROPERTIES, cmdlet_rows())
    assert make(path).collect(OCTOBER).metrics() == WHOLE_OCTOBER


def test_windows_powershell_utf16_with_message_count_and_remote_session_columns(tmp_path):
    header = [*CMDLET_PROPERTIES, "PSComputerName", "RunspaceId", "PSShowComputerName"]
    path = export(tmp_path / "mailflow.csv", header, cmdlet_rows(), encoding="utf-16", type_line=True)
    assert make(path).collect(OCTOBER).metrics() == WHOLE_OCTOBER


@pytest.mark.parametrize("header", [
    ["date", "direction", "eventtype", "messagecount"],  # written by another tool, in lower case
    ["DATE", "DIRECTION", "EVENTTYPE", "COUNT"],
    ["Date", "Direction", "Event Type", "Message Count"],  # a report saved from a spreadsheet
])
def test_column_names_in_other_cases_and_spellings(tmp_path, header):
    date, direction, event, count = header
    rows = cmdlet_rows(count_column=count, Date=date, Direction=direction, EventType=event)
    path = export(tmp_path / "mailflow.csv", header, rows)
    assert make(path).collect(OCTOBER).metrics() == WHOLE_OCTOBER


def test_a_german_export_with_semicolons_and_german_dates(tmp_path):
    """Export-Csv -UseCulture on a German Windows: ';' between fields, dd.mm.yyyy dates, UTF-16."""
    rows = cmdlet_rows(date=lambda d: f"{d:02d}.10.2026 00:00:00")
    path = export(tmp_path / "mailflow.csv", CMDLET_PROPERTIES, rows, delimiter=";", encoding="utf-16",
                  type_line=True)
    assert make(path, date_format="%d.%m.%Y %H:%M:%S").collect(OCTOBER).metrics() == WHOLE_OCTOBER


def test_an_unknown_layout_names_the_file_and_the_columns_it_found(tmp_path):
    # Get-MailTrafficSummaryReport, a different cmdlet: not this report
    path = export(tmp_path / "summary.csv", ["C1", "C2", "C3"], [{"C1": "Inbound", "C2": "Spam", "C3": "12"}])
    with pytest.raises(SourceError, match=r"summary.csv: not a Get-MailflowStatusReport export: no column Date, "
                                          r"Direction, EventType, MessageCount \(or Count\); the columns found: "
                                          r"C1, C2, C3"):
        make(path).collect(OCTOBER)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match=r"empty.csv: not a Get-MailflowStatusReport export: .*no columns found"):
        make(empty).collect(OCTOBER)


def test_a_huge_cell_or_a_count_that_cannot_be_true_is_named_with_its_line(tmp_path):
    path = tmp_path / "mailflow.csv"
    path.write_text(HEADER + "\n" + row("2026-10-01", "Inbound", "GoodMail", 5) + "\n"
                    + row("2026-10-02", "Inbound", "X" * 200_000, 5) + "\n")
    with pytest.raises(SourceError, match=r"mailflow.csv:3: cannot read the row \(field larger than field limit"):
        make(path).collect(OCTOBER)
    path.write_text(HEADER + "\n" + row("2026-10-03", "Inbound", "EdgeBlockSpam", -300) + "\n")
    with pytest.raises(SourceError, match=r"mailflow.csv:2: Count '-300' is not a whole number"):
        make(path).collect(OCTOBER)
    path.write_text(HEADER + "\n" + row("2026-10-03", "Inbound", "EdgeBlockSpam", "9" * 5000) + "\n")
    with pytest.raises(SourceError) as info:
        make(path).collect(OCTOBER)
    assert len(str(info.value)) < 200


def test_event_types_in_other_cases_and_spellings_are_counted(tmp_path):
    """Another tool (or a spreadsheet) writes "edgeblockspam" or "Email Phish": still spam and phishing, not 0."""
    spelled = {"GoodMail": "goodmail", "EdgeBlockSpam": "EDGEBLOCKSPAM", "SpamDetections": "Spam Detections",
               "EmailPhish": "Email_Phish", "EmailMalware": "emailmalware", "TransportRules": "transportrules"}
    rows = [{**r, "EventType": spelled[r["EventType"]]} for r in cmdlet_rows()]
    path = export(tmp_path / "mailflow.csv", CMDLET_PROPERTIES, rows)
    assert make(path).collect(OCTOBER).metrics() == WHOLE_OCTOBER


def test_an_export_of_threats_only_leaves_the_messages_scanned_unknown(tmp_path):
    """Exported with -EventType EdgeBlockSpam,EmailPhish,...: without GoodMail the total is not the mail scanned."""
    rows = [r for r in cmdlet_rows() if r["EventType"] != "GoodMail"]
    metrics = make(export(tmp_path / "mailflow.csv", CMDLET_PROPERTIES, rows)).collect(OCTOBER).metrics()
    assert metrics["scanned"] is None
    assert {k: metrics[k] for k in ("spam", "phishing", "malware", "blocked_total")} == {
        "spam": 31 * 340, "phishing": 31 * 3, "malware": 31, "blocked_total": 31 * 344}
    assert any("no GoodMail rows" in w for w in metrics["warnings"])


def test_a_file_far_larger_than_a_months_export_is_refused_unread(tmp_path):
    """A message trace or a log picked by mistake (gigabytes) would be read whole at every draft: refused."""
    path = tmp_path / "mailflow.csv"
    path.write_text(HEADER + "\n")
    with path.open("r+b") as sparse:
        sparse.truncate(65 * 2**20)
    with pytest.raises(SourceError, match=r"mailflow.csv: 65 MB is far more than a month's mail flow export"):
        make(path).collect(OCTOBER)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_says_how_to_save_it(tmp_path, encoding):
    """Some PowerShell writers leave out the byte-order mark: a NUL byte between every character is
    UTF-16 to name as such, not a date to blame on date_format."""
    path = export(tmp_path / "mailflow.csv", CMDLET_PROPERTIES, cmdlet_rows(), encoding=encoding)
    with pytest.raises(SourceError, match=r"mailflow.csv: UTF-16 text without a byte-order mark; export it with "
                                          r"Export-Csv -NoTypeInformation -Encoding utf8"):
        make(path).collect(OCTOBER)


def test_rows_exported_twice_into_one_file_are_counted_once(tmp_path):
    """The report has one count per day, direction and event type (and domain): the same row again is
    the same export appended twice or two exports that overlap, not more mail."""
    september = cmdlet_rows(date=lambda d: f"9/{min(d, 30)}/2026 12:00:00 AM")[-6:]  # 30 September
    overlap = [r for r in cmdlet_rows() if r["Date"].startswith("10/31/")]
    rows = september + cmdlet_rows() + overlap  # September's export then October's, its last day twice
    path = export(tmp_path / "mailflow.csv", CMDLET_PROPERTIES, rows)
    metrics = make(path).collect(OCTOBER).metrics()
    assert {k: metrics[k] for k in ("scanned", "spam", "phishing", "malware", "blocked_total")} == {
        k: WHOLE_OCTOBER[k] for k in ("scanned", "spam", "phishing", "malware", "blocked_total")}
    assert metrics["warnings"] == ["mailflow.csv: 6 rows repeat an earlier row (the same date, direction, event "
                                   "type and domain; the first from line 188) and are counted once"]


def test_rows_of_other_domains_or_tenants_are_not_duplicates(tmp_path):
    rows = cmdlet_rows() + [{**r, "Domain": "fabrikam.example"} for r in cmdlet_rows()]
    rows += [{**r, "Organization": "fabrikam.onmicrosoft.com"} for r in cmdlet_rows()]
    metrics = make(export(tmp_path / "mailflow.csv", CMDLET_PROPERTIES, rows)).collect(OCTOBER).metrics()
    assert metrics["spam"] == 3 * WHOLE_OCTOBER["spam"] and metrics["warnings"] == []


def test_two_different_counts_for_one_day_and_event_are_refused_naming_both_lines(tmp_path):
    """An export of 31 October taken while the day was still filling in, and the full one appended:
    which is right cannot be told, and their sum is wrong."""
    early = [{**r, "MessageCount": 100} for r in cmdlet_rows() if r["Date"].startswith("10/31/")]
    path = export(tmp_path / "mailflow.csv", CMDLET_PROPERTIES, early + cmdlet_rows())
    with pytest.raises(SourceError, match=r"mailflow.csv:188: 10/31/2026 12:00:00 AM Inbound GoodMail counts 1000 "
                                          r"here but 100 at line 2: .*export the month once"):
        make(path).collect(OCTOBER)
