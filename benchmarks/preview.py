"""`newsletter preview --demo` against importing its libraries, run after run on the same machine.

The baseline is `python -c "import click, jinja2, mjml, requests"`: the floor any Python tool
using these libraries pays. The ratio says what our own work costs on top of that.
Usage: python benchmarks/preview.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def timed(command: list[str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    baseline_cmd = [sys.executable, "-c", "import click, jinja2, mjml, requests"]
    preview_cmd = [str(BIN / "newsletter"), "preview", "--demo", "--output", "x.html"]
    with tempfile.TemporaryDirectory() as folder:
        for command in (baseline_cmd, preview_cmd):  # warm the file cache once
            timed(command, folder)
        baseline, preview = [], []
        for _ in range(runs):  # interleaved, so load on the machine hits both alike
            baseline.append(timed(baseline_cmd, folder))
            preview.append(timed(preview_cmd, folder))
    base, ours = statistics.median(baseline), statistics.median(preview)
    print(f"runs: {runs} each, interleaved; cpus: {os.cpu_count()}")
    print(f"baseline  import click, jinja2, mjml, requests: median {base * 1000:.0f} ms")
    print(f"preview   newsletter preview --demo --output x.html: median {ours * 1000:.0f} ms")
    print(f"ratio     {ours / base:.2f} (aim: under 1.5)")


if __name__ == "__main__":
    main()
