"""`newsletter preview --demo --output x.html` against importing its four main libraries.

The baseline, `python -c "import click, jinja2, mjml, requests"`, is measured in the same run,
interleaved with the preview, so the ratio holds on any machine. Run: python benchmarks/preview.py
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# As installed for real: pip compiles every module to bytecode, so both commands may use (and the
# warm-up run writes) .pyc files even where the shell sets PYTHONDONTWRITEBYTECODE.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
BASELINE = [sys.executable, "-c", "import click, jinja2, mjml, requests"]
TARGET_RATIO = 1.5


def wall(command: list[str]) -> float:
    """Wall time of one run; CPU time (user + system) goes to CPU, steadier on a busy machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.setdefault(tuple(command), []).append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return elapsed


CPU: dict[tuple[str, ...], list[float]] = {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--extra", nargs="*", default=[], help="extra preview arguments, e.g. --year 2026")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "x.html"
        preview = [sys.executable, "-m", "newsletter", "-q", "preview", "--demo", "--output", str(output),
                   *args.extra]
        wall(BASELINE), wall(preview)  # warm the page cache
        base, ours = [], []
        for _ in range(args.runs):
            base.append(wall(BASELINE))
            ours.append(wall(preview))
    b, o = statistics.median(base), statistics.median(ours)
    cb, co = statistics.median(CPU[tuple(BASELINE)][1:]), statistics.median(CPU[tuple(preview)][1:])
    print(f"baseline import  median {b * 1000:6.0f} ms wall, {cb * 1000:6.0f} ms CPU  "
          f"(wall runs: {', '.join(f'{x * 1000:.0f}' for x in base)})")
    print(f"preview --demo   median {o * 1000:6.0f} ms wall, {co * 1000:6.0f} ms CPU  "
          f"(wall runs: {', '.join(f'{x * 1000:.0f}' for x in ours)})")
    print(f"ratio {o / b:.2f} wall, {co / cb:.2f} CPU (target under {TARGET_RATIO})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
