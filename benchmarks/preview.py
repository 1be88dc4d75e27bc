"""`newsletter preview --demo --output x.html` against importing its four main libraries.

The baseline, `python -c "import click, jinja2, mjml, requests"`, is measured in the same run,
interleaved with the preview, so the ratio holds on any machine. Run: python benchmarks/preview.py
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = [sys.executable, "-c", "import click, jinja2, mjml, requests"]
TARGET_RATIO = 1.5


def wall(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


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
    print(f"baseline import  median {b * 1000:7.0f} ms  (runs: {', '.join(f'{x * 1000:.0f}' for x in base)})")
    print(f"preview --demo   median {o * 1000:7.0f} ms  (runs: {', '.join(f'{x * 1000:.0f}' for x in ours)})")
    print(f"ratio {o / b:.2f} (target under {TARGET_RATIO})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
