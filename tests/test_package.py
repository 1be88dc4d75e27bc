"""The built wheel carries the theme and the demo: installed into a fresh venv, it previews anywhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, integration_required

WHEELHOUSE = REPO / ".venv" / "wheelhouse"


@pytest.mark.slow
def test_wheel_installs_and_previews_the_demo_from_another_folder(tmp_path):
    if not any(WHEELHOUSE.glob("*.whl")):
        reason = f"no dependency wheels in {WHEELHOUSE}: `make test` builds them"
        if integration_required():
            pytest.fail(reason)
        pytest.skip(reason)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(dist), str(REPO)], check=True, capture_output=True)
    (wheel,) = dist.glob("newsletter-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-index",
                    "--find-links", str(WHEELHOUSE), str(wheel)], check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run([str(venv / "bin" / "newsletter"), "preview", "--demo", "--month", "2026-10",
                             "--output", "x.html"], cwd=elsewhere, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    html = (elsewhere / "x.html").read_text()
    assert "October 2026" in html and "Requests resolved" in html
    charts = sorted(p.name for p in (elsewhere / "x_images").iterdir())
    assert charts and all(name.endswith(".png") for name in charts), "the browser copy shows its inline charts"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["x.html", "x_images"], "a demo preview writes nothing else"
    installed = subprocess.run([str(venv / "bin" / "python"), "-c", "import newsletter; print(newsletter.__file__)"],
                               cwd=elsewhere, capture_output=True, text=True, check=True).stdout
    assert Path(installed.strip()).is_relative_to(venv), "the test must exercise the installed copy"
    page = subprocess.run([str(venv / "bin" / "python"), "-c", "import newsletter.preview_http as p; print(p.PAGE)"],
                          cwd=elsewhere, capture_output=True, text=True, check=True).stdout
    assert Path(page.strip()).is_file(), "the preview page ships in the wheel; the server imports without extras"
