"""`collect --json` keeps its documented shape for every kind: keys and value types, pinned.

What the shape is made of may change inside (typed results per kind); what a script reading
`collect --json`, the store or an archived edition.json sees must not. One workspace holds a source
of every kind, and of each way a mail source reports (the demo's five numbers; an export that covers
part of the month; counter snapshots), collected through the CLI as cron does.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from newsletter.period import Month
from newsletter.results import (
    CustomMetrics,
    CustomValue,
    Highlight,
    MailStats,
    MonthHighlights,
    Quote,
    ServiceUptime,
    TicketStats,
    UptimeStats,
)
from newsletter.store import Store

BERLIN = ZoneInfo("Europe/Berlin")
SOURCE_KEYS = {"name": "str", "type": "str", "kind": "str", "status": "str", "error": "str|null",
               "metrics": "object", "partial": "bool", "warnings": "list[str]"}

TICKETING = {
    "opened": "int", "resolved": "int", "backlog_end": "int",
    "first_response_median_s": "int", "first_response_p90_s": "int",
    "resolution_median_s": "int", "resolution_p90_s": "int",
    "sla_met_pct": "float", "csat_pct": "float", "csat_responses": "int",
    "top_categories": [["str", "int"]], "partial": "bool", "warnings": [],
}
DEMO_MAIL = {"scanned": "int", "spam": "int", "phishing": "int", "malware": "int", "blocked_total": "int"}
EXPORT_MAIL = {**DEMO_MAIL, "partial": "bool", "warnings": ["str"], "covered_days": "int"}
COUNTER_MAIL = {"scanned": "int", "spam": "int", "phishing": "null", "malware": "null", "blocked_total": "int",
                "rejected": "int", "window_start": "str", "window_end": "str", "partial": "bool", "warnings": []}
UPTIME = {"services": [{"name": "str", "uptime_pct": "float", "downtime_s": "int", "incidents": "int",
                        "longest_outage_s": "int", "status": "str"}],
          "overall_uptime_pct": "float"}
HIGHLIGHTS = {"items": [{"title": "str", "body": "str", "section": "str"}], "file": "str"}
CUSTOM = {"values": {
    "laptops_rolled_out": {"value": "float", "label": "str", "unit": "str", "better": "str"},
    "spare_laptops": {"value": "null", "label": "str", "unit": "str", "better": "str"},
}}


def shape(value: object) -> object:
    """A JSON value's shape: a mapping's keys with their shapes, a list's distinct item shapes, a
    scalar's JSON type (int and float apart: a count is never written 42.0)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        shapes: list[object] = []
        for item in value:
            if (found := shape(item)) not in shapes:
                shapes.append(found)
        return shapes
    return {type(None): "null", bool: "bool", int: "int", float: "float", str: "str"}[type(value)]


def source_shape(source: dict) -> dict:
    types = {key: shape(value) for key, value in source.items() if key != "metrics"}
    types["error"] = "str|null" if types["error"] in ("str", "null") else types["error"]
    types["warnings"] = "list[str]" if types["warnings"] in ([], ["str"]) else types["warnings"]
    return {**types, "metrics": "object" if isinstance(source["metrics"], dict) else shape(source["metrics"])}


def at(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=BERLIN).timestamp()


@pytest.fixture
def every_kind(workspace, httpserver):
    """The demo's help desk, mail filter, monitors and highlights, plus a metrics file, a mail flow
    export with 22 of October's 31 days and an rspamd whose snapshots frame October exactly."""
    workspace.write("sources/team.toml", 'type = "metrics_file"\nname = "team-numbers"\nfile = "team.csv"\n')
    workspace.write("sources/team.csv", "month,name,value,label,unit,better\n"
                    "2026-10,laptops_rolled_out,42,Laptops rolled out,count,\n"
                    "2026-10,spare_laptops,,Spare laptops,count,\n")
    workspace.write("sources/exchange.toml", 'type = "exchange_csv"\nname = "exchange"\npath = "mailflow.csv"\n')
    rows = [f'"10/{day}/2026 12:00:00 AM","Inbound",{event}' for day in range(10, 32)
            for event in ('"GoodMail","1000"', '"EdgeBlockSpam","300"', '"EmailPhish","4"', '"EmailMalware","1"')]
    workspace.write("sources/mailflow.csv", '"Date","Direction","EventType","Count"\n' + "\n".join(rows) + "\n")
    workspace.write("sources/counters.toml", f'type = "rspamd"\nname = "counters"\n'
                    f'base_url = "{httpserver.url_for("/")}"\n')
    httpserver.expect_request("/stat").respond_with_json({"scanned": 2000, "actions": {"reject": 30}})
    with Store.open(workspace.state) as store:  # snapshots taken at 00:00 on October's first and last day
        for taken_at, scanned, reject, header in ((at("2026-10-01"), 100, 10, 20), (at("2026-11-01"), 1100, 25, 80)):
            counters = {"scanned": scanned, "action:reject": reject, "action:add header": header,
                        "action:no action": scanned - reject - header}
            store.db.execute("INSERT INTO source_readings (source, taken_at, reading) VALUES (?,?,?)",
                             ("counters", taken_at, json.dumps(counters)))
    return workspace


def collected(workspace, month: str) -> dict:
    result = workspace.invoke("collect", "--month", month, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_collect_json_keeps_its_shape_for_every_kind(every_kind):
    payload = collected(every_kind, "2026-10")
    assert shape({key: value for key, value in payload.items() if key != "sources"}) == {
        "month": "str", "timezone": "str"}
    sources = {source["name"]: source for source in payload["sources"]}
    assert {name: (s["type"], s["kind"], s["status"]) for name, s in sources.items()} == {
        "helpdesk": ("demo_ticketing", "ticketing", "ok"),
        "mail-filter": ("demo_mail_security", "mail_security", "ok"),
        "exchange": ("exchange_csv", "mail_security", "ok"),
        "counters": ("rspamd", "mail_security", "ok"),
        "monitoring": ("demo_uptime", "uptime", "ok"),
        "highlights": ("highlights", "highlights", "ok"),
        "team-numbers": ("metrics_file", "custom", "ok"),
    }
    for source in sources.values():
        assert list(source) == list(SOURCE_KEYS) and source_shape(source) == SOURCE_KEYS, source["name"]
    assert shape(sources["helpdesk"]["metrics"]) == TICKETING
    assert shape(sources["mail-filter"]["metrics"]) == DEMO_MAIL
    assert shape(sources["exchange"]["metrics"]) == EXPORT_MAIL
    assert shape(sources["counters"]["metrics"]) == COUNTER_MAIL
    assert shape(sources["monitoring"]["metrics"]) == UPTIME
    assert shape(sources["highlights"]["metrics"]) == HIGHLIGHTS
    assert shape(sources["team-numbers"]["metrics"]) == CUSTOM
    # the keys in the order they are written, and the values that say how much of the month is in
    assert list(sources["helpdesk"]["metrics"]) == list(TICKETING)
    assert list(sources["exchange"]["metrics"]) == list(EXPORT_MAIL)
    assert list(sources["counters"]["metrics"]) == list(COUNTER_MAIL)
    exchange, export = sources["exchange"], sources["exchange"]["metrics"]
    assert (exchange["partial"], export["partial"], export["covered_days"]) == (True, True, 22)
    assert exchange["warnings"] == export["warnings"] == ["mailflow.csv covers 22 of the 31 days of 2026-10"]
    counters, counted = sources["counters"], sources["counters"]["metrics"]
    assert (counters["partial"], counted["partial"], counters["warnings"]) == (False, False, [])
    assert counted["window_start"] == "2026-10-01T00:00:00+02:00"
    assert (counted["scanned"], counted["rejected"], counted["spam"]) == (1000, 15, 60)
    assert sources["team-numbers"]["metrics"]["values"]["spare_laptops"]["value"] is None  # unknown, never 0


def test_skipped_and_failed_sources_keep_their_shape(every_kind):
    sources = {s["name"]: s for s in collected(every_kind, "2026-07")["sources"]}  # no files, no snapshots
    for name, status in (("highlights", "skipped"), ("team-numbers", "skipped"), ("exchange", "failed"),
                         ("counters", "failed"), ("helpdesk", "ok")):
        assert sources[name]["status"] == status, (name, sources[name])
        assert list(sources[name]) == list(SOURCE_KEYS) and source_shape(sources[name]) == SOURCE_KEYS
        if status != "ok":
            assert sources[name]["metrics"] == {} and sources[name]["error"]
            assert (sources[name]["partial"], sources[name]["warnings"]) == (False, [])


def test_a_month_still_running_adds_covered_days_to_every_kind_but_highlights(workspace):
    month = collected(workspace, Month.parse("last", BERLIN).next().label)
    running = {s["kind"]: s["metrics"] for s in month["sources"] if s["status"] == "ok"}
    assert shape(running["ticketing"]) == {**TICKETING, "covered_days": "int"}
    assert shape(running["mail_security"]) == {**DEMO_MAIL, "covered_days": "int"}
    assert shape(running["uptime"]) == {**UPTIME, "covered_days": "int"}


def test_the_json_form_says_how_much_of_the_month_is_in_only_when_the_collector_does():
    numbers = {"scanned": 5, "spam": None, "phishing": None, "malware": None, "blocked_total": None}
    assert MailStats(scanned=5).metrics() == numbers  # says nothing: no partial, no warnings
    assert MailStats(scanned=5, partial=False).metrics() == {**numbers, "partial": False, "warnings": []}
    assert MailStats(scanned=5, warnings=("late",)).metrics() == {**numbers, "partial": False, "warnings": ["late"]}
    said = MailStats(scanned=5, rejected=1, partial=True, warnings=("late",), covered_days=3,
                     extra={"window_start": "2026-10-01T00:00:00+02:00"}).metrics()
    assert list(said) == [*numbers, "rejected", "window_start", "partial", "warnings", "covered_days"]
    tickets = TicketStats(opened=3, top_categories=(("VPN", 2),), warnings=("1 ticket left out",)).metrics()
    assert tickets["top_categories"] == [["VPN", 2]] and tickets["warnings"] == ["1 ticket left out"]
    assert "quotes" not in tickets  # a source that reads no comments: the shape of TICKETING
    quoted = TicketStats(opened=3, quotes=(Quote("Quick and friendly", "2026-10-31"),)).metrics()
    assert shape(quoted["quotes"]) == [{"text": "str", "rated_at": "str"}]
    assert list(quoted).index("quotes") == list(quoted).index("top_categories") + 1
    assert UptimeStats((ServiceUptime("VPN", 99.5, 60, 1, 60), ServiceUptime("Wi-Fi", None, None, None, None,
                                                                            "paused"))).metrics() == {
        "services": [{"name": "VPN", "uptime_pct": 99.5, "downtime_s": 60, "incidents": 1, "longest_outage_s": 60,
                      "status": "monitored"},
                     {"name": "Wi-Fi", "uptime_pct": None, "downtime_s": None, "incidents": None,
                      "longest_outage_s": None, "status": "paused"}],
        "overall_uptime_pct": 99.5}  # the mean of the services whose uptime is known
    assert MonthHighlights((Highlight("New printers", "On every floor."),)).metrics() == {
        "items": [{"title": "New printers", "body": "On every floor.", "section": "highlights"}]}
    assert CustomMetrics({"laptops": CustomValue(None, "Laptops", better="higher")}).metrics() == {
        "values": {"laptops": {"value": None, "label": "Laptops", "unit": "count", "better": "higher"}}}
