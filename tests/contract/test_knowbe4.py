"""KnowBe4 Reporting API v1: Bearer key, the regional host as base_url, plain JSON arrays paged with
`page` and `per_page`; the month's security tests by `started_at`, its trainings by `completion_date`,
at the edges of a Berlin month (October 2026: 2026-09-30 22:00 UTC to 2026-10-31 23:00 UTC)."""

from __future__ import annotations

import json

import pytest
from werkzeug import Response

from newsletter.binding import Secret, Where, bind
from newsletter.collectors.knowbe4 import KnowBe4, KnowBe4Settings
from newsletter.errors import ConfigError, SourceError
from tests.contract.conftest import OCTOBER
from tests.contract.helpers import FAULTS, Faults, check_fault, json_response, leaks, run

KEY = "kb4-reporting-token-0a1b2c3d"


def security_test(pst_id, started_at, status="Closed", delivered=0, clicked=0, reported=0, ppp=0.0):
    """One security test as /v1/phishing/security_tests lists it (fields this collector does not read trimmed)."""
    return {"campaign_id": 3423, "pst_id": pst_id, "status": status, "name": f"Test {pst_id}",
            "groups": [{"group_id": 16342, "name": "Corporate Employees"}], "phish_prone_percentage": ppp,
            "started_at": started_at, "duration": 3, "template": {"id": 11428, "name": "Parcel notice"},
            "scheduled_count": delivered + 2, "delivered_count": delivered, "opened_count": clicked * 2,
            "clicked_count": clicked, "replied_count": 0, "attachment_open_count": 1, "macro_enabled_count": 0,
            "data_entered_count": 1, "qr_code_scanned_count": 0, "reported_count": reported, "bounced_count": 2}


def enrollment(enrollment_id, completion_date, status="Passed"):
    return {"enrollment_id": enrollment_id, "content_type": "Training Module", "module_name": "Phishing basics",
            "user": {"id": 796742, "first_name": "Sarah", "last_name": "Thomas", "email": "s.thomas@corp.example"},
            "campaign_name": "Quarterly training", "enrollment_date": "2026-09-01T08:00:00.000Z",
            "start_date": "2026-09-02T08:00:00.000Z", "completion_date": completion_date, "status": status,
            "time_spent": 1200, "policy_acknowledged": False}


TESTS = [
    security_test(101, "2026-09-30T22:30:00.000Z", delivered=200, clicked=18, reported=40, ppp=10.5),  # 00:30 CEST
    security_test(102, "2026-10-15T08:00:00.000Z", delivered=300, clicked=9, reported=75, ppp=4.0),
    security_test(103, "2026-10-31T23:30:00.000Z", delivered=900, clicked=90, ppp=10.0),  # Nov 1 00:30 CET: November's
    security_test(104, "2026-09-30T21:59:59.000Z", delivered=800, clicked=80, ppp=10.0),  # Sep 30 23:59:59 CEST
    security_test(105, "2026-10-31T22:59:00.000Z", status="Active", delivered=100, reported=5),  # Oct 31 23:59 CET
    security_test(106, None, status="Scheduled"),  # not started yet
]
ENROLLMENTS = [
    enrollment(1, "2026-09-30T22:10:00.000Z"),  # Oct 1 00:10 CEST
    enrollment(2, "2026-10-20T10:00:00.000Z", "Completed"),
    enrollment(3, "2026-10-31T23:00:00.000Z"),  # Nov 1 00:00 CET: the month's end is exclusive
    enrollment(4, "2026-09-30T21:00:00.000Z"),  # Sep 30 23:00 CEST
    enrollment(5, None, "In Progress"),
    enrollment(6, "2026-10-05T09:00:00.000Z", "Past Due"),  # completed late: still completed in October
    enrollment(7, "2026-10-06T09:00:00.000Z", "Not Started"),  # a date that the status contradicts
]


def listing(rows, asked=None):
    def handle(request):
        if request.headers.get("Authorization") != f"Bearer {KEY}":
            return json_response({"message": "Unauthorized"}, 401)
        page, size = int(request.args["page"]), int(request.args["per_page"])
        if asked is not None:
            asked.append((request.path, page, size))
        return json_response(rows[(page - 1) * size:page * size])
    return handle


def serve(httpserver, asked=None, tests=TESTS, enrollments=ENROLLMENTS):
    httpserver.expect_request("/v1/phishing/security_tests").respond_with_handler(listing(tests, asked))
    httpserver.expect_request("/v1/training/enrollments").respond_with_handler(listing(enrollments, asked))


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("KNOWBE4_API_KEY", KEY)


def make(base_url, session=None, **keys):
    settings = bind(KnowBe4Settings, {"base_url": base_url, "api_key_env": "KNOWBE4_API_KEY", **keys},
                    Where("awareness.toml"))
    collector = KnowBe4(settings, name="awareness", session=session)
    collector.validate()
    return collector


def test_the_month_of_a_berlin_account_counted_by_hand(httpserver, session):
    asked = []
    serve(httpserver, asked)
    stats = make(httpserver.url_for("/"), session, page_size=2).collect(OCTOBER)
    # tests 101, 102 and 105 started in October in Berlin; 103, 104 and 106 did not
    assert (stats.simulations, stats.delivered, stats.clicked, stats.reported) == (3, 600, 27, 120)
    # KnowBe4's percentages weighted by delivered: (10.5 * 200 + 4.0 * 300 + 0.0 * 100) / 600
    assert stats.phish_prone_pct == 5.5
    assert stats.reported_pct == 20.0  # 120 / 600
    assert stats.trainings_completed == 3  # 1, 2 and 6
    assert stats.warnings == ("1 of the month's phishing tests are still running: their counts may still grow",)
    # three pages of two tests, then one short page; four of enrollments
    assert asked == [("/v1/phishing/security_tests", page, 2) for page in (1, 2, 3, 4)] + [
        ("/v1/training/enrollments", page, 2) for page in (1, 2, 3, 4)]
    assert stats.metrics()["phish_prone_pct"] == 5.5


def test_the_bare_regional_host_gets_v1_and_500_rows_a_page(httpserver, session):
    asked = []
    serve(httpserver, asked)
    stats = make(httpserver.url_for(""), session, trainings=False).collect(OCTOBER)
    assert asked == [("/v1/phishing/security_tests", 1, 500)]  # the enrollments are not read
    assert stats.trainings_completed is None and stats.simulations == 3


def test_without_a_vendor_percentage_it_falls_back_to_clicks_and_says_so(httpserver, session):
    tests = [dict(TESTS[0]), dict(TESTS[1], phish_prone_percentage=None)]
    serve(httpserver, tests=tests)
    stats = make(httpserver.url_for("/"), session).collect(OCTOBER)
    assert stats.phish_prone_pct == 5.4  # (18 + 9) / 500
    assert any("clicked / delivered" in warning and "test 102" in warning for warning in stats.warnings)


def test_an_unreadable_count_is_unknown_never_zero(httpserver, session):
    tests = [dict(TESTS[0]), dict(TESTS[1], clicked_count="many")]
    serve(httpserver, tests=tests)
    stats = make(httpserver.url_for("/"), session).collect(OCTOBER)
    assert stats.clicked is None and stats.delivered == 500
    assert stats.phish_prone_pct == 6.6  # the vendor's figures: (10.5 * 200 + 4.0 * 300) / 500
    assert "without a readable clicked_count" in stats.warnings[0]


def test_a_month_without_tests_has_no_percentage(httpserver, session):
    serve(httpserver, tests=[TESTS[2]], enrollments=[])
    stats = make(httpserver.url_for("/"), session).collect(OCTOBER)
    assert (stats.simulations, stats.delivered, stats.phish_prone_pct, stats.trainings_completed) == (0, 0, None, 0)


def faults(httpserver, path):
    return Faults(path, lambda: serve(httpserver), lambda s: make(httpserver.url_for("/"), s), OCTOBER,
                  hint="KNOWBE4_API_KEY", secret=KEY)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("path", ["/v1/phishing/security_tests", "/v1/training/enrollments"],
                         ids=["tests", "enrollments"])
def test_faults(fault, path, httpserver, caplog):
    check_fault(faults(httpserver, path), fault, httpserver, caplog)


def test_a_wrong_key_is_named_not_shown(httpserver, session, monkeypatch, caplog):
    monkeypatch.setenv("KNOWBE4_API_KEY", "a-wrong-key-4d5e6f7a8b")
    serve(httpserver)
    result = run(make(httpserver.url_for("/"), session), OCTOBER)
    assert result.status == "failed"
    assert result.error == "KnowBe4 answered 401 UNAUTHORIZED: check KNOWBE4_API_KEY and its permissions"
    assert leaks(result.error + caplog.text, "a-wrong-key-4d5e6f7a8b") == []


def test_paging_that_never_ends_is_stopped(httpserver, session):
    def endless(request):
        page, size = int(request.args["page"]), int(request.args["per_page"])
        return json_response([security_test(page * 1000 + n, "2026-10-02T08:00:00Z") for n in range(size)])

    httpserver.expect_request("/v1/phishing/security_tests").respond_with_handler(endless)
    result = run(make(httpserver.url_for("/"), session, page_size=3), OCTOBER, max_pages=6)
    assert result.status == "failed"
    assert result.error == "KnowBe4 paging stopped after 6 pages; narrow the query or raise max_pages"


def test_a_page_served_again_and_again_is_stopped(httpserver, session):
    httpserver.expect_request("/v1/phishing/security_tests").respond_with_json(TESTS[:2])
    with pytest.raises(SourceError, match=r"sent page 2 of /phishing/security_tests with the same rows as an "
                                          r"earlier page; stopped paging"):
        make(httpserver.url_for("/"), session, page_size=2).collect(OCTOBER)


def test_an_answer_that_is_not_a_list(httpserver, session):
    httpserver.expect_request("/v1/phishing/security_tests").respond_with_handler(
        lambda request: Response(json.dumps({"data": []}), content_type="application/json"))
    with pytest.raises(SourceError, match=r"KnowBe4 answered /phishing/security_tests without a list; check base_url"):
        make(httpserver.url_for("/"), session).collect(OCTOBER)


def test_an_unreadable_start_names_the_test(httpserver, session):
    serve(httpserver, tests=[dict(TESTS[0], started_at="last Tuesday")])
    with pytest.raises(SourceError, match=r"unreadable date 'last Tuesday' in security test 101 started_at"):
        make(httpserver.url_for("/"), session).collect(OCTOBER)


@pytest.mark.parametrize(("url", "says"), [
    ("https://eu.knowbe4.com", "eu.knowbe4.com is not a Reporting API host; use https://eu.api.knowbe4.com for "
                               "the console at eu.knowbe4.com"),
    ("https://training.knowbe4.com/v1", "use https://us.api.knowbe4.com for the console at training.knowbe4.com"),
    ("https://xx.api.knowbe4.com", "use your region's API host: https://us.api.knowbe4.com, "
                                   "https://eu.api.knowbe4.com, https://ca.api.knowbe4.com"),
    ("http://eu.api.knowbe4.com", "use https://"),
])
def test_a_host_that_is_not_a_reporting_api_host_is_refused_before_any_request(url, says):
    settings = bind(KnowBe4Settings, {"base_url": url, "api_key_env": "KNOWBE4_API_KEY"}, Where("awareness.toml"))
    collector = KnowBe4(settings, name="awareness")
    with pytest.raises(ConfigError, match="source awareness: base_url: ") as info:
        collector.validate()
    assert says in str(info.value)
    assert collector._session is None


@pytest.mark.parametrize("url", [f"https://{region}.api.knowbe4.com" for region in ("us", "eu", "ca", "uk", "de")])
def test_every_documented_region_is_accepted(url):
    KnowBe4(KnowBe4Settings(base_url=url, api_key=Secret(env="KNOWBE4_API_KEY")), name="awareness").validate()


@pytest.mark.parametrize("size", [0, 501])
def test_page_size_is_bounded_by_the_api(size):
    settings = KnowBe4Settings(base_url="https://eu.api.knowbe4.com", api_key=Secret(env="KNOWBE4_API_KEY"),
                               page_size=size)
    with pytest.raises(ConfigError, match=f"source awareness: page_size: expected a value from 1 to 500, got {size}"):
        KnowBe4(settings, name="awareness").validate()


def test_a_hostile_test_id_is_cut_in_the_warning(httpserver, session):
    serve(httpserver, tests=[dict(TESTS[0], pst_id="9" * 5000, clicked_count=None)])
    [warning] = make(httpserver.url_for("/"), session).collect(OCTOBER).warnings
    assert warning.startswith("KnowBe4 sent test " + "9" * 40 + "… without a readable clicked_count")
    assert len(warning) < 200


def test_a_vendor_percentage_below_the_clicks_alone_is_not_believed(httpserver, session):
    """Clicks are one kind of failure: a phish-prone percentage under clicked / delivered (a fraction
    sent where a percentage is expected, say) would print a number 100 times too small."""
    serve(httpserver, tests=[dict(TESTS[0], phish_prone_percentage=0.105), TESTS[1]])
    stats = make(httpserver.url_for("/"), session).collect(OCTOBER)
    assert stats.phish_prone_pct == 5.4  # (18 + 9) / 500
    [warning] = stats.warnings
    assert warning.startswith("KnowBe4's phish-prone percentage for test 101 (0.105 %) is below its clicks alone "
                              "(18 of 200 delivered, 9 %): the month's phish-prone percentage is clicked / delivered")


def test_more_clicks_or_reports_than_delivered_emails_is_unknown_never_over_100(httpserver, session):
    """A test cannot be clicked or reported by more people than it reached: such counts are not believed,
    so no share over 100 % reaches the email."""
    serve(httpserver, tests=[dict(TESTS[0], clicked_count=400, reported_count=250, phish_prone_percentage=50.0)])
    stats = make(httpserver.url_for("/"), session).collect(OCTOBER)
    assert (stats.delivered, stats.clicked, stats.reported) == (200, None, None)
    assert stats.phish_prone_pct is None and stats.reported_pct is None
    assert any("test 101 with a clicked_count (400) over its delivered_count (200)" in w for w in stats.warnings)
    assert any("test 101 with a reported_count (250) over its delivered_count (200)" in w for w in stats.warnings)


def test_a_row_listed_again_on_a_later_page_counts_once(httpserver, session):
    """Page numbers shift when rows are added while the list is read: a row seen again is not counted twice."""
    pages = {1: [ENROLLMENTS[0], ENROLLMENTS[1]], 2: [ENROLLMENTS[1], ENROLLMENTS[5]], 3: []}
    tests = {1: [TESTS[0], TESTS[1]], 2: [TESTS[1], TESTS[4]], 3: []}
    httpserver.expect_request("/v1/phishing/security_tests").respond_with_handler(
        lambda request: json_response(tests[int(request.args["page"])]))
    httpserver.expect_request("/v1/training/enrollments").respond_with_handler(
        lambda request: json_response(pages[int(request.args["page"])]))
    stats = make(httpserver.url_for("/"), session, page_size=2).collect(OCTOBER)
    assert stats.trainings_completed == 3  # enrollments 1, 2 and 6, not 2 twice
    assert (stats.simulations, stats.delivered) == (3, 600)  # tests 101, 102 and 105, not 102 twice


def test_a_row_id_that_is_no_text_is_read_as_its_text(httpserver, session):
    serve(httpserver, tests=[dict(TESTS[0], pst_id=[101]), dict(TESTS[1], pst_id={"id": 102})],
          enrollments=[dict(ENROLLMENTS[0], enrollment_id=[1])])
    stats = make(httpserver.url_for("/"), session).collect(OCTOBER)
    assert (stats.simulations, stats.delivered, stats.trainings_completed) == (2, 500, 1)
