"""Who gets the edition: distribution lists (`delivery.to`) and people from a recipients CSV.

Each address gets one message. The CSV has a header row with at least `email`; `name` and any
other columns are the person's fields, available to templates as `recipient`. An invalid or
repeated address is reported with its file and line, and skipped: never sent, never guessed at.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path

from newsletter.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str = ""
    fields: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        """The ledger's name for this person: the address in lower case, so that a list that changes
        an address's case between runs never sends that person a second copy."""
        return self.email.lower()

    def context(self, columns: Iterable[str] = ()) -> dict[str, str]:
        """What templates see as `recipient`: every CSV column (empty when a list address has none)."""
        return {**dict.fromkeys(columns, ""), **self.fields, "email": self.email, "name": self.name}


@dataclass
class RecipientList:
    recipients: list[Recipient]
    skipped: list[str] = field(default_factory=list)  # "file:line: why", for the report

    def __len__(self) -> int:
        return len(self.recipients)

    @property
    def columns(self) -> list[str]:
        return sorted({key for r in self.recipients for key in r.fields})

    def by_key(self) -> dict[str, Recipient]:
        return {r.key: r for r in self.recipients}


def valid_address(value: str) -> str | None:
    """Why `value` is not a usable single address, or None when it is."""
    if any(c in value for c in "\r\n\0") or "\u2028" in value or "\u2029" in value:
        return "contains a line break or NUL"
    if not value or value != value.strip() or "@" not in value or value.count("@") != 1:
        return "is not an email address"
    if not value.isascii():
        return "has non-ASCII characters (internationalized addresses need SMTPUTF8, not supported)"
    try:
        Address(addr_spec=value)
    except (ValueError, IndexError):
        return "is not an email address"
    local, _, domain = value.partition("@")
    if not local or "." not in domain or domain.startswith(".") or domain.endswith("."):
        return "is not an email address"
    return None


def load_recipients(to: Iterable[str], csv_path: Path | None) -> RecipientList:
    """Lists first, then the CSV's people; the first occurrence of an address wins."""
    result = RecipientList([])
    seen: dict[str, str] = {}
    entries = [(f"delivery.to[{i}]", *_list_entry(v)) for i, v in enumerate(to)]
    candidates: Iterable[tuple[str, str, str, dict[str, str]]] = entries
    if csv_path is not None:
        candidates = [*entries, *_read_csv(csv_path)]
    for where, email, name, fields in candidates:
        problem = valid_address(email)
        if problem:
            result.skipped.append(f"{where}: {email!r} {problem}; skipped")
            continue
        recipient = Recipient(email, name, fields)
        if recipient.key in seen:
            result.skipped.append(f"{where}: {email} is a duplicate of {seen[recipient.key]}; skipped")
            continue
        seen[recipient.key] = where
        result.recipients.append(recipient)
    for line in result.skipped:
        log.warning("%s", line)
    return result


def _list_entry(value: str) -> tuple[str, str, dict[str, str]]:
    name, address = parseaddr(value)
    return (address or value, name, {})


def _read_csv(path: Path) -> Iterator[tuple[str, str, str, dict[str, str]]]:
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the recipients file ({exc.strerror}); "
                          "check delivery.recipients") from None
    with handle:
        reader = csv.DictReader(handle)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        if "email" not in columns:
            raise ConfigError(f"{path}: the first row must name the columns, one of them 'email' "
                              f"(found: {', '.join(columns) or 'nothing'})")
        reader.fieldnames = columns
        try:
            for row in reader:
                fields = {k: (v or "").strip() for k, v in row.items() if k and k.isidentifier()}
                email = fields.pop("email", "")
                yield f"{path.name}:{reader.line_num}", email, fields.pop("name", ""), fields
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}:{reader.line_num}: not a readable CSV file ({exc})") from None
