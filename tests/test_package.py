"""The built wheel carries the theme and the demo: installed into a fresh venv, it previews anywhere.

The distribution has a name of its own: `newsletter` on the package index is an unrelated project,
so every install line in the docs and messages installs this checkout or its wheel, never that name.
"""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, integration_required

WHEELHOUSE = REPO / ".venv" / "wheelhouse"
DISTRIBUTION = "it-newsletter"
_PIP_INSTALL = re.compile(r"pip install ([^`\n)#&]+)")  # up to a comment, a code span or the next command
_REQUIREMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def need_wheelhouse() -> None:
    """Skip (fail, where the integration programs are required) without the dependencies' wheels,
    which a fresh venv installs from offline."""
    if not any(WHEELHOUSE.glob("*.whl")):
        reason = f"no dependency wheels in {WHEELHOUSE}: `make test` builds them"
        if integration_required():
            pytest.fail(reason)
        pytest.skip(reason)


def test_the_distribution_has_a_name_of_its_own_and_keeps_the_command():
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    assert setup["metadata"]["name"] == DISTRIBUTION
    assert "newsletter = newsletter.cli:main" in setup["options.entry_points"]["console_scripts"]
    assert setup["options.packages.find"]["include"].split(",")[0].strip() == "newsletter"


def install_lines() -> list[tuple[str, str]]:
    """(file, what follows `pip install`) in every text file the repository tracks: the docs, the
    Makefile, CI, the package's messages, the sample configs and the templates."""
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, check=True, capture_output=True, text=True).stdout
    texts = (".md", ".py", ".toml", ".cfg", ".j2", ".txt", ".yml")
    files = [REPO / name for name in tracked.splitlines()  # tests quote bad install lines on purpose
             if not name.startswith("tests/")
             and (name.endswith(texts) or name == "Makefile" or name.startswith(".ci/"))]
    return [(str(path.relative_to(REPO)), match[1]) for path in files if path.is_file()
            for match in _PIP_INSTALL.finditer(path.read_text(encoding="utf-8"))]


def test_every_install_line_installs_this_project_never_the_index_name():
    lines = install_lines()
    assert any(args.strip() == "'.[test]'" for _, args in lines), "the README says how to install from a checkout"
    for where, args in lines:
        for word in args.replace("'", " ").replace('"', " ").split():
            if word.startswith("-") or word.startswith((".", "/", "$", "dist/")):
                continue
            name = _REQUIREMENT_NAME.match(word)
            assert name and re.sub(r"[-_.]+", "-", name[0].lower()) not in ("newsletter", DISTRIBUTION), (
                f"{where}: `pip install {args}` installs a package from the index by this project's name")


# What setuptools says when data folders are packaged as if they were code (one block per folder).
PACKAGING_WARNINGS = ("absent from the `packages` configuration", "SetuptoolsDeprecationWarning",
                      "BuildBackendWarning", "as data is deprecated")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, str]:
    """The wheel built from this checkout with the venv's setuptools, and everything the build printed."""
    dist = tmp_path_factory.mktemp("dist")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
                            "-w", str(dist), str(REPO)], check=True, capture_output=True, text=True)
    (wheel,) = dist.glob("it_newsletter-*.whl")
    return wheel, build.stdout + build.stderr


@pytest.mark.slow
def test_the_build_prints_no_packaging_warnings(built):
    _, output = built
    found = [line.strip() for line in output.splitlines() if any(w in line for w in PACKAGING_WARNINGS)]
    assert not found, f"{len(found)} packaging warnings, first: {found[0]}"


@pytest.mark.slow
def test_wheel_installs_and_previews_the_demo_from_another_folder(tmp_path, built):
    need_wheelhouse()
    wheel, _ = built
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
    metadata = subprocess.run([str(venv / "bin" / "python"), "-c", (
        "import importlib.metadata as m, newsletter; d = m.distribution('it-newsletter'); "
        "print(d.version == newsletter.__version__, sorted({e.group for e in d.entry_points}))")],
        cwd=elsewhere, capture_output=True, text=True, check=True).stdout
    assert metadata.strip() == ("True ['console_scripts', 'newsletter.collectors', 'newsletter.directories', "
                                "'newsletter.transports']")
    page = subprocess.run([str(venv / "bin" / "python"), "-c", "import newsletter.preview_http as p; print(p.PAGE)"],
                          cwd=elsewhere, capture_output=True, text=True, check=True).stdout
    assert Path(page.strip()).is_file(), "the preview page ships in the wheel; the server imports without extras"
    german = subprocess.run([str(venv / "bin" / "newsletter"), "preview", "--demo", "--month", "2026-10",
                             "--language", "de", "--output", "de.txt"], cwd=elsewhere, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert german.returncode == 0, german.stderr
    assert "Die IT im Oktober 2026" in (elsewhere / "de.txt").read_text(), "the compiled catalogs ship in the wheel"


@pytest.mark.slow
def test_the_wheel_carries_the_compiled_catalogs(built):
    import zipfile

    wheel, _ = built
    names = set(zipfile.ZipFile(wheel).namelist())
    for language in ("de", "fr", "es"):
        assert f"newsletter/locale/{language}/LC_MESSAGES/messages.mo" in names, language
