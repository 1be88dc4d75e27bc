"""The shared HTTP layer against a real server on 127.0.0.1: retries, Retry-After, rate limits,
timeouts, TLS, paging guard, and secrets kept out of errors and logs."""

from __future__ import annotations

import email.utils
import ssl
import time
from datetime import UTC, datetime, timedelta

import pytest
import trustme
from werkzeug import Response

from newsletter.errors import SourceError
from newsletter.http import HttpClient, HttpPolicy, PageGuard, _seconds_until, make_session, redact_url
from newsletter.limits import DeadlineExceeded, budget
from tests.conftest import free_port
from tests.contract.helpers import (
    FAST,
    SECRET,
    Sequence,
    debug_everything,
    echo_credentials,
    json_response,
    leaks,
    status,
    trickle,
)
from tests.fixtures.http import QuickServer

OK = status(200, body={"ok": True})


def client(server, **kw) -> HttpClient:
    return HttpClient(make_session(kw.pop("policy", FAST)), server.url_for("/"), "Acme",
                      credential_hint="ACME_TOKEN", headers={"Authorization": f"Bearer {SECRET}"},
                      secrets=(SECRET,), **kw)


def test_policy_travels_with_the_session(httpserver):
    assert client(httpserver).policy is FAST
    assert HttpClient(make_session(), "https://x", "Acme").policy == HttpPolicy()
    assert make_session().verify is True


@pytest.mark.parametrize("retry_after", ["1", "3600", "date", "soon", "-5"])
def test_retry_after_is_honoured_capped_and_never_fatal(httpserver, retry_after):
    if retry_after == "date":
        retry_after = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    handler = Sequence(status(429, {"Retry-After": retry_after}), OK)
    httpserver.expect_request("/x").respond_with_handler(handler)
    started = time.monotonic()
    assert client(httpserver).get_json("/x") == {"ok": True}
    assert handler.calls == 2
    assert time.monotonic() - started < FAST.max_retry_after_s + 0.5  # capped at 0.3 s


def _waits_after_429s(policy: HttpPolicy, draw: float, count: int) -> list[float]:
    """The waits the session's retry chooses after `count` 429s in a row that carry no Retry-After."""
    from urllib3 import HTTPResponse
    retry = make_session(policy).get_adapter("https://x").max_retries
    retry.draw = lambda: draw
    waits = []
    for _ in range(count):
        answer = HTTPResponse(status=429, headers={})
        retry = retry.increment(method="GET", url="/x", response=answer)
        waits.append(round(retry.get_retry_after(answer), 6))
    return waits


@pytest.mark.parametrize(("draw", "expected"), [
    (0.5, [2, 4, 8, 16, 32, 60, 60]),  # the middle of the jitter: 2 s doubling, capped at 60 s
    (1.0, [2.5, 5, 10, 20, 40, 60, 60]),  # +25 %, never past the cap
    (0.0, [1.5, 3, 6, 12, 24, 45, 45]),  # -25 %
])
def test_429_without_retry_after_backs_off_exponentially_with_jitter(draw, expected):
    assert _waits_after_429s(HttpPolicy(retries=7), draw, 7) == expected


def test_429_backoff_follows_the_policy_and_its_draw_travels_with_the_copies():
    tiny = HttpPolicy(retries=3, rate_limit_wait_s=0.01, max_retry_after_s=0.03)
    assert _waits_after_429s(tiny, 0.5, 3) == [0.01, 0.02, 0.03]
    retry = make_session().get_adapter("https://x").max_retries
    assert retry.new().draw is retry.draw  # kept on the copies urllib3 makes per attempt


def test_429_without_retry_after_waits_and_succeeds(httpserver):
    handler = Sequence(status(429), status(429), OK)
    httpserver.expect_request("/x").respond_with_handler(handler)
    started = time.monotonic()
    assert client(httpserver).get_json("/x") == {"ok": True} and handler.calls == 3
    assert time.monotonic() - started >= 0.75 * (FAST.rate_limit_wait_s * 3)  # 0.05 s, then 0.1 s, ± 25 %


def test_503_with_retry_after_and_500_are_retried(httpserver):
    handler = Sequence(status(503, {"Retry-After": "0"}), status(500), OK)
    httpserver.expect_request("/x").respond_with_handler(handler)
    assert client(httpserver).get_json("/x") == {"ok": True} and handler.calls == 3


def test_429_that_never_ends_says_so(httpserver):
    httpserver.expect_request("/x").respond_with_handler(status(429))
    with pytest.raises(SourceError, match=r"429.*rate limit still exceeded after retries"):
        client(httpserver).get_json("/x")


def test_spent_budget_waits_until_reset(httpserver):
    reset = (datetime.now(UTC) + timedelta(seconds=0.2)).isoformat()  # Jira: ISO 8601
    httpserver.expect_request("/x").respond_with_json({}, headers={"X-RateLimit-Remaining": "0",
                                                                   "X-RateLimit-Reset": reset})
    waits: list[float] = []
    client(httpserver, sleep=waits.append).get_json("/x")
    assert len(waits) == 1 and 0 < waits[0] <= FAST.max_retry_after_s


def test_budget_left_does_not_wait(httpserver):
    httpserver.expect_request("/x").respond_with_json({}, headers={"X-RateLimit-Remaining": "12"})
    waits: list[float] = []
    client(httpserver, sleep=waits.append).get_json("/x")
    assert waits == []


@pytest.mark.parametrize(("value", "low", "high"), [("30", 29, 30), ("1.5", 1.4, 1.5), ("junk", 1, 1)])
def test_seconds_until(value, low, high):
    assert low <= _seconds_until(value) <= high


def test_seconds_until_absolute_times():
    soon = datetime.now(UTC) + timedelta(seconds=20)
    for value in (str(int(soon.timestamp())), soon.isoformat(), email.utils.format_datetime(soon, usegmt=True)):
        assert 17 <= _seconds_until(value) <= 20


def test_read_timeout_is_retried_then_reported(httpserver):
    def slow(request):
        time.sleep(1)
        return json_response({})
    handler = Sequence(slow)
    httpserver.expect_request("/x").respond_with_handler(handler)
    with pytest.raises(SourceError, match=r"Acme did not answer within 0.4 s \(http://127.0.0.1:\d+/x\)"):
        client(httpserver).get_json("/x", params={"q": "private"})
    assert handler.calls == 3


def test_connection_refused_names_base_url():
    dead = HttpClient(make_session(FAST), f"http://127.0.0.1:{free_port()}", "Acme")
    with pytest.raises(SourceError, match=r"cannot reach Acme at http://127.0.0.1:\d+/x .*check base_url"):
        dead.get_json("/x")


@pytest.mark.parametrize("written", [f"{SECRET}\r", f"{SECRET}\n", f" {SECRET}"])
def test_a_credential_with_a_line_break_or_a_space_names_the_credential_not_the_network(httpserver, written):
    # A variable read from a file with Windows line ends keeps its "\r": no header may carry it.
    httpserver.expect_request("/x").respond_with_handler(OK)
    c = HttpClient(make_session(FAST), httpserver.url_for("/"), "Acme", credential_hint="ACME_TOKEN",
                   headers={"X-Api-Key": written}, secrets=(written,))
    with pytest.raises(SourceError) as caught:
        c.get_json("/x")
    assert "ACME_TOKEN" in str(caught.value) and "network" not in str(caught.value), str(caught.value)
    assert leaks(str(caught.value), SECRET) == [] and httpserver.log == []


def test_errors_name_what_to_check(httpserver):
    httpserver.expect_request("/401").respond_with_handler(status(401))
    httpserver.expect_request("/404").respond_with_handler(status(404))
    httpserver.expect_request("/html").respond_with_data("<html>login</html>")
    httpserver.expect_request("/500").respond_with_data(f"boom: token {SECRET} rejected\nline 2", status=500)
    c = client(httpserver)
    with pytest.raises(SourceError, match="Acme answered 401 UNAUTHORIZED: check ACME_TOKEN"):
        c.get_json("/401")
    with pytest.raises(SourceError, match=r"404 NOT FOUND for .*/404: check base_url"):
        c.get_json("/404")
    with pytest.raises(SourceError, match=r"not JSON from http://127.0.0.1:\d+/html"):
        c.get_json("/html", params={"secret": "x"})
    with pytest.raises(SourceError) as caught:
        c.get_json("/500")
    assert SECRET not in str(caught.value) and "token *** rejected line 2" in str(caught.value)


def test_accepted_status_is_returned(httpserver):
    httpserver.expect_request("/none").respond_with_json({"errorMessage": "none"}, status=404)
    assert client(httpserver).fetch_json("GET", "/none", accept=(404,)).data == {"errorMessage": "none"}


def test_link_header_is_exposed(httpserver):
    httpserver.expect_request("/x").respond_with_json([], headers={"Link": '<http://h/x?page=2>; rel="next"'})
    assert client(httpserver).fetch_json("GET", "/x").next_link() == "http://h/x?page=2"


def test_secrets_stay_out_of_debug_logs(httpserver, caplog):
    debug_everything(caplog)
    httpserver.expect_request("/x").respond_with_handler(Sequence(status(500), status(401)))
    with pytest.raises(SourceError) as caught:
        client(httpserver).get_json("/x", params={"page": 2})
    assert "ACME_TOKEN" in str(caught.value)
    assert "GET http://127.0.0.1" in caplog.text  # the layer logs what it does ...
    assert SECRET not in caplog.text and SECRET not in str(caught.value)  # ... never the secret


@pytest.fixture(scope="module")
def tls_server():
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = QuickServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    server.expect_request("/x").respond_with_json({"tls": True})
    with ca.cert_pem.tempfile() as ca_file:
        yield server, ca_file
    server.stop()


def test_tls_is_verified(tls_server):
    server, ca_file = tls_server
    untrusted = HttpClient(make_session(FAST), server.url_for("/"), "Acme")
    with pytest.raises(SourceError, match=r"TLS verification failed for https://127.0.0.1:\d+/x"):
        untrusted.get_json("/x")
    trusted = HttpClient(make_session(FAST), server.url_for("/"), "Acme", ca_bundle=ca_file)
    assert trusted.get_json("/x") == {"tls": True}
    keyed = HttpClient(make_session(FAST), server.url_for("/"), "Acme", address_key="delivery.directory.graph_url",
                       ca_key="delivery.directory.ca_file")
    with pytest.raises(SourceError, match=r"check delivery.directory.graph_url and the server's certificate "
                                          r"\(or set delivery.directory.ca_file\)$"):
        keyed.get_json("/x")


def test_a_sessions_private_ca_is_trusted_besides_the_default_ones(tls_server, tmp_path, monkeypatch):
    """ca_file adds a CA (a proxy's, say) to what is trusted: the hosts the default CAs vouch for stay
    reachable. REQUESTS_CA_BUNDLE stands in for those defaults here: it names this server's CA."""
    server, ca_file = tls_server
    other = tmp_path / "proxy-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)
    assert HttpClient(make_session(FAST, other), server.url_for("/"), "Acme").get_json("/x") == {"tls": True}
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    assert HttpClient(make_session(FAST, ca_file), server.url_for("/"), "Acme").get_json("/x") == {"tls": True}
    with pytest.raises(SourceError, match="TLS verification failed"):
        HttpClient(make_session(FAST, other), server.url_for("/"), "Acme").get_json("/x")


@pytest.mark.parametrize("sized", [True, False], ids=["content-length", "chunked"])
def test_an_answer_larger_than_any_api_page_stops_at_the_cap_not_at_the_memory(httpserver, monkeypatch, sized):
    monkeypatch.setattr("newsletter.http_session.MAX_BODY_BYTES", 1024 * 1024)
    piece = b" " * 65536

    def endless(request):
        def body():
            yield b'{"value": ['
            while True:
                yield piece
        headers = {"Content-Length": str(1 << 40)} if sized else {}
        return Response(body(), content_type="application/json", headers=headers)
    httpserver.expect_request("/x").respond_with_handler(endless)
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"more than 1 MB from http://127.0.0.1:\d+/x"):  # no deadline at all
        client(httpserver).get_json("/x")
    with budget(deadline_s=30), pytest.raises(SourceError, match=r"more than 1 MB"):
        client(httpserver).get_json("/x")
    assert time.monotonic() - started < 5


def test_page_guard():
    guard = PageGuard("Acme", max_pages=3)
    for token in (None, "a", "b"):
        guard.next_page(token)
    with pytest.raises(SourceError, match="after 3 pages"):
        guard.next_page("c")
    repeat = PageGuard("Acme")
    repeat.next_page("a")
    with pytest.raises(SourceError, match="same page token twice"):
        repeat.next_page("a")
    empty = PageGuard("Acme")
    empty.rows(0)
    empty.rows(5)
    empty.rows(0)
    empty.rows(0)
    with pytest.raises(SourceError, match="3 empty pages"):
        empty.rows(0)


def test_redact_url():
    assert redact_url("https://u:p@h.example:8443/a/b?token=x#f") == "https://h.example:8443/a/b"


@pytest.mark.parametrize("auth", ["basic", "zendesk", "bearer", "token", "password", "query"])
def test_an_error_body_quoting_the_credentials_is_redacted_before_it_is_cut(httpserver, auth):
    """The body quotes what it was sent at the start, in the middle and past the cut, in wire forms."""
    httpserver.expect_request("/x").respond_with_handler(echo_credentials(502))
    settings = {"basic": {"auth": ("it@example.com", SECRET)}, "zendesk": {"auth": ("it@example.com/token", SECRET)},
                "bearer": {"headers": {"Authorization": f"Bearer {SECRET}"}},
                "token": {"headers": {"Authorization": f"token {SECRET}"}},
                "password": {"headers": {"Password": SECRET}}, "query": {}}[auth]
    acme = HttpClient(make_session(FAST), httpserver.url_for("/"), "Acme", secrets=(SECRET,), **settings)
    with pytest.raises(SourceError, match="Acme answered 502") as caught:
        acme.get_json("/x", params={"api_key": SECRET, "page": 2} if auth == "query" else {})
    assert leaks(str(caught.value), SECRET) == [], str(caught.value)
    assert "***" in str(caught.value)


@pytest.mark.parametrize("code", [401, 404, 429, 502])
def test_a_reason_phrase_quoting_the_credentials_is_redacted(httpserver, code):
    """The status line's words are the server's too: one that echoes the token there shows none of it."""
    httpserver.expect_request("/x").respond_with_handler(
        lambda request: Response("", status=f"{code} Refused {request.headers.get('Authorization')}"))
    acme = HttpClient(make_session(FAST), httpserver.url_for("/"), "Acme", credential_hint="ACME_TOKEN",
                      headers={"Authorization": f"Bearer {SECRET}"}, secrets=(SECRET,))
    with pytest.raises(SourceError, match=f"Acme answered {code} Refused") as caught:
        acme.get_json("/x")
    assert leaks(str(caught.value), SECRET) == [], str(caught.value)


@pytest.mark.parametrize("sized", [True, False], ids=["content-length", "chunked"])
def test_a_trickling_answer_stops_at_the_deadline(httpserver, sized):
    httpserver.expect_request("/x").respond_with_handler(trickle(sized=sized))
    started = time.monotonic()
    with budget(deadline_s=0.8), pytest.raises(DeadlineExceeded, match=r"deadline_s \(0.8 s\).*/x"):
        client(httpserver).get_json("/x")
    assert time.monotonic() - started < 2  # each byte came well within the read timeout


def test_no_request_once_the_deadline_has_passed(httpserver):
    httpserver.expect_request("/x").respond_with_json({})
    with budget(deadline_s=0.05), pytest.raises(DeadlineExceeded, match="deadline_s"):
        time.sleep(0.1)
        client(httpserver).get_json("/x")
    assert httpserver.log == []


def test_retries_stop_at_the_deadline(httpserver):
    httpserver.expect_request("/x").respond_with_handler(status(503, {"Retry-After": "1"}))
    patient = HttpPolicy(retries=50, backoff_s=0.2, max_retry_after_s=5, read_timeout_s=5)
    started = time.monotonic()
    with budget(deadline_s=1.0), pytest.raises(DeadlineExceeded):
        client(httpserver, policy=patient).get_json("/x")
    assert time.monotonic() - started < 2.5


def test_an_answer_in_pieces_arrives_whole_within_the_deadline(httpserver):
    def pieces(request):
        def body():
            for piece in (b'{"rows": [', b"1, 2", b", 3]}"):
                yield piece
                time.sleep(0.05)
        return Response(body(), content_type="application/json")
    httpserver.expect_request("/x").respond_with_handler(pieces)
    with budget(deadline_s=30):
        assert client(httpserver).get_json("/x") == {"rows": [1, 2, 3]}


def test_page_guard_takes_max_pages_from_the_source():
    with budget(max_pages=2):
        guard = PageGuard("Acme")
        guard.next_page(1)
        guard.next_page(2)
        with pytest.raises(SourceError, match="Acme paging stopped after 2 pages; narrow the query or raise max_pages"):
            guard.next_page(3)
    assert PageGuard("Acme").max_pages == 1000


def test_a_caller_that_follows_no_redirect_gets_the_redirect_to_another_server_as_its_answer(httpserver):
    # one that follows none reads the answer itself (Graph's sendMail): nothing goes to the other
    # server either way, and a redirect followed there is still refused
    elsewhere = f"http://127.0.0.1:{free_port()}/taken"
    httpserver.expect_request("/send").respond_with_response(Response("", 307, {"Location": elsewhere}))
    session = make_session(FAST)
    answer = session.post(httpserver.url_for("/send"), data=b"x", allow_redirects=False,
                          headers={"Authorization": "Bearer sekrit-token-value"})
    assert answer.status_code == 307 and answer.next is None
    with pytest.raises(SourceError, match="redirected to another server"):
        session.post(httpserver.url_for("/send"), data=b"x")
