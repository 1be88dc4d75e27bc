"""Delivery throughput: per-person messages through the ledger and SMTP, against Postfix's smtp-source.

Both send the same number of messages of the same size over the same number of parallel
connections (smtp-source -s N, delivery.smtp.connections = N) to the same minimal SMTP sink on
127.0.0.1 (its own process). Ours is the whole path: recipients, per-person fields, the demo
edition's charts inline in every message, MIME, the ledger's two marks per message (`sending` on
disk before the data, flushes shared between connections) and SMTP. Memory: the peak RSS of a run
of N/10 and of N messages, which should be about the same.

    python benchmarks/delivery.py [--messages 10000] [--connections 4]
    python benchmarks/delivery.py --build [--messages 1000]   # building a message alone, against the email package
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SMTP_SOURCE = "/usr/sbin/smtp-source"


# the sink: just enough SMTP to take messages as fast as they come ---------------------------------
async def _session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: list[int]) -> None:
    writer.write(b"220 sink ESMTP\r\n")
    while line := await reader.readline():
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            writer.write(b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        elif verb == b"DATA":
            writer.write(b"354 go ahead\r\n")
            await writer.drain()
            await reader.readuntil(b"\r\n.\r\n")
            counter[0] += 1
            writer.write(b"250 2.0.0 queued\r\n")
        elif verb == b"QUIT":
            writer.write(b"221 bye\r\n")
            await writer.drain()
            break
        else:
            writer.write(b"250 OK\r\n")
        await writer.drain()
    writer.close()


def sink(port: int) -> None:
    counter = [0]

    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: _session(r, w, counter), "127.0.0.1", port,
                                            limit=16 * 1024 * 1024)
        print("ready", flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        async with server:
            await stop.wait()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(counter[0], usage.ru_utime + usage.ru_stime, flush=True)

    asyncio.run(main())


def _edition():
    """The demo edition with its charts, and three per-person fields in its text and HTML."""
    sys.path.insert(0, str(REPO))
    from newsletter.collect import ensure_collected
    from newsletter.drafts import compose
    from newsletter.workspace import Workspace

    ws = Workspace.open(demo=True, in_memory=True)
    month = ws.month("2026-10")
    ensure_collected(ws, month)
    edition = compose(ws, month)
    return type(edition)(**{**edition.__dict__, "html": edition.html.replace(
        "<body", "<body data-for=\"[[ recipient.email ]]\"", 1).replace(
        "</body>", "<p>Hello [[ recipient.name ]] in [[ recipient.department ]]</p></body>"),
        "text": "Hello [[ recipient.name ]]\n" + edition.text})


def building(count: int) -> None:
    """Checking each person's fields, then building each person's message alone (no ledger, no SMTP):
    MessageFactory, whose edition's pieces and image parts are made once, against the email package
    building every message whole."""
    from newsletter.compose.personal import Personalizer
    from newsletter.delivery.message import Envelope, MessageFactory, as_bytes, build_message
    from newsletter.delivery.recipients import Recipient

    edition = _edition()
    envelope, personalizer = Envelope("IT <it@example.com>"), Personalizer(edition)
    factory = MessageFactory(envelope, personalizer)
    people = [Recipient(f"person{i:06d}@example.com", f"Person {i}", {"department": f"Dept {i % 17}"})
              for i in range(count)]
    started = time.perf_counter()
    for person in people:
        personalizer.problem(person.context(["department"]))
    check_s = (time.perf_counter() - started) / count
    started = time.perf_counter()
    for person in people:
        factory.build(person, person.context(["department"]))
    ours_s = (time.perf_counter() - started) / count
    started = time.perf_counter()
    for person in people[:max(count // 10, 1)]:
        as_bytes(build_message(personalizer.for_recipient(person.context(["department"])), envelope, person))
    theirs_s = (time.perf_counter() - started) / max(count // 10, 1)
    images = len(edition.images)
    print(f"building a message ({images} inline image{'s' if images != 1 else ''}): "
          f"{ours_s * 1e6:,.0f} µs with MessageFactory, "
          f"{theirs_s * 1e3:,.1f} ms through the email package ({theirs_s / ours_s:,.0f} times)")
    print(f"checking a person's fields before the run: {check_s * 1e6:,.0f} µs")


# ours: the real path through deliver() ---------------------------------------------------------------
def ours(port: int, count: int, sync: str, connections: int) -> None:
    sys.path.insert(0, str(REPO))
    from newsletter.compose.personal import Personalizer
    from newsletter.delivery.ledger import DeliveryPlan, deliver
    from newsletter.delivery.message import Envelope, MessageFactory
    from newsletter.delivery.recipients import load_recipients
    from newsletter.delivery.smtp import SmtpSettings, SmtpTransport
    from newsletter.store import Store

    work = Path(tempfile.mkdtemp(prefix="newsletter-bench-"))
    try:
        edition = _edition()
        csv = work / "people.csv"
        csv.write_text("email,name,department\n" + "".join(
            f"person{i:06d}@example.com,Person {i},Dept {i % 17}\n" for i in range(count)), encoding="utf-8")
        recipients = load_recipients([], csv)
        assert edition.images, "the benchmark's edition carries its charts, as the one people get does"
        envelope = Envelope("IT <it@example.com>")
        first = recipients.recipients[0]
        sample = MessageFactory(envelope, Personalizer(edition)).build(first, first.context(recipients.columns))
        transport = SmtpTransport(SmtpSettings(host="127.0.0.1", port=port, security="none", connections=connections),
                                  "it@example.com")
        with Store.open(work / "state") as store:
            store.set_durability(sync == "full")
            started = time.perf_counter()
            report = deliver(store, edition, recipients, transport, DeliveryPlan(envelope))
            seconds = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(json.dumps({"seconds": seconds, "sent": report.counts.get("sent", 0), "size": len(sample.data),
                          "images": len(edition.images), "maxrss_kb": usage.ru_maxrss,
                          "cpu_s": usage.ru_utime + usage.ru_stime, "sys_s": usage.ru_stime}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


# the comparison --------------------------------------------------------------------------------------
def _start_sink() -> tuple[subprocess.Popen, int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, __file__, "--sink", str(port)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    return process, port


def _stop_sink(process: subprocess.Popen) -> tuple[int, float]:
    """How many messages the sink took, and the CPU seconds it spent on them."""
    process.send_signal(signal.SIGTERM)
    received, cpu = process.communicate(timeout=30)[0].split()
    return int(received), float(cpu)


def _run_ours(count: int, connections: int, sync: str = "full") -> dict:
    process, port = _start_sink()
    out = subprocess.run([sys.executable, __file__, "--ours", str(port), str(count), sync, str(connections)],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    result["received"], result["sink_cpu_s"] = _stop_sink(process)
    return result


def _run_smtp_source(count: int, size: int, connections: int) -> dict:
    process, port = _start_sink()
    started = time.perf_counter()
    subprocess.run([SMTP_SOURCE, "-s", str(connections), "-d", "-m", str(count), "-l", str(size),
                    "-f", "it@example.com",
                    "-t", "person@example.com", "-M", "localhost", f"127.0.0.1:{port}"], check=True)
    seconds = time.perf_counter() - started
    received, sink_cpu = _stop_sink(process)
    return {"seconds": seconds, "received": received, "sink_cpu_s": sink_cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--connections", type=int, default=None,
                        help="parallel connections for both (default: delivery.smtp.connections' default)")
    parser.add_argument("--build", action="store_true", help="time building a message alone, no SMTP")
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ours", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        return sink(args.sink)
    if args.build:
        return building(min(args.messages, 1000))
    if args.ours:
        return ours(int(args.ours[0]), int(args.ours[1]), args.ours[2], int(args.ours[3]))
    if not os.access(SMTP_SOURCE, os.X_OK):
        sys.exit(f"{SMTP_SOURCE} is not installed (Debian: postfix); it is the baseline")
    sys.path.insert(0, str(REPO))
    from newsletter.delivery.smtp import DEFAULT_CONNECTIONS

    n, connections = args.messages, args.connections or DEFAULT_CONNECTIONS
    small = _run_ours(n // 10, connections)
    runs: dict[str, list[dict]] = {"smtp-source": [], "full": [], "normal": []}
    for _ in range(args.repeat):  # interleaved, best of each: a shared machine's noise hits all alike
        runs["smtp-source"].append(_run_smtp_source(n, small["size"], connections))
        runs["full"].append(_run_ours(n, connections))
        runs["normal"].append(_run_ours(n, connections, "normal"))
    best = {name: min(results, key=lambda r: r["seconds"]) for name, results in runs.items()}
    assert all(r["received"] == n for results in runs.values() for r in results), "the sink lost messages"
    rate_theirs = n / best["smtp-source"]["seconds"]
    images, plural = small["images"], lambda count: "s" if count != 1 else ""
    print(f"messages: {n:,} of {small['size']:,} bytes ({images} inline image{plural(images)}), "
          f"{connections} connection{plural(connections)}; best of {args.repeat}")
    print(f"smtp-source -s {connections} -d:              {best['smtp-source']['seconds']:5.2f} s "
          f"{rate_theirs:7,.0f} msg/s                       (sink CPU {best['smtp-source']['sink_cpu_s']:.2f} s)")
    for sync in ("full", "normal"):
        rate = n / best[sync]["seconds"]
        print(f"newsletter, ledger_sync = {sync + ':':7} {best[sync]['seconds']:5.2f} s {rate:7,.0f} msg/s "
              f"= {rate / rate_theirs:.2f} of smtp-source (sink CPU {best[sync]['sink_cpu_s']:.2f} s)")
    print(f"peak RSS: {small['maxrss_kb'] / 1024:.0f} MiB for {n // 10:,} messages, "
          f"{best['full']['maxrss_kb'] / 1024:.0f} MiB for {n:,}")
    print(f"default ledger: {n / best['full']['seconds'] / rate_theirs:.2f} of smtp-source")

if __name__ == "__main__":
    main()
