"""The runner: offline sources run in the caller's thread, the rest in workers, results in source order."""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from newsletter.collect import collect_month
from newsletter.collectors.base import Collector, NoSettings
from newsletter.config import SourceConfig
from newsletter.errors import SourceError
from newsletter.period import Month
from newsletter.settings import Secret
from tests.contract.helpers import leaks

MONTH = Month(2026, 10)


class Recorder(Collector):
    """Reports the thread it ran in; `fail` raises to show a failure stays in its place."""

    type = "recorder"
    kind = "custom"

    def __init__(self, name: str, *, offline: bool, fail: bool = False) -> None:
        super().__init__(NoSettings(), name=name)
        self.offline = offline
        self.fail = fail

    def collect(self, month: Month):
        if self.fail:
            raise RuntimeError("broken")
        return self.result({"thread": threading.get_ident()})


def sources(*collectors: Collector) -> list[tuple[SourceConfig, Collector]]:
    return [(SourceConfig(Path(f"{c.name}.toml"), c.name, c.type, False, True, c.settings), c) for c in collectors]


def test_offline_sources_run_in_the_callers_thread_and_results_keep_source_order():
    results = collect_month(sources(Recorder("a", offline=False), Recorder("b", offline=True),
                                    Recorder("c", offline=False, fail=True), Recorder("d", offline=True)), MONTH)
    assert [r.name for r in results] == ["a", "b", "c", "d"]
    assert [r.status for r in results] == ["ok", "ok", "failed", "ok"]
    here = threading.get_ident()
    assert results[1].metrics["thread"] == here and results[3].metrics["thread"] == here
    assert results[0].metrics["thread"] != here
    assert "RuntimeError: broken" in results[2].error


def test_only_offline_sources_need_no_pool():
    results = collect_month(sources(Recorder("x", offline=True)), MONTH)
    assert [(r.name, r.status) for r in results] == [("x", "ok")]
    assert collect_month([], MONTH) == []


@dataclass(frozen=True)
class TokenSettings:
    token: Secret


class Quoting(Collector):
    """A collector whose own error quotes its secret in a wire form the runner must still catch."""

    type = "quoting"
    kind = "custom"

    def __init__(self, form: str) -> None:
        super().__init__(TokenSettings(Secret(env="QUOTING_TOKEN")), name="quoting")
        self.form = form

    def collect(self, month: Month):
        secret = self.settings.token.reveal()
        said = {"raw": f"Bearer {secret}", "url": quote(f"key={secret}/x", safe=""),
                "basic": "Basic " + base64.b64encode(f"someone@corp.example:{secret}".encode()).decode(),
                "json": f"key=\\/{secret}".replace("/", "\\/")}[self.form]
        raise SourceError(f"the vendor said: {said} (and again: {said})")


@pytest.mark.parametrize("form", ["raw", "url", "basic", "json"])
def test_the_runner_masks_a_secret_in_every_wire_form(monkeypatch, form):
    secret = "Qu0ting/secret+value=42"
    monkeypatch.setenv("QUOTING_TOKEN", secret)
    [result] = collect_month(sources(Quoting(form)), MONTH)
    assert result.status == "failed" and result.error.startswith("the vendor said: ")
    assert leaks(result.error, secret) == [] and "***" in result.error
