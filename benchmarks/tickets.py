"""Ticket collection at scale: 10,000 and 100,000 tickets of one month, served by a local fake of
Request Tracker's REST2 API at 100 per page, collected in a fresh subprocess each time.

Checks: requests = pages the API's page size allows (no extra ones), peak RSS under 150 MB, and
less than 25% RSS growth from 10,000 (the baseline, same run) to 100,000 tickets.
Run: `python benchmarks/tickets.py` (exit 1 when a check fails).
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

PER_PAGE = 100
SIZES = (10_000, 100_000)
MAX_RSS_MB = 150
MAX_GROWTH = 0.25
MONTH_START = datetime(2026, 10, 1, tzinfo=UTC)


def item(number: int, total: int) -> dict:
    """Ticket `number` of `total`, spread over October; two in three resolved, most started."""
    created = MONTH_START + timedelta(seconds=number * (30 * 86400) // total)
    started = created + timedelta(minutes=5 + number % 240) if number % 10 else None
    resolved = created + timedelta(hours=1 + number % 48) if number % 3 else None
    empty = "1970-01-01T00:00:00Z"

    def iso(moment):
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else empty

    return {"id": str(number), "type": "ticket", "_url": f"http://rt/REST/2.0/ticket/{number}",
            "Created": iso(created), "Started": iso(started), "Resolved": iso(resolved),
            "Status": "resolved" if resolved else "open",
            "Queue": {"id": "1", "type": "queue", "Name": ("General", "Hardware", "Access")[number % 3]}}


class FakeRT(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    wbufsize = -1  # headers and body leave in one write: no Nagle/delayed-ACK stall per page
    disable_nagle_algorithm = True
    total = 0
    requests = 0

    def do_GET(self):
        type(self).requests += 1
        args = parse_qs(urlsplit(self.path).query)
        page, per_page = int(args["page"][0]), int(args["per_page"][0])
        pages = math.ceil(self.total / per_page)
        first = (page - 1) * per_page
        body = {"total": self.total, "count": 0, "page": page, "pages": pages, "per_page": per_page,
                "items": [item(n, self.total) for n in range(first, min(first + per_page, self.total))]}
        body["count"] = len(body["items"])
        if page < pages:
            body["next_page"] = f"http://rt/REST/2.0/tickets?page={page + 1}"
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def child(url: str) -> None:
    """Collect October from `url` in this process; print figures as JSON."""
    from zoneinfo import ZoneInfo

    from newsletter.collectors.rt import RequestTracker, RequestTrackerSettings
    from newsletter.http import make_session
    from newsletter.period import Month
    from newsletter.settings import Secret

    os.environ["BENCH_RT_TOKEN"] = "bench-token"
    settings = RequestTrackerSettings(base_url=url, token=Secret(env="BENCH_RT_TOKEN"), page_size=PER_PAGE)
    collector = RequestTracker(settings, name="bench", session=make_session())
    collector.validate()
    started = time.perf_counter()
    result = collector.collect(Month(2026, 10, ZoneInfo("UTC")))
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_kb / 1024, "metrics": result.metrics}))


def measure(total: int) -> dict:
    FakeRT.total, FakeRT.requests = total, 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRT)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        out = subprocess.run([sys.executable, __file__, "--child", url], check=True, capture_output=True, text=True)
    finally:
        server.shutdown()
    figures = json.loads(out.stdout)
    figures.update(tickets=total, requests=FakeRT.requests, pages=math.ceil(total / PER_PAGE))
    return figures


def main() -> int:
    results = [measure(n) for n in SIZES]
    failures = []
    for r in results:
        print(f"{r['tickets']:>7,} tickets: {r['requests']:>5} requests ({r['pages']} pages), "
              f"{r['seconds']:6.1f} s ({1000 * r['seconds'] / r['tickets']:.2f} ms/ticket), "
              f"peak RSS {r['peak_rss_mb']:.1f} MB")
        if r["metrics"]["opened"] != r["tickets"]:
            failures.append(f"{r['tickets']}: opened {r['metrics']['opened']}, expected {r['tickets']}")
        if r["requests"] > r["pages"]:
            failures.append(f"{r['tickets']}: {r['requests']} requests for {r['pages']} pages")
        if r["peak_rss_mb"] >= MAX_RSS_MB:
            failures.append(f"{r['tickets']}: peak RSS {r['peak_rss_mb']:.1f} MB >= {MAX_RSS_MB} MB")
    base, big = results[0]["peak_rss_mb"], results[-1]["peak_rss_mb"]
    growth = big / base - 1
    print(f"RSS growth from {SIZES[0]:,} to {SIZES[-1]:,} tickets: {100 * growth:.1f}% (limit {100 * MAX_GROWTH:.0f}%)")
    if growth >= MAX_GROWTH:
        failures.append(f"RSS grew {100 * growth:.1f}%")
    for failure in failures:
        print("FAIL", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        sys.exit(main())
