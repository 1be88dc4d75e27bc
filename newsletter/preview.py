"""`newsletter preview` as a live server: the month's draft as the reviewers will judge it.

One worker thread owns the workspace and its SQLite store (sqlite3 connections belong to the
thread that made them); it renders, re-renders on file changes and records approvals. HTTP
handlers only read the latest Draft, wait for the next one (Server-Sent Events) or hand a job
to the worker. A bad edit never stops the server: the error becomes part of the Draft and the
last good email stays on the page until the next good save. The page shows the edition as the
first person of the recipients file gets it (per-person fields filled in); approvals are of the
edition itself. The HTTP side, and serving it all until Ctrl-C (`serve`), is preview_http.py: it
uses this module, never the other way round.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from newsletter import approval, drafts, editions, i18n, preview_quotes
from newsletter.collect import collect, ensure_collected, refresh_local
from newsletter.compose.personal import Personalizer
from newsletter.compose.render import Newsletter
from newsletter.config import load_config
from newsletter.delivery import mailing
from newsletter.errors import NewsletterError, UsageError
from newsletter.period import Month
from newsletter.resources import builtin_theme
from newsletter.workspace import Workspace

log = logging.getLogger(__name__)
HIDDEN_HEADERS = {"content-type", "mime-version", "content-transfer-encoding"}
NOBODY = "nobody@example.invalid"  # the To of a workspace without recipients, shown as such
_LOCATION = re.compile(r"^(?P<file>[^\n]+?\.j2):(?P<line>\d+): ")


@dataclass(frozen=True)
class Draft:
    """What the page shows: the last good newsletter, and the error of the latest attempt if any."""

    version: int
    month: str
    month_name: str
    newsletter: Newsletter | None = None  # the edition: what approvals and the run compare
    shown: Newsletter | None = None  # the edition as `recipient` gets it, per-person fields filled in
    recipient: str = ""
    error: str | None = None
    excerpt: list[tuple[int, str]] = field(default_factory=list)
    error_line: int | None = None
    sources: list[dict[str, str]] = field(default_factory=list)  # failed, skipped or partial: name, status, error
    findings: list[tuple[str, str]] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    review: dict[str, Any] = field(default_factory=dict)
    render_ms: float = 0.0
    frozen: str | None = None  # the edition went out to someone: why the page shows the archived content
    quotes: list[dict[str, str]] = field(default_factory=list)  # candidates for "What colleagues said"
    language: str = ""  # the language `shown` is in: the switch's choice, else the sample person's

    def to_json(self) -> dict[str, Any]:
        n = self.shown or self.newsletter
        return {
            "version": self.version, "month": self.month, "month_name": self.month_name,
            "subject": n.subject if n else "", "preheader": n.preheader if n else "",
            "html": n.html if n else "", "text": n.text if n else "", "recipient": self.recipient,
            "content_hash": self.newsletter.content_hash if self.newsletter else None, "error": self.error,
            "excerpt": self.excerpt, "error_line": self.error_line, "sources": self.sources,
            "findings": self.findings, "headers": self.headers, "review": self.review,
            "render_ms": round(self.render_ms, 1), "frozen": self.frozen, "quotes": self.quotes,
            "language": self.language, "languages": list(i18n.shipped_languages()),
        }


def error_excerpt(message: str, context: int = 2) -> tuple[int | None, list[tuple[int, str]]]:
    """The offending line of a `template:line: message` error, with `context` lines around it."""
    match = _LOCATION.match(message)
    if not match:
        return None, []
    line = int(match["line"])
    try:
        lines = Path(match["file"]).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return line, []
    first = max(1, line - context)
    return line, [(n, lines[n - 1]) for n in range(first, min(len(lines), line + context) + 1)]


# the worker -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PreviewOptions:
    month: str = "last"
    host: str | None = None  # None: 127.0.0.1 (the token is needed there too)
    port: int = 8765
    open_browser: bool = True
    collect: bool = False
    language: str | None = None  # the language switch's first choice (`preview --language`)


class Previewer:
    """Owns the workspace on one worker thread; publishes each new Draft to waiting handlers."""

    def __init__(self, open_workspace: Callable[..., Workspace], options: PreviewOptions) -> None:
        self._open = open_workspace
        self.options = options
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="preview-worker")
        self._changed = threading.Condition()
        self._draft: Draft | None = None
        self.ws: Workspace | None = None
        self.period: Month | None = None
        self.local_failures: list[dict[str, str]] = []
        self._sample: tuple[object, mailing.SampleRecipient | None] | None = None  # (what it was read from, sample)
        self.language = options.language  # the language switch's choice; None: as the sample person reads it

    def call(self, job: Callable[..., Any], *args: Any) -> Any:
        """Run `job` on the worker thread and return its result (or raise its error)."""
        return self._worker.submit(job, *args).result()

    def start(self) -> Draft:
        return self.call(self._start)

    def close(self) -> None:
        with self._changed:
            self._changed.notify_all()
        if self.ws is not None:
            self._worker.submit(self.ws.store.close)  # on the thread that owns the connection
        self._worker.shutdown(wait=True)

    # drafts, for the handlers ------------------------------------------------------------------
    @property
    def draft(self) -> Draft:
        assert self._draft is not None
        return self._draft

    def wait_newer(self, version: int, timeout: float) -> Draft | None:
        """The first Draft newer than `version`, or None after `timeout` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self._draft is not None and self._draft.version > version, timeout)
            return self._draft if self._draft and self._draft.version > version else None

    def _publish(self, draft: Draft) -> Draft:
        with self._changed:
            self._draft = draft
            self._changed.notify_all()
        return draft

    # worker jobs -------------------------------------------------------------------------------
    def _start(self) -> Draft:
        self.ws = self._open(demo_in_memory=True)
        self.period = self.ws.month(self.options.month)
        if self.options.collect:
            collect(self.ws, self.period)
        ensure_collected(self.ws, self.period)
        self._collect_local()
        return self._publish(self._render())

    def reload(self, changed: set[Path]) -> None:
        """Called by the file watcher: queue a re-render (config re-read, local sources re-collected)."""
        self._worker.submit(self._reload, changed)

    def _reload(self, changed: set[Path]) -> Draft:
        ws = self.ws
        assert ws is not None
        started = time.perf_counter()
        log.info("changed: %s", ", ".join(sorted(p.name for p in changed)))
        try:
            if any(path.name == ws.config.path.name for path in changed):
                config = load_config(ws.config.path, ws.registry, state_dir=ws.config.state_dir)
                self.ws = replace(ws, config=config)
            self._collect_local()
            draft = self._render()
        except NewsletterError as exc:  # a bad config or source file: shown like a template error
            draft = self._failed(str(exc), started)
        except Exception as exc:  # whatever it is, the live preview carries on and says so
            log.debug("re-render failed", exc_info=True)
            draft = self._failed(f"unexpected {type(exc).__name__}: {exc}", started)
        return self._publish(draft)

    def _collect_local(self) -> None:
        """Re-read the offline sources, files the team edits (highlights, metrics files), and store them."""
        ws, month = self.ws, self.period
        assert ws is not None and month is not None
        results = refresh_local(ws, month)  # a failed one keeps the last good stored result
        self.local_failures = [{"name": r.name, "status": "failed", "error": f"{r.error} (showing the last good "
                                "version)"} for r in results if r.status == "failed"]

    def _render(self) -> Draft:
        ws, month = self.ws, self.period
        assert ws is not None and month is not None
        started = time.perf_counter()
        try:
            # _collect_local has just read the local files
            newsletter, frozen = editions.draft(ws, month, refresh=False)
            sample = self.sample_recipient()
            edition = self._in_language(newsletter, sample, frozen)
            shown = Personalizer(edition).for_recipient(sample.fields()) if sample else edition
        except NewsletterError as exc:
            return self._failed(str(exc), started)
        stored = [{"name": r.name, "status": "partial", "error": "; ".join(r.warnings)} if r.status == "ok"
                  else {"name": r.name, "status": r.status, "error": r.error or ""}
                  for r in ws.store.results(month.label) if r.status != "ok" or r.partial]
        findings = [(f.level, f"{f.check}: {f.message}") for f in drafts.findings(ws, newsletter)]
        return Draft(self._next_version(), month.label, month.name, newsletter, shown, str(sample or ""),
                     sources=stored + self.local_failures, findings=findings,
                     headers=self._headers(shown, sample), review=self._review(newsletter),
                     render_ms=(time.perf_counter() - started) * 1000, frozen=frozen,
                     quotes=preview_quotes.candidates(ws, month),
                     language=edition.language or ws.config.newsletter.language)

    def _in_language(self, newsletter: Newsletter, sample: mailing.SampleRecipient | None,
                     frozen: str | None = None) -> Newsletter:
        """The edition to show: in the switch's language (composed for the page when no one reads it),
        else in the sample person's, as they get it. A frozen edition shows only what went out."""
        assert self.ws is not None and self.period is not None
        if not self.language:
            return newsletter.in_language(sample.recipient.fields.get("language") if sample else None)
        wanted = i18n.catalog_language(self.language)
        if frozen or any(i18n.catalog_language(e.language or self.ws.config.newsletter.language) == wanted
               for e in newsletter.editions):
            return newsletter.in_language(wanted)
        return drafts.compose(self.ws, self.period, refresh=False, language=wanted)

    def choose_language(self, language: str) -> str:
        """The language switch: show the draft in `language` (UsageError when it has no catalog)."""
        if problem := i18n.without_catalog(language):
            raise UsageError(problem)
        return self.call(self._choose_language, i18n.catalog_language(language))

    def _choose_language(self, language: str) -> str:
        self.language = language
        self._publish(self._render())
        return f"showing the draft in {language}"

    def sample_recipient(self) -> mailing.SampleRecipient | None:
        """The workspace's sample person, read again only when the recipients file or `to` changed."""
        assert self.ws is not None
        d = self.ws.config.delivery
        try:
            stat = d.recipients.stat() if d.recipients is not None else None
        except OSError:
            stat = None  # reading it says what is wrong
        key = (d.recipients, stat and (stat.st_mtime_ns, stat.st_size, stat.st_ino), tuple(d.to))
        if self._sample is None or self._sample[0] != key:
            self._sample = (key, mailing.sample_recipient(self.ws.config))
        return self._sample[1]

    def _failed(self, message: str, started: float) -> Draft:
        assert self.period is not None
        line, excerpt = error_excerpt(message)
        last = self._draft
        log.warning("%s", message)
        return Draft(self._next_version(), self.period.label, self.period.name,
                     last.newsletter if last else None, last.shown if last else None, last.recipient if last else "",
                     error=message, excerpt=excerpt, error_line=line,
                     sources=last.sources if last else [], findings=last.findings if last else [],
                     headers=last.headers if last else [], review=last.review if last else {},
                     render_ms=(time.perf_counter() - started) * 1000, frozen=last.frozen if last else None,
                     quotes=last.quotes if last else [])

    def _next_version(self) -> int:
        return (self._draft.version + 1) if self._draft else 1

    def _headers(self, shown: Newsletter, sample: mailing.SampleRecipient | None) -> list[tuple[str, str]]:
        """The headers of the message the sample person gets (each person and list gets one of their own)."""
        from newsletter.delivery.message import build_message

        assert self.ws is not None
        message = build_message(shown, mailing.envelope(self.ws.config), sample.recipient if sample else NOBODY)
        return [(k, str(v) if sample or k != "To" else "(nobody: delivery.to and delivery.recipients are empty)")
                for k, v in message.items() if k.lower() not in HIDDEN_HEADERS]

    def _review(self, newsletter: Newsletter) -> dict[str, Any]:
        """Approval state of exactly this content, for the Approve panel."""
        assert self.ws is not None
        store, month = self.ws.store, newsletter.month
        edition = store.edition(month)
        exact = approval.find(store, month, newsletter.content_hash)
        earlier = approval.latest(store, month)
        return {
            "required": self.ws.config.delivery.require_approval,
            "edition_status": edition.status if edition else None,
            # an approval can still change what goes out: nobody has the edition yet
            "open": not (edition and edition.status == "sent") and editions.frozen(self.ws, self.period) is None,
            "approved_by": exact.approved_by if exact else None,
            "approved_at": exact.approved_at if exact else None,
            "earlier": None if exact or not earlier else f"{earlier.approved_by} approved other content "
                                                         f"({earlier.short_hash}) at {earlier.approved_at}",
            "default_approver": approval.default_approver(),
            "command": approval.approve_command(self.ws, month, newsletter.content_hash),
            "sends": approval.what_sends(store, month) if edition and edition.status == "skipped" else None,
        }

    def approve(self, by: str, content_hash: str) -> str:
        return self.call(self._approve, by, content_hash)

    def _approve(self, by: str, content_hash: str) -> str:
        draft, ws = self.draft, self.ws
        assert ws is not None
        if draft.error or draft.newsletter is None:
            raise NewsletterError("the draft has an error; fix it before approving")
        approval.refuse_running(ws, draft.month)
        if draft.newsletter.content_hash != content_hash:
            raise NewsletterError("the draft changed since the page showed it; look at it again")
        if not self._review(draft.newsletter)["open"]:  # asked now: a run may have started since the page loaded
            edition = ws.store.edition(draft.month)
            state = "sent" if edition and edition.status == "sent" else "frozen (it has gone out to someone)"
            raise NewsletterError(f"edition {draft.month} is {state}; approving it changes nothing now")
        record = approval.approve(ws.store, draft.newsletter, by, expected_hash=content_hash)
        self._publish(replace(draft, version=self._next_version(), review=self._review(draft.newsletter)))
        return f"approved by {record.approved_by} ({record.short_hash}); {approval.what_sends(ws.store, draft.month)}"

    def pick_quote(self, chosen: str) -> str:
        """Add the candidate `chosen` to the month's highlights file, then show the edition with it."""
        return self.call(self._pick_quote, chosen)

    def _pick_quote(self, chosen: str) -> str:
        assert self.ws is not None and self.period is not None
        path, message = preview_quotes.pick(self.ws, self.period, chosen)
        self._reload({path})
        return message

    def send_test(self, to: str) -> str:
        """Through the configured transport, outside the ledger: the real send still reaches everyone."""
        draft, ws = self.draft, self.ws
        assert ws is not None
        if draft.error or draft.newsletter is None:
            raise NewsletterError("the draft has an error; fix it before sending a test")
        return mailing.send_test(ws, draft.newsletter, to)

    # what to watch -----------------------------------------------------------------------------
    def watched(self) -> tuple[list[Path], list[Path]]:
        """Folders watched recursively (templates, sources, highlights) and files watched on their own
        (the config, the recipients file), as the config names them now."""
        assert self.ws is not None
        config = self.ws.config  # not the Theme: it fails while its folder is away (a checkout)
        folders = {config.newsletter.templates, builtin_theme(), config.newsletter.sources}
        folders |= {s.settings.dir for s in config.sources if s.type == "highlights"}
        files = [config.path] + ([config.delivery.recipients] if config.delivery.recipients is not None else [])
        return sorted(p for p in folders if p.is_dir()), files


def watch(previewer: Previewer, stop: threading.Event) -> list[threading.Thread]:
    """Watch the files the draft is made of; no polling. Without watchfiles the preview still serves."""
    try:
        import watchfiles
    except ImportError:
        log.warning("live reload is off: it needs watchfiles (the `preview` extra: pip install watchfiles)")
        return []

    def targets(recursive: bool) -> tuple[tuple[Path, ...], frozenset[str] | None]:
        """The folders to watch and the names of the files that count in them (None: every one)."""
        folders, files = previewer.watched()
        if recursive:
            return tuple(folders), None
        return tuple(sorted({f.parent for f in files if f.parent.is_dir()})), frozenset(f.name for f in files)

    def identity(watching: tuple[Path, ...]) -> tuple[int | None, ...]:
        """Each folder's inode: a folder deleted and made again between two looks is another one."""
        def inode(path: Path) -> int | None:
            try:
                return path.stat().st_ino
            except OSError:
                return None
        return tuple(inode(p) for p in watching)

    def loop(recursive: bool) -> None:
        """Watched again whenever the config names other folders or files, or a watched folder is
        deleted (watchfiles then stops watching it, or altogether); the draft is rendered again then,
        since what changed while nothing watched was not seen."""
        first = True
        while not stop.is_set():
            try:
                wanted = targets(recursive)
                folders, only = wanted
                if not first and folders:
                    previewer.reload(set(folders) if only is None else {Path(name) for name in only})
                first, made = False, identity(folders)
                for changes in watchfiles.watch(*folders, recursive=recursive, stop_event=stop, step=30,
                                                debounce=400, rust_timeout=1000, yield_on_timeout=True,
                                                raise_interrupt=False, ignore_permission_denied=True
                                                ) if folders else ():
                    paths = {Path(p) for _, p in changes}
                    if only is not None:
                        paths = {p for p in paths if p.name in only}
                    if paths:
                        previewer.reload(paths)
                    if targets(recursive) != wanted or identity(folders) != made:
                        break
            except Exception as exc:  # a folder gone between the look and the watch: watched again
                log.debug("watching again: %s", exc, exc_info=True)
            stop.wait(0.5)

    threads = [threading.Thread(target=loop, args=(True,), daemon=True, name="watch-files"),
               threading.Thread(target=loop, args=(False,), daemon=True, name="watch-config")]
    for thread in threads:
        thread.start()
    return threads
