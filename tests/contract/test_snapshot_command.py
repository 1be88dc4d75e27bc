"""Daily snapshots through the CLI: `newsletter snapshot`, the daily `run` storing them whatever it
decides, and `history` showing the days covered, against a real store and loopback servers."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug import Response

from newsletter.binding import Secret
from newsletter.collectors.base import Collector
from newsletter.collectors.registry import GROUP, CollectorRegistry
from newsletter.period import Month
from newsletter.snapshots import month_after_reading_now
from newsletter.store import Store
from tests.contract.helpers import SECRET, leaks
from tests.contract.test_uptime_kuma import BASIC, GOOD, metrics

PASSWORD = "rspamd-pass-7"


def rspamd_source(workspace, httpserver, name: str, path: str = "/", password: bool = False) -> None:
    workspace.write(f"sources/{name}.toml", f"""\
        type = "rspamd"
        name = "{name}"
        base_url = "{httpserver.url_for(path)}"
        {'password_env = "RSPAMD_PASSWORD"' if password else ''}
        """)


def readings(workspace) -> list[tuple[str, dict]]:
    with sqlite3.connect(workspace.state / "newsletter.db") as db:
        rows = db.execute("SELECT source, reading FROM source_readings ORDER BY source").fetchall()
    return [(source, json.loads(reading)) for source, reading in rows]


def only_snapshot_sources(workspace) -> None:
    for source in (workspace.root / "sources").glob("*.toml"):
        source.unlink()


def test_snapshot_stores_every_source_that_needs_one_and_names_the_one_that_failed(workspace, httpserver):
    only_snapshot_sources(workspace)
    rspamd_source(workspace, httpserver, "mail-filter", password=True)
    rspamd_source(workspace, httpserver, "broken-filter", "/broken/")
    httpserver.expect_request("/stat", headers={"Password": PASSWORD}).respond_with_json(
        {"scanned": 120, "actions": {"reject": 7, "no action": 113}})
    httpserver.expect_request("/broken/stat").respond_with_response(Response("down", status=500))
    result = workspace.invoke("snapshot", env={"RSPAMD_PASSWORD": PASSWORD})
    assert result.exit_code == 1, result.output
    assert "no snapshot stored today for broken-filter" in result.stderr
    assert "mail-filter" in result.stdout and "stored" in result.stdout
    assert readings(workspace) == [("mail-filter", {"action:no action": 113, "action:reject": 7, "scanned": 120})]
    assert PASSWORD not in result.output


def test_snapshot_without_any_source_that_needs_one_has_nothing_to_do(workspace):
    result = workspace.invoke("snapshot")
    assert result.exit_code == 3, result.output


def test_a_reading_that_holds_a_secret_is_not_stored(workspace):
    only_snapshot_sources(workspace)
    workspace.write("sources/leaky.toml", 'type = "leaky"\nname = "leaky"\ntoken_env = "LEAKY_TOKEN"\n')
    result = workspace.invoke("snapshot", env={"LEAKY_TOKEN": "tok-secret-1"}, registry=registry_with(LeakyToken))
    assert result.exit_code == 1, result.output
    assert "put a secret of the source into its snapshot; not stored" in result.output
    assert "tok-secret-1" not in result.output and base64.b64encode(b":tok-secret-1").decode() not in result.output
    assert readings(workspace) == []


def test_the_daily_run_stores_snapshots_even_when_nothing_is_due_and_a_failure_does_not_stop_it(
        workspace, httpserver):
    rspamd_source(workspace, httpserver, "counters")
    rspamd_source(workspace, httpserver, "broken-filter", "/broken/")
    httpserver.expect_request("/stat").respond_with_json({"scanned": 5, "actions": {"no action": 5}})
    httpserver.expect_request("/broken/stat").respond_with_response(Response("down", status=503))
    current = datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin"))
    this_month = Month(current.year, current.month, ZoneInfo("Europe/Berlin"))
    result = workspace.invoke("run", "--month", this_month.label)  # a month still running: not due
    assert result.exit_code == 3, result.output
    assert "warning: no snapshot stored today for broken-filter" in result.stderr
    assert [source for source, _ in readings(workspace)] == ["counters"]

    history = workspace.invoke("history")
    assert history.exit_code == 0, history.output
    lines = history.output.splitlines()
    assert "Daily snapshots (days with one):" in lines
    day = current.day
    mail = next(line for line in lines if line.strip().startswith("counters:"))
    assert f"{this_month.name}: 1 of {day} days" in mail
    assert f"{this_month.previous().name}: 0 of {this_month.previous().days} days (no snapshot on " in mail
    assert any(line.strip().startswith("broken-filter:") for line in lines)


# a collector whose snapshot would hold its own token --------------------------------------------
@dataclass(frozen=True)
class TokenSettings:
    token: Secret


class LeakyToken(Collector):
    """Puts its token, as HTTP Basic sends it, into its reading: that reading must never be stored."""

    type = "leaky"
    kind = "uptime"
    Settings = TokenSettings
    needs_snapshots = True

    def take_snapshot(self) -> Mapping[str, Any]:
        basic = base64.b64encode(b":" + self.settings.token.reveal().encode()).decode()
        return {"monitors": 3, "authorization": f"Basic {basic}"}


def test_a_collection_does_not_store_a_reading_that_holds_a_secret_either(tmp_path, monkeypatch):
    """collect() stores a reading of now as well (month_after_reading_now): the same check applies,
    and the month is then told from the days stored, with the refusal as the warning."""
    monkeypatch.setenv("LEAKY_TOKEN", "tok-secret-1")
    with Store(tmp_path / "newsletter.db") as store:
        store.save_snapshot("leaky", datetime(2026, 10, 2, 6, tzinfo=UTC), {"monitors": 2})
        collector = LeakyToken(TokenSettings(Secret(env="LEAKY_TOKEN")), name="leaky", state=store,
                               clock=lambda: datetime(2026, 10, 5, 6, tzinfo=UTC))
        days, warnings = month_after_reading_now(collector, Month(2026, 10), "Leaky")
        assert days.readings() == [{"monitors": 2}]
        assert any(w.startswith("Leaky could not be read now (collector 'leaky' put a secret of the source into "
                                "its snapshot; not stored") for w in warnings), warnings
        assert not leaks(" ".join(warnings), "tok-secret-1")
        assert [s.reading for s in store.snapshots("leaky", datetime(2026, 10, 1, tzinfo=UTC),
                                                   datetime(2026, 11, 1, tzinfo=UTC))] == [{"monitors": 2}]


def registry_with(*plugins: type[Collector]) -> CollectorRegistry:
    installed = {entry.name: entry for entry in entry_points(group=GROUP)}
    return CollectorRegistry({**installed, **{plugin.type: plugin for plugin in plugins}})


def test_uptime_kuma_through_the_cli_snapshot_then_collect_and_its_key_nowhere(workspace, httpserver):
    only_snapshot_sources(workspace)
    workspace.write("sources/status.toml", f"""\
        type = "uptime_kuma"
        name = "status"
        base_url = "{httpserver.url_for('/dashboard')}"
        api_key_env = "UPTIME_KUMA_API_KEY"
        exclude = ["Staging *"]
        """)
    httpserver.expect_request("/metrics").respond_with_handler(metrics(GOOD))
    env = {"UPTIME_KUMA_API_KEY": SECRET}
    taken = workspace.invoke("snapshot", env=env)
    assert taken.exit_code == 0, taken.output
    [(source, reading)] = readings(workspace)
    assert source == "status" and [m["name"] for m in reading["monitors"]][:2] == ["mail.example.com", "VPN"]
    counts_for = (datetime.now(UTC) - timedelta(hours=12)).astimezone(ZoneInfo("Europe/Berlin"))  # a 1-day window
    collected = workspace.invoke("collect", "--month", f"{counts_for:%Y-%m}", "--json", env=env)
    assert collected.exit_code == 0, collected.output
    [result] = json.loads(collected.stdout)["sources"]
    assert result["status"] == "ok" and result["partial"]  # a month still running
    database = (workspace.state / "newsletter.db").read_bytes().decode("latin-1")
    for text in (taken.output, collected.output, database):
        assert leaks(text, SECRET) == [] and BASIC.split()[1] not in text


def test_a_run_that_is_due_still_sends_when_a_snapshot_fails(workspace, httpserver):
    rspamd_source(workspace, httpserver, "broken-filter", "/broken/")
    httpserver.expect_request("/broken/stat").respond_with_response(Response("down", status=503))
    result = workspace.invoke("run", "--month", "2026-10")
    assert result.exit_code == 0, result.output
    assert "warning: no snapshot stored today for broken-filter" in result.stderr
    assert "2026-10" in workspace.invoke("history").output.splitlines()[1]
    assert readings(workspace) == []
