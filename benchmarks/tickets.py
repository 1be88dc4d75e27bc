"""Ticket collection at scale: 10,000 and 100,000 tickets of one month, served by local fakes of
Request Tracker's REST2 API (100 per page), Zendesk's incremental export (1,000 per page) and GLPI's
REST API (a session, then search/Ticket paged with `range`, 100 per page), collected in a fresh
subprocess each time.

Checks: requests = pages the API's page size allows (no extra ones; GLPI adds its session's opening
and closing), peak RSS under 150 MB, and
less than 25% RSS growth from 10,000 (the baseline, same run) to 100,000 tickets.
Run: `python benchmarks/tickets.py [rt|zendesk|glpi ...]` (all of them by default; exit 1 when a check fails).
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PAGE_SIZES = {"rt": 100, "zendesk": 1000, "glpi": 100}
SESSION_REQUESTS = {"glpi": 2}  # initSession and killSession, beside the pages
SIZES = (10_000, 100_000)
MAX_RSS_MB = 150
MAX_GROWTH = 0.25
MONTH_START = datetime(2026, 10, 1, tzinfo=UTC)


def times(number: int, total: int) -> tuple[datetime, datetime | None, datetime | None]:
    """Ticket `number` of `total`, spread over October; most answered, two in three resolved."""
    created = MONTH_START + timedelta(seconds=number * (30 * 86400) // total)
    started = created + timedelta(minutes=5 + number % 240) if number % 10 else None
    resolved = created + timedelta(hours=1 + number % 48) if number % 3 else None
    return created, started, resolved


def iso(moment: datetime | None, empty: str | None = None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else empty


def rt_page(args: dict, total: int) -> dict:
    page, per_page = int(args["page"][0]), int(args["per_page"][0])
    pages = math.ceil(total / per_page)
    items = []
    for n in range((page - 1) * per_page, min(page * per_page, total)):
        created, started, resolved = times(n, total)
        items.append({"id": str(n), "type": "ticket", "_url": f"http://rt/REST/2.0/ticket/{n}",
                      "Created": iso(created), "Started": iso(started, EMPTY), "Resolved": iso(resolved, EMPTY),
                      "Status": "resolved" if resolved else "open",
                      "Queue": {"id": "1", "type": "queue", "Name": ("General", "Hardware", "Access")[n % 3]}})
    body = {"total": total, "count": len(items), "page": page, "pages": pages, "per_page": per_page, "items": items}
    if page < pages:
        body["next_page"] = f"http://rt/REST/2.0/tickets?page={page + 1}"
    return body


def zendesk_page(args: dict, total: int) -> dict:
    page, per_page = int(args.get("cursor", ["0"])[0]), int(args["per_page"][0])
    tickets, metric_sets = [], []
    for n in range(page * per_page, min((page + 1) * per_page, total)):
        created, started, resolved = times(n, total)
        tickets.append({"id": n, "created_at": iso(created), "status": "solved" if resolved else "open",
                        "type": ("incident", "question", "task")[n % 3],
                        "satisfaction_rating": {"score": ("good", "bad", "unoffered")[n % 3]}})
        reply = round((started - created).total_seconds() / 60) if started else None
        full = round((resolved - created).total_seconds() / 60) if resolved else None
        metric_sets.append({"ticket_id": n, "solved_at": iso(resolved),
                            "reply_time_in_minutes": {"calendar": reply, "business": reply},
                            "full_resolution_time_in_minutes": {"calendar": full, "business": full}})
    last = (page + 1) * per_page >= total
    return {"tickets": tickets, "metric_sets": metric_sets, "after_cursor": str(page + 1),
            "after_url": None, "end_of_stream": last}


def local(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else None


def glpi_page(path: str, args: dict, total: int) -> tuple[dict, dict[str, str]]:
    """initSession, killSession, and search/Ticket rows keyed by search option id, dates in UTC."""
    if path.endswith("/initSession"):
        return {"session_token": "bench-session"}, {}
    if path.endswith("/killSession"):
        return {}, {}
    first, last = (int(n) for n in args["range"][0].split("-"))
    rows = []
    for n in range(first, min(last + 1, total)):
        created, started, resolved = times(n, total)
        rows.append({"2": n, "1": f"Ticket {n}", "80": "Root entity", "15": local(created), "17": local(resolved),
                     "16": None, "12": 5 if resolved else 2, "7": ("Hardware &#62; Laptops", "Access", "Mail")[n % 3],
                     "150": int((started - created).total_seconds()) if started else 0, "18": None, "82": 0})
    shown = f"{first}-{first + len(rows) - 1}/{total}"
    return {"totalcount": total, "count": len(rows), "data": rows, "content-range": shown}, {"Content-Range": shown}


EMPTY = "1970-01-01T00:00:00Z"  # RT's "never"
PAGES = {"rt": rt_page, "zendesk": zendesk_page}


class Fake(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    wbufsize = -1  # headers and body leave in one write: no Nagle/delayed-ACK stall per page
    disable_nagle_algorithm = True
    vendor = "rt"
    total = 0
    requests = 0

    def do_GET(self):
        type(self).requests += 1
        url = urlsplit(self.path)
        if self.vendor == "glpi":
            body, headers = glpi_page(url.path, parse_qs(url.query), self.total)
        else:
            body, headers = PAGES[self.vendor](parse_qs(url.query), self.total), {}
        data = json.dumps(body).encode()
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def child(vendor: str, url: str) -> None:
    """Collect October from `url` in this process; print figures as JSON."""
    from zoneinfo import ZoneInfo

    from newsletter.binding import Secret
    from newsletter.collectors.glpi import Glpi, GlpiSettings
    from newsletter.collectors.rt import RequestTracker, RequestTrackerSettings
    from newsletter.collectors.zendesk import Zendesk, ZendeskSettings
    from newsletter.http import make_session
    from newsletter.period import Month

    os.environ["BENCH_TOKEN"] = "bench-token"
    token = Secret(env="BENCH_TOKEN")
    if vendor == "rt":
        collector = RequestTracker(RequestTrackerSettings(base_url=url, token=token, page_size=PAGE_SIZES["rt"]),
                                   name="bench", session=make_session())
    elif vendor == "glpi":
        collector = Glpi(GlpiSettings(base_url=url, user_token=token, page_size=PAGE_SIZES["glpi"]),
                         name="bench", session=make_session())
    else:
        collector = Zendesk(ZendeskSettings(base_url=url, email="it@example.com", token=token),
                            name="bench", session=make_session())
    collector.validate()
    started = time.perf_counter()
    stats = collector.collect(Month(2026, 10, ZoneInfo("UTC")))
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_kb / 1024, "metrics": stats.metrics()}))


def measure(vendor: str, total: int) -> dict:
    Fake.vendor, Fake.total, Fake.requests = vendor, total, 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        out = subprocess.run([sys.executable, __file__, "--child", vendor, url], check=True, capture_output=True,
                             text=True)
    finally:
        server.shutdown()
    figures = json.loads(out.stdout)
    figures.update(vendor=vendor, tickets=total, requests=Fake.requests,
                   pages=math.ceil(total / PAGE_SIZES[vendor]), extra=SESSION_REQUESTS.get(vendor, 0))
    return figures


def check(vendor: str) -> list[str]:
    results = [measure(vendor, n) for n in SIZES]
    failures = []
    for r in results:
        extra = f" + {r['extra']} for the session" if r["extra"] else ""
        print(f"{vendor:8} {r['tickets']:>7,} tickets: {r['requests']:>5} requests ({r['pages']} pages{extra}), "
              f"{r['seconds']:6.1f} s ({1000 * r['seconds'] / r['tickets']:.2f} ms/ticket), "
              f"peak RSS {r['peak_rss_mb']:.1f} MB")
        if r["metrics"]["opened"] != r["tickets"]:
            failures.append(f"{vendor} {r['tickets']}: opened {r['metrics']['opened']}, expected {r['tickets']}")
        if r["requests"] > r["pages"] + r["extra"]:
            failures.append(f"{vendor} {r['tickets']}: {r['requests']} requests for {r['pages']} pages{extra}")
        if r["peak_rss_mb"] >= MAX_RSS_MB:
            failures.append(f"{vendor} {r['tickets']}: peak RSS {r['peak_rss_mb']:.1f} MB >= {MAX_RSS_MB} MB")
    growth = results[-1]["peak_rss_mb"] / results[0]["peak_rss_mb"] - 1
    print(f"{vendor:8} RSS growth from {SIZES[0]:,} to {SIZES[-1]:,} tickets: {100 * growth:.1f}% "
          f"(limit {100 * MAX_GROWTH:.0f}%)")
    if growth >= MAX_GROWTH:
        failures.append(f"{vendor}: RSS grew {100 * growth:.1f}%")
    return failures


def main(vendors: list[str]) -> int:
    failures = [f for vendor in vendors or PAGE_SIZES for f in check(vendor)]
    for failure in failures:
        print("FAIL", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main([v for v in sys.argv[1:] if v in PAGE_SIZES]))
