"""The preview's HTTP side: the page, the draft as JSON and as Server-Sent Events, and two actions.

Safety, because a test send and an approval are real acts:
- bound to 127.0.0.1 unless --host says otherwise, and then every request needs the random token
  printed at start (in the URL, `?token=`);
- the Host header must name the server (no DNS rebinding of a loopback server);
- every action is a POST with a JSON body, the page's CSRF token in a header, and an Origin (or
  Referer) of this server: a form or script on another site cannot make one.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
import socket
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from newsletter.errors import NewsletterError, UsageError
from newsletter.preview import Previewer

log = logging.getLogger(__name__)
PAGE = Path(__file__).parent / "preview_page" / "index.html"
KEEPALIVE_S = 15.0
MAX_BODY = 16 * 1024
WILDCARDS = {"0.0.0.0", "::", ""}


class PreviewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], previewer: Previewer, *, token: str | None) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, PreviewHandler)
        self.previewer = previewer
        self.token = token
        self.csrf = secrets.token_urlsafe(24)
        self.stopping = False
        host, port = address[0], self.server_address[1]
        self.port = port
        shown = f"[{host}]" if ":" in host else host
        self.origin_host = f"{shown}:{port}"
        # Host headers this server answers to; None (a wildcard address) leaves it to the token.
        self.allowed_hosts = None if host in WILDCARDS else {self.origin_host} | (
            {f"localhost:{port}"} if host == "127.0.0.1" else set())

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.server_address[0] in WILDCARDS else self.origin_host.rsplit(":", 1)[0]
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def stop(self) -> None:
        self.stopping = True
        self.shutdown()
        self.server_close()


class PreviewHandler(BaseHTTPRequestHandler):
    server: PreviewServer
    server_version = "newsletter-preview"
    sys_version = ""

    # GET ---------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        if not self._admitted():
            return
        path = urlsplit(self.path).path
        if path == "/":
            self._page()
        elif path == "/draft.json":
            self._json(HTTPStatus.OK, self.server.previewer.draft.to_json())
        elif path == "/email.html":
            newsletter = self.server.previewer.draft.newsletter
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", (newsletter.html if newsletter else "").encode())
        elif path == "/events":
            self._events()
        else:
            self._json(HTTPStatus.NOT_FOUND, {"ok": False, "message": "not found"})

    def _page(self) -> None:
        nonce = secrets.token_urlsafe(16)
        config = json.dumps({"token": self.server.token, "csrf": self.server.csrf}).replace("</", "<\\/")
        body = PAGE.read_text(encoding="utf-8").replace("__CONFIG__", config).replace("__NONCE__", nonce)
        csp = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src * data: cid:; "
               "font-src *; connect-src 'self'; frame-src 'self'; form-action 'none'; frame-ancestors 'none'")
        self._send(HTTPStatus.OK, "text/html; charset=utf-8", body.encode(), {"Content-Security-Policy": csp})

    def _events(self) -> None:
        """Server-Sent Events: the current draft at once, then each new one as it is rendered."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        version = -1
        try:
            while not self.server.stopping:
                draft = self.server.previewer.wait_newer(version, KEEPALIVE_S)
                if draft is None:
                    self.wfile.write(b": keepalive\n\n")
                else:
                    version = draft.version
                    self.wfile.write(b"event: draft\ndata: " + json.dumps(draft.to_json()).encode() + b"\n\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return

    # POST --------------------------------------------------------------------------------------
    def do_POST(self) -> None:
        if not self._admitted() or not self._same_origin():
            return
        path = urlsplit(self.path).path
        actions = {"/send-test": self._send_test, "/approve": self._approve}
        if path not in actions:
            self._json(HTTPStatus.NOT_FOUND, {"ok": False, "message": "not found"})
            return
        body = self._body()
        if body is None:
            return
        try:
            message = actions[path](body)
        except UsageError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"ok": False, "message": str(exc)})
            return
        except NewsletterError as exc:
            self._json(HTTPStatus.CONFLICT, {"ok": False, "message": str(exc)})
            return
        except Exception as exc:  # the page shows it; the server carries on
            log.debug("%s failed", path, exc_info=True)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"ok": False, "message": f"{type(exc).__name__}: {exc}"})
            return
        self._json(HTTPStatus.OK, {"ok": True, "message": message})

    def _send_test(self, body: dict[str, Any]) -> str:
        from newsletter.jobs import recipient_for_test

        to = body.get("to")
        to = to if isinstance(to, str) else ""
        recipient_for_test(to)  # UsageError (400) before the draft is looked at
        reply = self.server.previewer.send_test(to)
        log.info("test copy sent to %s", to)
        return f"test copy sent to {to}: {reply}"

    def _approve(self, body: dict[str, Any]) -> str:
        return self.server.previewer.approve(str(body.get("by") or ""), str(body.get("content_hash") or ""))

    def _body(self) -> dict[str, Any] | None:
        if self.headers.get_content_type() != "application/json":
            self._refuse(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "expected a JSON body")
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._refuse(HTTPStatus.BAD_REQUEST, "bad Content-Length")
            return None
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            self._refuse(HTTPStatus.BAD_REQUEST, "expected a JSON object")
            return None
        return body

    # checks ------------------------------------------------------------------------------------
    def _admitted(self) -> bool:
        """Host header names this server, and the token is given when one is required."""
        server = self.server
        host = (self.headers.get("Host") or "").lower()
        if server.allowed_hosts is not None and host not in server.allowed_hosts:
            return self._refuse(HTTPStatus.FORBIDDEN, f"unexpected Host header {host!r}")
        if server.token:
            given = (parse_qs(urlsplit(self.path).query).get("token") or [""])[0]
            if not hmac.compare_digest(given.encode(), server.token.encode()):
                return self._refuse(HTTPStatus.FORBIDDEN, "missing or wrong token: use the URL printed at start")
        return True

    def _same_origin(self) -> bool:
        """A POST must carry the page's CSRF token and come from this server's own page."""
        own = f"http://{self.headers.get('Host', '')}"
        origin = self.headers.get("Origin")
        referer = self.headers.get("Referer")
        if origin is not None:
            same = origin == own
        else:
            same = referer is not None and (referer == own or referer.startswith(own + "/"))
        if not same or self.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return self._refuse(HTTPStatus.FORBIDDEN, "cross-site request refused")
        given = self.headers.get("X-CSRF-Token") or ""
        if not hmac.compare_digest(given.encode(), self.server.csrf.encode()):
            return self._refuse(HTTPStatus.FORBIDDEN, "missing or wrong CSRF token: reload the page")
        return True

    # responses ---------------------------------------------------------------------------------
    def _refuse(self, status: HTTPStatus, message: str) -> bool:
        log.warning("refused %s %s: %s", self.command, _redact(self.path), message)
        self._json(status, {"ok": False, "message": message})
        return False

    def _json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        self._send(status, "application/json", json.dumps(payload).encode())

    def _send(self, status: HTTPStatus, content_type: str, body: bytes, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "same-origin")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), _redact(format % args))


def _redact(text: str) -> str:
    """The token is a credential: never in a log line."""
    return re.sub(r"token=[^&\s\"]+", "token=***", text)
