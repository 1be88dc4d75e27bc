"""The Graph transport through msal against token and sendMail endpoints served over HTTPS on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import trustme

from newsletter.binding import Secret
from newsletter.delivery.base import TransportError
from newsletter.delivery.graph import GraphSettings, GraphTransport, MinuteLimit
from newsletter.delivery.ledger import DeliveryPlan, deliver
from newsletter.delivery.message import Envelope
from newsletter.errors import DeliveryError
from newsletter.store import Store
from tests.test_delivery_smtp import EDITION, PEOPLE, people

TENANT, CLIENT, SECRET, TOKEN = "contoso-tenant", "app-client-id", "graph-client-s3cret", "token-abc"


@dataclass
class Graph:
    base: str = ""
    sent: list[tuple[str, bytes]] = field(default_factory=list)  # (mailbox, MIME)
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # next sendMail answers, then 202
    token_requests: int = 0
    expires_in: int = 3599
    tokens_granted: int | None = None  # after that many, the secret is refused (expired mid-run)


class Handler(BaseHTTPRequestHandler):
    graph: Graph

    def log_message(self, *args) -> None:
        pass

    def _json(self, code: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.startswith(f"/{TENANT}/v2.0/.well-known/openid-configuration"):
            root = f"{self.graph.base}/{TENANT}"
            return self._json(200, {"authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                                    "token_endpoint": f"{root}/oauth2/v2.0/token",
                                    "issuer": f"{root}/v2.0"})
        self._json(404, {"error": "not_found"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == f"/{TENANT}/oauth2/v2.0/token":
            form = parse_qs(body.decode())
            self.graph.token_requests += 1
            if form.get("client_secret") != [SECRET] or form.get("grant_type") != ["client_credentials"] or (
                    self.graph.tokens_granted is not None and self.graph.token_requests > self.graph.tokens_granted):
                return self._json(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid "
                                        "client secret provided."})
            return self._json(200, {"token_type": "Bearer", "expires_in": self.graph.expires_in, "access_token": TOKEN})
        if self.path.startswith("/echo/"):  # a gateway whose refusal quotes the request it was sent
            return self._json(400, {"error": {"code": "BadRequest", "message": "refused: Authorization: "
                                              f"{self.headers.get('Authorization')}"}})
        if self.path.startswith("/v1.0/users/") and self.path.endswith("/sendMail"):
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._json(401, {"error": {"code": "InvalidAuthenticationToken", "message": "bad token"}})
            if self.graph.answers:
                code, headers = self.graph.answers.pop(0)
                headers = dict(headers)
                error = headers.pop("error-code", "ApplicationThrottled" if code == 429 else "Error")  # Graph's code
                if code != 202:
                    return self._json(code, {"error": {"code": error, "message": "answer from the test"}}, headers)
            assert self.headers["Content-Type"] == "text/plain"
            self.graph.sent.append((self.path.split("/")[3], base64.b64decode(body)))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        self._json(404, {"error": "not_found"})


@pytest.fixture(scope="module")
def graph_server(tls_ca) -> Iterator[tuple[Graph, str]]:
    _, ca_file, context = tls_ca
    state = Graph()
    handler = type("GraphHandler", (Handler,), {"graph": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.base = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, ca_file
    server.shutdown()
    server.server_close()


@pytest.fixture
def graph(graph_server, monkeypatch):
    state, ca_file = graph_server
    state.sent.clear()
    state.answers.clear()
    state.token_requests, state.expires_in, state.tokens_granted = 0, 3599, None
    monkeypatch.setenv("GRAPH_SECRET", SECRET)
    settings = GraphSettings(tenant_id=TENANT, client_id=CLIENT, client_secret=Secret(env="GRAPH_SECRET"),
                             authority=state.base, graph_url=state.base, ca_file=ca_file, per_minute=1000)
    return state, settings


@contextmanager
def raw_server(reply: bytes) -> Iterator[int]:
    """A port on 127.0.0.1 whose server reads what comes (a whole HTTP request, or the first bytes of a
    TLS handshake) and answers `reply` as it is, whatever it was asked: a proxy, a plain-http port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                request = conn.recv(65536)
                while request[:1] != b"\x16" and b"\r\n\r\n" not in request:  # 0x16: a TLS ClientHello
                    request += conn.recv(65536)
                head, _, body = request.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(body) < length:
                    body += conn.recv(65536)
                conn.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_graph_sends_each_person_mime_and_records_accepted(graph, tmp_path):
    state, settings = graph
    waits: list[float] = []
    transport = GraphTransport(settings, "IT <it@example.com>", sleep=waits.append)
    state.answers = [(429, {"Retry-After": "7"})]
    with Store.open(tmp_path) as store:
        report = deliver(store, EDITION, people(*PEOPLE[:3]), transport,
                         DeliveryPlan(Envelope("IT <it@example.com>"), sleep=waits.append))
        rows = store.deliveries("2026-10")
    assert report.counts == {"accepted": 3} and report.complete
    assert waits == [7.0]  # the throttled message waited and went again: once, not twice
    assert all("not confirmed" in r.detail for r in rows)
    assert [mailbox for mailbox, _ in state.sent] == ["it@example.com"] * 3
    messages = [message_from_bytes(mime, policy=policy.default) for _, mime in state.sent]
    assert [m["To"].addresses[0].addr_spec for m in messages] == PEOPLE[:3]
    assert messages[0].get_body(("html",)).get_content().startswith("<p>Hello Person p0</p>")


def test_graph_error_answers_map_to_ledger_states(graph, tmp_path):
    state, settings = graph
    state.answers = [(400, {}), (503, {}), (504, {})]
    transport = GraphTransport(settings, "it@example.com", sleep=lambda s: None)
    with Store.open(tmp_path) as store:
        deliver(store, EDITION, people(*PEOPLE[:4]), transport, DeliveryPlan(Envelope("it@example.com")))
        states = [r.status for r in store.deliveries("2026-10")]
    assert states == ["perm_failed", "temp_failed", "unknown", "accepted"]


def test_graph_redirect_is_not_sent_and_left_for_a_later_run(graph, tmp_path):
    """sendMail answers 202; a 3xx is no acceptance (the message was not taken there), and Graph's
    documentation lists none: not followed (another host must not get the token, a 302 would turn
    the POST into a GET), the person is retried by a later run, never marked refused for good."""
    state, settings = graph
    here = f"{state.base}/v1.0/users/it@example.com/sendMail"
    state.answers = [(307, {"Location": "https://localhost:1/v1.0/users/it@example.com/sendMail?k=v"}),
                     (302, {"Location": here}), (308, {"Location": "https://[graph"})]
    transport = GraphTransport(settings, "it@example.com", sleep=lambda s: None)
    with Store.open(tmp_path) as store:
        deliver(store, EDITION, people(*PEOPLE[:4]), transport, DeliveryPlan(Envelope("it@example.com")))
        rows = store.deliveries("2026-10")
    assert [r.status for r in rows] == ["temp_failed"] * 3 + ["accepted"]
    assert len(state.sent) == 1
    assert rows[0].last_error.startswith("Microsoft Graph answered 307 (a redirect to https://localhost:1/v1.0/users/"
                                         "it@example.com/sendMail): not sent; check delivery.graph.graph_url")
    assert "k=v" not in rows[0].last_error and "(a redirect)" in rows[2].last_error


def test_graph_error_body_of_another_shape_is_quoted_not_a_traceback(graph, tmp_path):
    """A gateway in front of the address (a wrong graph_url) answers {"error": "not_found"}, not Graph's object."""
    state, settings = graph
    settings = replace(settings, graph_url=f"{state.base}/gateway")
    transport = GraphTransport(settings, "it@example.com", sleep=lambda s: None)
    with Store.open(tmp_path) as store, pytest.raises(TransportError, match=r"answered 404 \(not_found\)"):
        deliver(store, EDITION, people(*PEOPLE[:1]), transport, DeliveryPlan(Envelope("it@example.com")))


def test_graph_without_the_sending_mailbox_stops_the_run_instead_of_refusing_everyone_for_good(graph, tmp_path):
    """sendMail's 404 is about the mailbox in its address (delivery.from), the same for every person."""
    state, settings = graph
    state.answers = [(404, {})]
    with Store.open(tmp_path) as store:
        with pytest.raises(TransportError, match=r"no mailbox it@example\.com .*check delivery\.from"):
            deliver(store, EDITION, people(*PEOPLE[:3]), GraphTransport(settings, "it@example.com"),
                    DeliveryPlan(Envelope("it@example.com")))
        assert [r.status for r in store.deliveries("2026-10")] == ["queued"] * 3


def test_graph_long_throttling_stops_that_message_for_a_later_run(graph, tmp_path):
    state, settings = graph
    state.answers = [(429, {"Retry-After": "3600"})]
    transport = GraphTransport(settings, "it@example.com", sleep=lambda s: None)
    with Store.open(tmp_path) as store:
        deliver(store, EDITION, people(*PEOPLE[:2]), transport, DeliveryPlan(Envelope("it@example.com")))
        assert [r.status for r in store.deliveries("2026-10")] == ["temp_failed", "accepted"]


def test_graph_throttling_that_never_ends_is_given_up_for_a_later_run(graph, tmp_path):
    """Short waits asked again and again: no more in all for one message than max_retry_after_s."""
    state, settings = graph
    state.answers = [(429, {"Retry-After": "0"})] * 10 + [(429, {"Retry-After": "100"})] * 50
    waits: list[float] = []
    transport = GraphTransport(settings, "it@example.com", sleep=waits.append)
    with Store.open(tmp_path) as store:
        deliver(store, EDITION, people(*PEOPLE[:1]), transport, DeliveryPlan(Envelope("it@example.com")))
        rows = store.deliveries("2026-10")
    assert [r.status for r in rows] == ["temp_failed"] and "max_retry_after_s" in rows[0].last_error
    assert sum(waits) <= settings.max_retry_after_s


@pytest.mark.parametrize("answer", [(503, {}), (429, {"Retry-After": "3600"})], ids=["unavailable", "throttled"])
def test_graph_unavailable_for_everyone_stops_after_max_errors(graph, tmp_path, answer):
    """A refusal of the service, not of the person: it counts (at 30 a minute, 10,000 tries take hours)."""
    state, settings = graph
    state.answers = [answer] * 6
    transport = GraphTransport(settings, "it@example.com", sleep=lambda s: None)
    with Store.open(tmp_path) as store:
        with pytest.raises(DeliveryError, match="stopped after 3 recipients failed"):
            deliver(store, EDITION, people(*PEOPLE), transport, DeliveryPlan(Envelope("it@example.com"), max_errors=3))
        assert [r.status for r in store.deliveries("2026-10")] == ["temp_failed"] * 3 + ["queued"] * 3


def test_graph_wrong_secret_stops_before_anyone_is_marked(graph, tmp_path, monkeypatch):
    state, settings = graph
    monkeypatch.setenv("GRAPH_SECRET", "wrong")
    transport = GraphTransport(settings, "it@example.com")
    with Store.open(tmp_path) as store, pytest.raises(TransportError, match=r"refused the app .* check GRAPH_SECRET"):
        deliver(store, EDITION, people(*PEOPLE[:2]), transport, DeliveryPlan(Envelope("it@example.com")))
    assert not state.sent


def test_graph_forbidden_stops_the_run_and_the_person_is_sent_to_once_it_is_granted(graph, tmp_path):
    """Mail.Send not granted yet (the usual first run): Graph refused the message, so the person is not
    left as "may have arrived" for someone to decide, but sent to by the run after the admin consents."""
    state, settings = graph
    state.answers = [(403, {})]
    with Store.open(tmp_path) as store:
        with pytest.raises(TransportError, match=r"Mail\.Send application permission"):
            deliver(store, EDITION, people(*PEOPLE[:2]), GraphTransport(settings, "it@example.com"),
                    DeliveryPlan(Envelope("it@example.com")))
        assert [r.status for r in store.deliveries("2026-10")] == ["queued", "queued"] and not state.sent
        deliver(store, EDITION, people(*PEOPLE[:2]), GraphTransport(settings, "it@example.com"),
                DeliveryPlan(Envelope("it@example.com")))
        assert [r.status for r in store.deliveries("2026-10")] == ["accepted", "accepted"]
    assert len(state.sent) == 2


def test_a_token_refused_mid_run_leaves_the_person_queued_not_unknown(graph, tmp_path):
    """A run of hours renews its token: a refusal then (a secret that expired) sent nothing to that person."""
    state, settings = graph
    state.expires_in, state.tokens_granted = 1, 2  # every send asks for a token; the third is refused
    with Store.open(tmp_path) as store:
        with pytest.raises(TransportError, match="refused the app"):
            deliver(store, EDITION, people(*PEOPLE[:3]), GraphTransport(settings, "it@example.com"),
                    DeliveryPlan(Envelope("it@example.com")))
        states = [r.status for r in store.deliveries("2026-10")]
    assert "sending" not in states and states.count("accepted") == len(state.sent) >= 1, states


def test_graph_that_never_answers_the_connection_leaves_the_person_for_a_later_run(graph, tmp_path):
    """A firewall that drops the connection (a connect timeout): nothing was sent, so not "unknown"."""
    _, settings = graph
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)  # never accepted: once its queue is full, a connection is never answered
    waiting = [socket.socket() for _ in range(4)]
    for s in waiting:
        s.setblocking(False)
        s.connect_ex(full.getsockname())
    try:
        settings = replace(settings, graph_url=f"https://127.0.0.1:{full.getsockname()[1]}")
        with Store.open(tmp_path) as store:
            deliver(store, EDITION, people(*PEOPLE[:1]), GraphTransport(settings, "it@example.com"),
                    DeliveryPlan(Envelope("it@example.com")))
            assert [r.status for r in store.deliveries("2026-10")] == ["temp_failed"]
    finally:
        for s in [full, *waiting]:
            s.close()


def test_graph_behind_a_certificate_nobody_trusts_stops_with_the_person_queued(graph, tmp_path):
    """The TLS handshake fails before any byte of the message: one line naming ca_file, no "unknown"."""
    _, settings = graph
    other = Graph()
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Other", (Handler,), {"graph": other}))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = replace(settings, graph_url=f"https://127.0.0.1:{server.server_address[1]}")
        with Store.open(tmp_path) as store:
            with pytest.raises(TransportError, match=r"certificate .*delivery\.graph\.ca_file"):
                deliver(store, EDITION, people(*PEOPLE[:2]), GraphTransport(settings, "it@example.com"),
                        DeliveryPlan(Envelope("it@example.com")))
            assert [r.status for r in store.deliveries("2026-10")] == ["queued", "queued"]
        assert not other.sent
    finally:
        server.shutdown()
        server.server_close()


def test_graph_message_too_large_stops_the_run_instead_of_refusing_everyone_for_good(graph, tmp_path):
    """Everyone gets the same edition: a 413 for one is a 413 for all, to fix once (smaller pictures)."""
    state, settings = graph
    state.answers = [(413, {})]
    with Store.open(tmp_path) as store:
        with pytest.raises(TransportError, match="too large"):
            deliver(store, EDITION, people(*PEOPLE[:3]), GraphTransport(settings, "it@example.com"),
                    DeliveryPlan(Envelope("it@example.com")))
        assert [r.status for r in store.deliveries("2026-10")] == ["queued"] * 3


def test_minute_limit_waits_for_the_oldest_send_to_age_out():
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limit = MinuteLimit(3, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limit.wait()
        now[0] += 1
    limit.wait()
    assert waits == [57.0]


def test_a_run_stopped_while_waiting_for_the_minute_limit_leaves_that_person_queued(graph, tmp_path):
    """At 30 a minute most of a long run is spent in the mailbox's limit: Ctrl-C there
    sent nothing to the person waiting, who is sent to by the next run, not left "may have arrived"."""
    state, settings = graph

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    transport = GraphTransport(replace(settings, per_minute=1), "it@example.com", sleep=interrupted)
    with Store.open(tmp_path) as store:
        with pytest.raises(KeyboardInterrupt):
            deliver(store, EDITION, people(*PEOPLE[:2]), transport, DeliveryPlan(Envelope("it@example.com")))
        assert [r.status for r in store.deliveries("2026-10")] == ["accepted", "queued"]
    assert len(state.sent) == 1


def test_a_person_put_back_is_not_counted_as_tried_for_retry_until_days(graph, tmp_path):
    """403 on the first run, the admin consents days later: that run's 503 for the person is retried
    by the next run like everyone's, not given up as if temporarily refused since the first run."""
    state, settings = graph
    plan = DeliveryPlan(Envelope("it@example.com"), retry_until_days=3)
    with Store.open(tmp_path) as store:
        state.answers = [(403, {})]
        with pytest.raises(TransportError):
            deliver(store, EDITION, people(*PEOPLE[:2]), GraphTransport(settings, "it@example.com"), plan)
        days_ago = (datetime.now(UTC) - timedelta(days=4)).isoformat(timespec="seconds")
        store.db.execute("UPDATE deliveries SET first_attempt_at=? WHERE first_attempt_at IS NOT NULL", (days_ago,))
        state.answers = [(503, {})]  # four days later, consent granted; the service busy for the first
        deliver(store, EDITION, people(*PEOPLE[:2]), GraphTransport(settings, "it@example.com"), plan)
        assert [r.status for r in store.deliveries("2026-10")] == ["temp_failed", "accepted"]
        deliver(store, EDITION, people(*PEOPLE[:2]), GraphTransport(settings, "it@example.com"), plan)
        rows = store.deliveries("2026-10")
    assert [r.status for r in rows] == ["accepted", "accepted"], rows[0].last_error


def test_graph_answer_cut_short_is_unknown_not_a_traceback(graph, tmp_path):
    """An answer whose body breaks off (a proxy, a connection reset after the status line): the message
    may have been taken, so the person is unknown and the run goes on, instead of a ChunkedEncodingError."""
    _, settings = graph
    with raw_server(b"HTTP/1.1 202 Accepted\r\nContent-Length: 40\r\n\r\ncut") as port:
        settings = replace(settings, graph_url=f"http://127.0.0.1:{port}")
        with Store.open(tmp_path) as store:
            report = deliver(store, EDITION, people(*PEOPLE[:2]), GraphTransport(settings, "it@example.com"),
                             DeliveryPlan(Envelope("it@example.com")))
            rows = store.deliveries("2026-10")
    assert report.counts == {"unknown": 2} and "Microsoft Graph" in rows[0].last_error


def test_graph_refusal_quoting_the_request_never_records_the_token(graph, tmp_path, caplog):
    """The bearer token sends as any mailbox of the tenant: an answer that echoes it is masked in the
    ledger, the log and the error, as every other source's answers are."""
    state, settings = graph
    settings = replace(settings, graph_url=f"{state.base}/echo")
    with Store.open(tmp_path) as store:
        deliver(store, EDITION, people(*PEOPLE[:1]), GraphTransport(settings, "it@example.com"),
                DeliveryPlan(Envelope("it@example.com")))
        rows = store.deliveries("2026-10")
    assert rows[0].status == "perm_failed" and "Authorization: ***" in rows[0].last_error
    assert TOKEN not in rows[0].last_error and TOKEN not in caplog.text


def test_a_run_stopped_while_graph_throttles_leaves_that_person_queued(graph, tmp_path):
    """429 says the message was not taken: Ctrl-C in the Retry-After wait sent nothing to that person,
    who is sent to by the next run, not left `sending` and then "may have arrived"."""
    state, settings = graph
    state.answers = [(429, {"Retry-After": "7"})]

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    with Store.open(tmp_path) as store:
        with pytest.raises(KeyboardInterrupt):
            deliver(store, EDITION, people(*PEOPLE[:2]), GraphTransport(settings, "it@example.com", sleep=interrupted),
                    DeliveryPlan(Envelope("it@example.com")))
        assert [r.status for r in store.deliveries("2026-10")] == ["queued", "queued"]
        deliver(store, EDITION, people(*PEOPLE[:2]), GraphTransport(settings, "it@example.com"),
                DeliveryPlan(Envelope("it@example.com")))
        assert [r.status for r in store.deliveries("2026-10")] == ["accepted", "accepted"]
    assert len(state.sent) == 2


def test_graph_success_other_than_202_is_never_refused_for_good_and_stops_the_run(graph, tmp_path):
    """sendMail answers 202 alone: a 200 is something else in between (a proxy's page, a wrong graph_url).
    Whether it passed the message on is not known, so that person is unknown, never refused for good,
    and the run stops there with the others queued, instead of the same for everyone after."""
    state, settings = graph
    state.answers = [(200, {})]
    with Store.open(tmp_path) as store:
        with pytest.raises(TransportError, match=r"answered 200 .*not sendMail's 202.*delivery\.graph\.graph_url"):
            deliver(store, EDITION, people(*PEOPLE[:3]), GraphTransport(settings, "it@example.com"),
                    DeliveryPlan(Envelope("it@example.com")))
        assert [r.status for r in store.deliveries("2026-10")][1:] == ["queued", "queued"]
        deliver(store, EDITION, people(*PEOPLE[:3]), GraphTransport(settings, "it@example.com"),
                DeliveryPlan(Envelope("it@example.com")))
        assert [r.status for r in store.deliveries("2026-10")] == ["unknown", "accepted", "accepted"]
    assert len(state.sent) == 2


@pytest.mark.parametrize("error", ["ErrorMimeContentInvalidBase64String", "ErrorSubmissionQuotaExceeded"])
def test_graph_refusing_the_message_or_the_mailbox_stops_the_run_with_everyone_queued(graph, tmp_path, error):
    """A 400 about the message (the same edition for everyone) or the sending mailbox (its daily limit)
    is the same for the next person: the run stops naming Graph's code, nobody is refused for good."""
    state, settings = graph
    state.answers = [(400, {"error-code": error})]
    with Store.open(tmp_path) as store:
        with pytest.raises(TransportError, match=rf"answered 400 \({error}: .*not this person"):
            deliver(store, EDITION, people(*PEOPLE[:3]), GraphTransport(settings, "it@example.com"),
                    DeliveryPlan(Envelope("it@example.com")))
        assert [r.status for r in store.deliveries("2026-10")] == ["queued"] * 3 and not state.sent


def test_graph_refusing_the_recipient_refuses_that_person_for_good(graph, tmp_path):
    state, settings = graph
    state.answers = [(400, {"error-code": "ErrorInvalidRecipients"})]
    with Store.open(tmp_path) as store:
        deliver(store, EDITION, people(*PEOPLE[:2]), GraphTransport(settings, "it@example.com"),
                DeliveryPlan(Envelope("it@example.com")))
        assert [r.status for r in store.deliveries("2026-10")] == ["perm_failed", "accepted"]


def test_graph_url_on_a_port_that_speaks_no_tls_stops_the_run_with_everyone_queued(graph, tmp_path):
    """https:// pointed at a plain-http port: the handshake fails before any byte of the message, for
    everyone alike; one line naming graph_url, not "unknown" for one person after another."""
    _, settings = graph
    with raw_server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n") as port:
        settings = replace(settings, graph_url=f"https://127.0.0.1:{port}")
        with Store.open(tmp_path) as store:
            with pytest.raises(TransportError, match=r"TLS handshake .*delivery\.graph\.graph_url"):
                deliver(store, EDITION, people(*PEOPLE[:3]), GraphTransport(settings, "it@example.com"),
                        DeliveryPlan(Envelope("it@example.com")))
            assert [r.status for r in store.deliveries("2026-10")] == ["queued"] * 3


def test_graph_through_a_proxy_nobody_listens_on_stops_the_run_with_everyone_queued(graph, tmp_path, monkeypatch):
    """HTTPS_PROXY unreachable: the tunnel to Graph never opened, so nothing left; one line naming the proxy."""
    state, settings = graph
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()  # nobody listens there
    transport = GraphTransport(settings, "it@example.com")
    transport.open()  # the token, before the proxy is set
    monkeypatch.setenv("HTTPS_PROXY", f"http://proxyuser:proxy-s3cret@127.0.0.1:{port}")
    monkeypatch.setenv("NO_PROXY", "")
    with Store.open(tmp_path) as store:
        with pytest.raises(TransportError, match=r"proxy .*HTTPS_PROXY") as raised:
            deliver(store, EDITION, people(*PEOPLE[:3]), transport, DeliveryPlan(Envelope("it@example.com")))
        rows = store.deliveries("2026-10")
    assert [r.status for r in rows] == ["queued"] * 3 and not state.sent
    assert "proxy-s3cret" not in str(raised.value) and all("proxy-s3cret" not in (r.last_error or "") for r in rows)


def test_graph_refusing_the_token_itself_does_not_blame_the_permission(graph, tmp_path):
    """401 InvalidAuthenticationToken (a token read as expired: the machine's clock jumped, or one for
    another cloud) is no missing Mail.Send: the advice says what to check, and everyone stays queued."""
    state, settings = graph
    state.answers = [(401, {"error-code": "InvalidAuthenticationToken"})]
    with Store.open(tmp_path) as store:
        with pytest.raises(TransportError, match=r"refused the token .*clock") as raised:
            deliver(store, EDITION, people(*PEOPLE[:2]), GraphTransport(settings, "it@example.com"),
                    DeliveryPlan(Envelope("it@example.com")))
        assert [r.status for r in store.deliveries("2026-10")] == ["queued", "queued"]
    assert "Mail.Send" not in str(raised.value)


def test_graph_through_a_proxy_that_wants_a_login_stops_the_run_saying_so(graph, tmp_path, monkeypatch):
    """The proxy answers CONNECT with 407: the tunnel never opened, nothing left, and the line says why."""
    state, settings = graph
    transport = GraphTransport(settings, "it@example.com")
    transport.open()
    with raw_server(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n"
                    b"Content-Length: 0\r\n\r\n") as port:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("NO_PROXY", "")
        with Store.open(tmp_path) as store:
            with pytest.raises(TransportError, match=r"proxy .*407 Proxy Authentication Required"):
                deliver(store, EDITION, people(*PEOPLE[:2]), transport, DeliveryPlan(Envelope("it@example.com")))
            assert [r.status for r in store.deliveries("2026-10")] == ["queued"] * 2 and not state.sent


def test_graph_refusal_that_is_not_graphs_never_refuses_the_person_for_good(graph, tmp_path):
    """Graph answers its errors with its JSON error object: a 400 page without one is a proxy's or a wrong
    address's refusal, the same for everyone: the run stops with everyone queued, nobody refused for good."""
    _, settings = graph
    page = b"<html><body>Request blocked by policy</body></html>"
    reply = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(page)) + page
    with raw_server(reply) as port:
        settings = replace(settings, graph_url=f"http://127.0.0.1:{port}")
        with Store.open(tmp_path) as store:
            with pytest.raises(TransportError, match=r"answered 400 \(Bad Request\), not as Graph.*graph_url"):
                deliver(store, EDITION, people(*PEOPLE[:3]), GraphTransport(settings, "it@example.com"),
                        DeliveryPlan(Envelope("it@example.com")))
            assert [r.status for r in store.deliveries("2026-10")] == ["queued"] * 3
