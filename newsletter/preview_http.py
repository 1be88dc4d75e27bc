"""The preview's HTTP side: the page, the email, the draft as JSON and as Server-Sent Events, and three actions.

Safety, because a test send, an approval and a quote added to the highlights are real acts:
- bound to 127.0.0.1 unless --host says otherwise; on every address, loopback included (any local
  process can connect to it), every request needs the random token in the URL printed at start
  (`?token=`), which the page passes on in its own requests;
- the Host header must name the server (no DNS rebinding of a loopback server);
- every action is a POST with a JSON body, the page's CSRF token in a header, and an Origin (or
  Referer) of this server: a form or script on another site cannot make one;
- the email is a document of its own (`/email.html`) under a Content-Security-Policy that allows no
  script and nothing remote but the images its `<img>` tags name; its inline images are served here.
"""

from __future__ import annotations

import hmac
import io
import json
import logging
import os
import re
import secrets
import socket
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from html.parser import HTMLParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from newsletter.compose.render import Newsletter
from newsletter.errors import ConfigError, NewsletterError, UsageError
from newsletter.hosts import is_loopback
from newsletter.preview import Previewer, PreviewOptions, watch

if TYPE_CHECKING:
    from newsletter.workspace import Workspace

log = logging.getLogger(__name__)
PAGE = Path(__file__).parent / "preview_page" / "index.html"
KEEPALIVE_S = 15.0
IDLE_S = 60.0  # the longest a read or a write may wait on a client
REQUEST_S = 30.0  # the longest a client may take to send its whole request (a header a byte at a time too)
MAX_BODY = 16 * 1024
WILDCARDS = {"0.0.0.0", "::", ""}
_HEAD = re.compile(r"<head[^>]*>", re.IGNORECASE)
# An image URL that can stand in a CSP as it is: no space, quote, comma or semicolon to end the source
_CSP_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[A-Za-z0-9\-._~!&()+=:@/%]*)?")
NO_TOKEN = "missing or wrong token: open the URL the preview printed when it started (the one with ?token=)"


class PreviewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], previewer: Previewer, *, token: str) -> None:
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
        host = self.origin_host.rsplit(":", 1)[0]
        if self.server_address[0] in WILDCARDS:  # "::" may take no IPv4 (bindv6only): its own loopback
            host = "[::1]" if self.address_family == socket.AF_INET6 else "127.0.0.1"
        return f"http://{host}:{self.port}/?token={self.token}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that went away mid-request (a tab closed, a frame reloaded) is no error; anything
        else is one line, its traceback at -vv: never socketserver's traceback on the terminal."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):
            return
        log.warning("a request to the preview failed: %s: %s", type(exc).__name__, exc)
        log.debug("request failed", exc_info=True)

    def stop(self) -> None:
        self.stopping = True
        self.shutdown()
        self.server_close()


class PreviewHandler(BaseHTTPRequestHandler):
    server: PreviewServer
    server_version = "newsletter-preview"
    sys_version = ""
    timeout = IDLE_S  # any local process can connect: a stalled one must not hold a thread for ever

    def setup(self) -> None:
        super().setup()
        made, self.rfile = self.rfile, io.BufferedReader(_ReadWithin(self.connection, REQUEST_S, self.timeout))
        made.close()  # the socket stays open

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
            self._email()
        elif path.startswith("/images/"):
            self._image(unquote(path.removeprefix("/images/")))
        elif path == "/events":
            self._events()
        else:
            self._json(HTTPStatus.NOT_FOUND, {"ok": False, "message": "not found"})

    def _page(self) -> None:
        nonce = secrets.token_urlsafe(16)
        config = json.dumps({"token": self.server.token, "csrf": self.server.csrf}).replace("</", "<\\/")
        body = PAGE.read_text(encoding="utf-8").replace("__CONFIG__", config).replace("__NONCE__", nonce)
        csp = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src 'self' data:; "
               "connect-src 'self'; frame-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
        self._send(HTTPStatus.OK, "text/html; charset=utf-8", body.encode(), {"Content-Security-Policy": csp})

    def _shown(self) -> Newsletter | None:
        draft = self.server.previewer.draft
        return draft.shown or draft.newsletter

    def _email(self) -> None:
        """The email as the sample person gets it, framed by the page (links open a new tab). The page's
        dark view is this same document in a frame whose `color-scheme` is dark: the email's own
        `prefers-color-scheme: dark` style applies, as in the mail clients that honour it."""
        shown = self._shown()
        html = shown.html if shown else ""
        for image in shown.images if shown else ():
            html = html.replace(f"cid:{image.cid}", f"/images/{quote(image.filename)}?token={quote(self.server.token)}")
        head = '<base target="_blank">'
        html = _HEAD.sub(lambda m: m[0] + head, html, count=1) if _HEAD.search(html) else head + html
        self._send(HTTPStatus.OK, "text/html; charset=utf-8", html.encode(),
                   {"Content-Security-Policy": email_policy(shown.html if shown else ""),
                    "X-Frame-Options": "SAMEORIGIN"})

    def _image(self, filename: str) -> None:
        shown = self._shown()
        image = next((i for i in shown.images if i.filename == filename), None) if shown else None
        if image is None:
            self._json(HTTPStatus.NOT_FOUND, {"ok": False, "message": "not found"})
            return
        self._send(HTTPStatus.OK, f"image/{image.subtype}", image.data)

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
        actions = {"/send-test": self._send_test, "/approve": self._approve, "/quote": self._quote,
                   "/language": self._language}
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
        from newsletter.delivery.mailing import recipient_for_test

        to = body.get("to")
        to = to if isinstance(to, str) else ""
        recipient_for_test(to)  # UsageError (400) before the draft is looked at
        reply = self.server.previewer.send_test(to)
        log.info("test copy sent to %s", to)
        return f"test copy sent to {to}: {reply}"

    def _approve(self, body: dict[str, Any]) -> str:
        return self.server.previewer.approve(str(body.get("by") or ""), str(body.get("content_hash") or ""))

    def _quote(self, body: dict[str, Any]) -> str:
        """Add a picked candidate (by its id) to the month's highlights under "What colleagues said"."""
        chosen = body.get("id")
        if not isinstance(chosen, str) or not chosen:
            raise UsageError("expected the quote's id")
        return self.server.previewer.pick_quote(chosen)

    def _language(self, body: dict[str, Any]) -> str:
        """The language switch: show the draft in another language; what is approved stays the edition."""
        chosen = body.get("language")
        if not isinstance(chosen, str) or not chosen:
            raise UsageError("expected a language, such as \"de\"")
        return self.server.previewer.choose_language(chosen)

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
        """Host header names this server, and the request carries the token (the page's own do)."""
        server = self.server
        host = (self.headers.get("Host") or "").lower()
        if server.allowed_hosts is not None and host not in server.allowed_hosts:
            return self._refuse(HTTPStatus.FORBIDDEN, f"unexpected Host header {host!r}")
        url = urlsplit(self.path)
        given = (parse_qs(url.query).get("token") or [""])[0]
        if not hmac.compare_digest(given.encode(), server.token.encode()):
            return self._refuse(HTTPStatus.FORBIDDEN, NO_TOKEN, plain=url.path == "/")
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
    def _refuse(self, status: HTTPStatus, message: str, *, plain: bool = False) -> bool:
        """Say no in one line: as text for a page a person opened, as JSON for the page's requests."""
        log.warning("refused %s %s: %s", self.command, _redact(self.path), message)
        if plain:
            self._send(status, "text/plain; charset=utf-8", f"{message}\n".encode())
        else:
            self._json(status, {"ok": False, "message": message})
        return False

    def _json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        self._send(status, "application/json", json.dumps(payload).encode())

    def _send(self, status: HTTPStatus, content_type: str, body: bytes, extra: dict[str, str] | None = None) -> None:
        headers = {"Content-Type": content_type, "Content-Length": str(len(body)), "Cache-Control": "no-store",
                   "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
                   **(extra or {})}
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), _redact(format % args))


class _ReadWithin(io.RawIOBase):
    """A request must arrive within `seconds` in all, not only each read within `idle`: a byte sent
    before each read runs out would hold the thread for ever. TimeoutError: the request timed out."""

    def __init__(self, sock: socket.socket, seconds: float, idle: float) -> None:
        self.sock, self.ends, self.idle = sock, time.monotonic() + seconds, idle

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.ends - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        self.sock.settimeout(min(left, self.idle))
        try:
            return self.sock.recv_into(buffer)
        finally:
            self.sock.settimeout(self.idle)  # what the answer's writes (the event stream's) may wait


def _redact(text: str) -> str:
    """The token is a credential: never in a log line."""
    return re.sub(r"token=[^&\s\"]+", "token=***", text)


class _ImageSources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.urls.append(dict(attrs).get("src") or "")


def email_policy(html: str) -> str:
    """The email's Content-Security-Policy: no script, no form, nothing remote but each image URL its
    `<img>` tags name, exactly (the query left out: CSP matches paths). Its inline images are served
    by the preview ('self'); inline styles are how every email is styled."""
    parser = _ImageSources()
    parser.feed(html)
    parser.close()
    remote = dict.fromkeys(url for url in (u.split("#")[0].split("?")[0] for u in parser.urls)
                           if _CSP_URL.fullmatch(url))
    return "; ".join(["default-src 'none'", " ".join(["img-src 'self' data: cid:", *remote]),
                      "style-src 'unsafe-inline'", "form-action 'none'", "base-uri 'none'",
                      "frame-ancestors 'self'"])


# serving --------------------------------------------------------------------------------------
def serve(open_workspace: Callable[..., Workspace], options: PreviewOptions, *,
          echo: Callable[[str], Any] = print) -> None:
    """Render, then serve until Ctrl-C. Errors before serving (config, nothing collected, port in use)
    raise NewsletterError; errors after it (a bad edit) are shown in the page."""
    previewer = Previewer(open_workspace, options)
    try:
        draft = previewer.start()
        host = options.host or "127.0.0.1"
        token = secrets.token_urlsafe(18)  # on 127.0.0.1 too: any local process can reach that
        try:
            server = PreviewServer((host, options.port), previewer, token=token)
        except OSError as exc:
            raise ConfigError(f"--host {host} --port {options.port}: cannot listen ({exc.strerror or exc}); "
                              "choose another --port (0 picks a free one)") from None
        stop = threading.Event()
        watch(previewer, stop)
        echo(f"Preview of {draft.month_name} at {server.url}  (Ctrl-C stops it)")
        echo("Every request needs the token in that URL: whoever has it can send tests and approve.")
        if options.open_browser:
            open_browser(server.url, echo)
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            server.stop()
    finally:
        previewer.close()


def open_browser(url: str, echo: Callable[[str], Any]) -> None:
    """Open the page, but never a console browser in the terminal of a server reached over SSH."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        parts = urlsplit(url)
        host = parts.hostname or ""
        # the tunnel's far end is the address served; an address of the network is reached as it is
        tunnel = (f" (over SSH: ssh -L {parts.port}:{f'[{host}]' if ':' in host else host}:{parts.port} HOST)"
                  if is_loopback(host) else "")
        echo(f"No desktop here: open the URL in your own browser{tunnel}.")
        return
    threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
