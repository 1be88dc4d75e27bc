# ruff: noqa: F811  (the fixtures ca, login and tls_session come from the Defender tests)
"""Microsoft Intune through Graph: msal's client credentials against the loopback Entra ID of the
Defender tests (TLS, a private CA), managedDevices with $select paged by @odata.nextLink on plain HTTP,
daily readings kept in a real store and a Berlin month (October 2026) told from them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from werkzeug import Response

from newsletter.binding import Secret
from newsletter.collectors.base import Collector
from newsletter.collectors.intune import SELECT, Intune, IntuneSettings
from newsletter.errors import ConfigError, SourceError
from newsletter.http import make_session
from newsletter.store import Store
from tests.contract.conftest import FAST, OCTOBER
from tests.contract.helpers import FAULTS, Faults, check_fault, json_response, leaks, run
from tests.contract.test_m365_defender import (  # noqa: F401  (ca, login, tls_session: fixtures)
    ACCESS,
    CLIENT,
    TENANT,
    ca,
    login,
    serve_login,
    tls_session,
    trusting_login,
)

DEVICES = "/v1.0/deviceManagement/managedDevices"
SECRET = "m365-secret-value"


def device(key, os_name, version, compliance, synced, patch_level=None):
    """A managedDevice with the fields a person would recognise, which $select must leave out."""
    return {"id": key, "deviceName": f"LAPTOP-{key}", "userPrincipalName": f"user{key}@corp.example",
            "emailAddress": f"user{key}@corp.example", "serialNumber": f"SN{key}", "operatingSystem": os_name,
            "osVersion": version, "complianceState": compliance, "lastSyncDateTime": synced,
            "androidSecurityPatchLevel": patch_level, "managementAgent": "mdm"}


W1 = device("w1", "Windows", "10.0.26100.2314", "compliant", "2026-10-31T06:00:00Z")
W2 = device("w2", "Windows", "10.0.26100.2161", "noncompliant", "2026-10-30T06:00:00Z")
W3 = device("w3", "Windows", "10.0.26100.2314", "compliant", "2026-10-01T06:00:00Z")  # silent for 30 days
M1 = device("m1", "macOS", "15.1", "compliant", "2026-10-31T07:00:00Z")
M2 = device("m2", "macOS", "15.0.1", "compliant", "2026-10-31T07:00:00Z")
I1 = device("i1", "iOS", "18.1", "compliant", "2026-10-31T08:00:00Z")
A1 = device("a1", "Android", "15", "noncompliant", "2026-10-31T08:00:00Z", patch_level="2026-10-01")
START_FLEET = [W1, W2, M1, I1]
END_FLEET = [W1, W2, W3, M1, M2, I1, A1]
NOVEMBER_FLEET = [*END_FLEET, *(device(f"n{n}", "Windows", "10.0.26100.2314", "compliant",
                                       "2026-11-01T06:00:00Z") for n in range(5))]


class Fleet:
    """Graph's managedDevices: the current fleet, three devices a page, each next page by @odata.nextLink."""

    def __init__(self, httpserver, devices, page=3):
        self.devices, self.page, self.asked = devices, page, []
        self.url = httpserver.url_for(DEVICES)
        httpserver.expect_request(DEVICES).respond_with_handler(self)

    def __call__(self, request):
        if request.headers.get("Authorization") != f"Bearer {ACCESS}":
            return json_response({"error": {"code": "InvalidAuthenticationToken", "message": "Access token is "
                                            "empty."}}, 401)
        self.asked.append(dict(request.args))
        skip = int(request.args.get("$skiptoken", 0))
        fields = (request.args.get("$select") or SELECT).split(",")
        rows = [{key: row.get(key) for key in fields} for row in self.devices[skip:skip + self.page]]
        body = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#deviceManagement/managedDevices",
                "value": rows}
        if skip + self.page < len(self.devices):
            body["@odata.nextLink"] = f"{self.url}?$select={','.join(fields)}&$skiptoken={skip + self.page}"
        return json_response(body)


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv("M365_CLIENT_SECRET", SECRET)


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "newsletter.db") as opened:
        yield opened


def make(httpserver, login, session, store=None, at=None, **keys):
    settings = IntuneSettings(tenant_id=TENANT, client_id=CLIENT, client_secret=Secret(env="M365_CLIENT_SECRET"),
                              authority=f"https://127.0.0.1:{login.port}", base_url=httpserver.url_for("/v1.0"),
                              **keys)
    collector = Intune(settings, name="devices", session=session, state=store,
                       clock=lambda: at or datetime(2026, 10, 15, 9, 0, tzinfo=UTC))
    collector.validate()
    return collector


def snapshot(collector, store, at):
    """What `newsletter snapshot` does for this source at `at`."""
    collector.clock = lambda: at
    store.save_snapshot(collector.name, at, collector.take_snapshot())


def test_a_berlin_month_from_its_daily_readings_counted_by_hand(httpserver, login, tls_session, store):
    serve_login(login, grants := [])
    fleet = Fleet(httpserver, START_FLEET)
    collector = make(httpserver, login, tls_session, store, patch_days=14)
    snapshot(collector, store, datetime(2026, 9, 30, 22, 30, tzinfo=UTC))  # 1 October 00:30 in Berlin
    start = store.snapshots("devices", datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))[0]
    for day in range(2, 31):  # the same fleet every day until the 30th
        store.save_snapshot("devices", datetime(2026, 10, day, 5, 0, tzinfo=UTC), start.reading)
    fleet.devices = END_FLEET
    snapshot(collector, store, datetime(2026, 10, 31, 22, 30, tzinfo=UTC))  # 31 October 23:30 CET
    fleet.devices = NOVEMBER_FLEET
    snapshot(collector, store, datetime(2026, 10, 31, 23, 30, tzinfo=UTC))  # 1 November 00:30 CET: November's
    collector.clock = lambda: datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    stats = collector.collect(OCTOBER)
    # 31 October: Windows w1 patched (w2 behind, w3 silent 30 days), macOS m1 (m2 behind), i1, a1 (newest level)
    assert (stats.managed, stats.compliant, stats.patched, stats.patch_days) == (7, 5, 4, 14)
    assert (stats.managed_month_start, stats.compliant_month_start, stats.as_of) == (4, 3, "2026-10-31")
    assert [group.metrics() for group in stats.by_os] == [
        {"os": "Windows", "managed": 3, "compliant": 2, "patched": 1},
        {"os": "macOS", "managed": 2, "compliant": 2, "patched": 1},
        {"os": "Android", "managed": 1, "compliant": 0, "patched": 1},
        {"os": "iOS", "managed": 1, "compliant": 1, "patched": 1}]
    assert (stats.compliant_pct, stats.patched_pct) == (71.4286, 57.1429)  # 5 / 7, 4 / 7
    assert not stats.partial and stats.warnings == () and stats.covered_days == 31
    assert {asked["$select"] for asked in fleet.asked} == {SELECT}  # only counts' fields: no names, no users
    assert len(fleet.asked) == 2 + 3 + 4 + 4  # 4 devices in 2 pages, 7 in 3, 12 in 4, and 12 again: collect
    # reads the fleet too (2 November's reading: not October's)
    stored = str([s.reading for s in store.snapshots("devices", datetime(2026, 9, 1, tzinfo=UTC),
                                                      datetime(2026, 12, 1, tzinfo=UTC))])
    assert not any(word in stored for word in ("LAPTOP", "corp.example", "SN", "w1", "10.0.26100"))
    assert grants[0]["grant_type"] == "client_credentials" and grants[0]["scope"].endswith("/.default")


def test_missing_days_make_the_month_partial_and_are_named(httpserver, login, tls_session, store):
    serve_login(login, [])
    Fleet(httpserver, END_FLEET)
    collector = make(httpserver, login, tls_session, store)
    for day in (1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31):
        snapshot(collector, store, datetime(2026, 10, day, 12, 0, tzinfo=UTC))
    collector.clock = lambda: datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    stats = collector.collect(OCTOBER)
    assert stats.partial is True and stats.covered_days == 27 and stats.managed == 7
    assert stats.warnings[0].startswith("no snapshot on 3 and 17–19 October: these numbers cover 27 of the 31 days "
                                        "of October 2026")


def test_a_month_without_a_reading_cannot_be_told(httpserver, login, tls_session, store):
    serve_login(login, [])
    Fleet(httpserver, END_FLEET)
    collector = make(httpserver, login, tls_session, store, at=datetime(2026, 11, 2, tzinfo=UTC))
    store.save_snapshot("devices", datetime(2026, 9, 30, 21, 0, tzinfo=UTC), {"by_os": {}})  # 30 Sept 23:00 CEST
    with pytest.raises(SourceError, match="no snapshot of source devices in October 2026, so the month cannot be "
                                          "told"):
        collector.collect(OCTOBER)
    assert [s.taken_at.day for s in store.snapshots("devices", datetime(2026, 11, 1, tzinfo=UTC),
                                                     datetime(2026, 11, 3, tzinfo=UTC))] == [2]  # read all the same


def test_a_fleet_unreadable_now_is_a_warning_while_the_stored_days_tell_the_month(httpserver, login, tls_session,
                                                                                   store):
    serve_login(login, [])
    httpserver.expect_request(DEVICES).respond_with_json({"error": {"code": "ServiceUnavailable"}}, status=503)
    good = {"by_os": {"Windows": {"managed": 4, "compliant": 3, "patched": 2}}, "patch_days": 14}
    for day in range(1, 31):
        store.save_snapshot("devices", datetime(2026, 10, day, 10, tzinfo=UTC), good)
    stats = make(httpserver, login, tls_session, store, at=datetime(2026, 10, 31, 12, 0, tzinfo=UTC)).collect(OCTOBER)
    assert (stats.managed, stats.as_of, stats.partial, stats.covered_days) == (4, "2026-10-30", True, 30)
    assert stats.warnings[0].startswith("no snapshot on 31 October: these numbers cover 30 of the 31 days")
    assert stats.warnings[1].startswith("Intune could not be read now (Microsoft Graph answered 503")
    assert stats.warnings[1].endswith("): counted from the days stored")


def test_a_fleet_unreadable_now_and_no_day_stored_fails_saying_why(httpserver, login, tls_session, store):
    serve_login(login, [])
    httpserver.expect_request(DEVICES).respond_with_json({"error": {"code": "ServiceUnavailable"}}, status=503)
    with pytest.raises(SourceError, match="Microsoft Graph answered 503"):
        make(httpserver, login, tls_session, store, at=datetime(2026, 10, 31, 12, 0, tzinfo=UTC)).collect(OCTOBER)


def test_an_unreadable_day_is_left_out_with_a_warning(httpserver, login, tls_session, store):
    serve_login(login, [])
    Fleet(httpserver, END_FLEET)
    collector = make(httpserver, login, tls_session, store, at=datetime(2026, 11, 2, tzinfo=UTC))
    good = {"by_os": {"Windows": {"managed": 4, "compliant": 3, "patched": 2}}, "patch_days": 14}
    for day in range(1, 32):
        store.save_snapshot("devices", datetime(2026, 10, day, 10, tzinfo=UTC), good)
    store.save_snapshot("devices", datetime(2026, 10, 31, 12, tzinfo=UTC), {"by_os": {"Windows": {"managed": "x"}}})
    stats = collector.collect(OCTOBER)
    assert (stats.managed, stats.as_of, stats.partial, stats.covered_days) == (4, "2026-10-30", True, 30)
    assert "the snapshot of 2026-10-31 is unreadable" in stats.warnings[-1]


# the HTTP side, through the shared fault harness: collect reads the fleet now, then tells the month --------
def harness(httpserver, login, ca, tmp_path):
    def build(session) -> Collector:
        store = Store(tmp_path / f"faults-{len(list(tmp_path.glob('faults-*')))}.db")
        settings = make(httpserver, login, session).settings
        return Intune(settings, name="devices", session=trusting_login(session, ca, tmp_path), state=store,
                      clock=lambda: datetime(2026, 10, 15, 9, 0, tzinfo=UTC))
    return Faults(DEVICES, lambda: Fleet(httpserver, END_FLEET), build, OCTOBER,
                  hint="DeviceManagementManagedDevices.Read.All", secret=ACCESS)


@pytest.mark.parametrize("fault", FAULTS)
def test_faults(fault, httpserver, caplog, login, ca, tmp_path):
    serve_login(login, [])
    good = check_fault(harness(httpserver, login, ca, tmp_path), fault, httpserver, caplog)
    assert good.metrics["managed"] == 7 and good.metrics["partial"] is True  # 15 days begun, one reading


def test_a_wrong_secret_is_named_not_shown(httpserver, login, tls_session, store, caplog):
    serve_login(login, [], secret="the-right-one")
    Fleet(httpserver, END_FLEET)
    with pytest.raises(SourceError, match=r"Microsoft Entra refused the client credentials \(invalid_client: "
                                          r"AADSTS7000215: Invalid client secret provided\.\): check client_id, "
                                          r"M365_CLIENT_SECRET and tenant_id") as info:
        make(httpserver, login, tls_session, store).take_snapshot()
    assert leaks(str(info.value) + caplog.text, SECRET) == []


def test_a_next_link_to_another_server_is_not_followed(httpserver, login, tls_session, store):
    serve_login(login, [])
    httpserver.expect_request(DEVICES).respond_with_json(
        {"value": [W1], "@odata.nextLink": "https://graph.attacker.example/v1.0/deviceManagement/managedDevices"})
    with pytest.raises(SourceError, match=r"pointed the next page at another server \(https://graph.attacker.example"
                                          r"\); stopped so the token is not sent there"):
        make(httpserver, login, tls_session, store).take_snapshot()


def test_paging_that_never_ends_is_stopped(httpserver, login, ca, tmp_path):
    serve_login(login, [])
    pages = iter(range(10**6))

    def endless(request):
        return json_response({"value": [device(f"d{next(pages)}", "iOS", "18.1", "compliant", None)],
                              "@odata.nextLink": httpserver.url_for(DEVICES) + f"?$skiptoken={next(pages)}"})

    httpserver.expect_request(DEVICES).respond_with_handler(endless)
    result = run(harness(httpserver, login, ca, tmp_path).build(make_session(FAST)), OCTOBER, max_pages=5)
    assert result.status == "failed"
    assert result.error == "Microsoft Graph paging stopped after 5 pages; narrow the query or raise max_pages"


def test_the_same_next_link_twice_is_stopped(httpserver, login, tls_session, store):
    serve_login(login, [])
    httpserver.expect_request(DEVICES).respond_with_json(
        {"value": [W1], "@odata.nextLink": httpserver.url_for(DEVICES) + "?$skiptoken=again"})
    with pytest.raises(SourceError, match="returned the same page token twice"):
        make(httpserver, login, tls_session, store).take_snapshot()


def test_an_answer_without_value(httpserver, login, tls_session, store):
    serve_login(login, [])
    httpserver.expect_request(DEVICES).respond_with_handler(lambda r: Response('{"items": []}',
                                                                               content_type="application/json"))
    with pytest.raises(SourceError, match=r"answered /deviceManagement/managedDevices without a 'value' list"):
        make(httpserver, login, tls_session, store).take_snapshot()


@pytest.mark.parametrize("days", [0, 366])
def test_patch_days_is_checked_before_any_request(days):
    settings = IntuneSettings(tenant_id=TENANT, client_id=CLIENT, client_secret=Secret(env="M365_CLIENT_SECRET"),
                              patch_days=days)
    collector = Intune(settings, name="devices")
    with pytest.raises(ConfigError, match=f"source devices: patch_days: expected a value from 1 to 365, got {days}"):
        collector.validate()
    assert collector._session is None



def test_a_device_id_that_is_no_text_is_read_as_its_text(httpserver, login, tls_session, store):
    serve_login(login, [])
    odd = [dict(W1, id=["w1"]), dict(M1, id={"id": "m1"}), dict(I1, id=["w1"])]  # the last is the first again
    httpserver.expect_request(DEVICES).respond_with_json({"value": odd})
    reading = make(httpserver, login, tls_session, store).take_snapshot()
    assert {name: group["managed"] for name, group in reading["by_os"].items()} == {"Windows": 1, "macOS": 1}
