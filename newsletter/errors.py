"""Errors a person can act on, each with the exit code the CLI documents.

Exit codes: 0 done, 1 failed, 2 bad config/template/usage, 3 nothing to do or waiting.
"""

from __future__ import annotations


class NewsletterError(Exception):
    """Base class: the message is shown as one line, without a traceback."""

    exit_code = 1


class ConfigError(NewsletterError):
    """A configuration file, key or value is wrong; names the file and key."""

    exit_code = 2


class TemplateError(NewsletterError):
    """A template failed to load or render; message is `template:line: message`."""

    exit_code = 2


class UsageError(NewsletterError):
    """A value given on the command line or in the preview's form is wrong; names it."""

    exit_code = 2


class NothingToDo(NewsletterError):
    """Nothing to do (already sent, waiting for approval, another run holds the lock)."""

    exit_code = 3


class LockHeld(NothingToDo):
    """Another run holds the state directory's lock. Exit 3 like any wait, but said even under `-q`:
    cron mails what a quiet run prints, and this is the one wait someone may have to look into."""


class DeliveryError(NewsletterError):
    """Sending stopped (transport unreachable, too many errors)."""

    exit_code = 1


class SourceError(NewsletterError):
    """Raised inside a collector; becomes a failed SourceResult, never a crash."""


class SourceSkipped(NewsletterError):
    """Raised inside a collector when its month has nothing to report (no highlights written for
    it, no row of a metrics file): the source is skipped, not failed, and the message says why."""
