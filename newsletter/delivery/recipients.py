"""Who gets the edition: distribution lists (`delivery.to`), people from a recipients CSV, and the
members of a directory group (`[delivery.directory]`, read once per send: directories/).

Each address gets one message. The CSV has a header row with at least `email`; `name` and any
other columns are the person's fields, available to templates as `recipient`. An invalid or
repeated address is reported with its file and the line its row starts on, and skipped: never
sent, never guessed at, and never the end of the edition for everyone else (addresses.py).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.delivery.addresses import check_address
from newsletter.errors import ConfigError

if TYPE_CHECKING:
    from newsletter.delivery.directories.base import Roster
    from newsletter.delivery.directories.registry import DirectoryConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str = ""
    fields: dict[str, str] = field(default_factory=dict, compare=False)
    where: str = field(default="", compare=False)  # "people.csv:12" or "delivery.to[0]", for messages

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
    roster: Roster | None = None  # the directory's reading, when one is configured (for `check`)

    def __len__(self) -> int:
        return len(self.recipients)

    @property
    def columns(self) -> list[str]:
        return sorted({key for r in self.recipients for key in r.fields})

    def by_key(self) -> dict[str, Recipient]:
        return {r.key: r for r in self.recipients}


def known_columns(people: RecipientList | None, directory: DirectoryConfig | None) -> list[str]:
    """The per-person fields of a sample or test person (empty when unknown): the recipients file's
    columns and the directory's fields, which are known without reading the directory."""
    return sorted({*(people.columns if people else []), *(directory.fields if directory else [])})


def load_recipients(to: Iterable[str], csv_path: Path | None, directory: DirectoryConfig | None = None
                    ) -> RecipientList:
    """Lists first, then the CSV's people, then the directory's members, read now (the network; it
    raises DirectoryError when the directory cannot be read whole). The first occurrence of an
    address wins; a member without an address is skipped and named, like a bad CSV row."""
    roster = _read(directory) if directory is not None else None
    result = RecipientList([], roster=roster)
    seen: dict[str, str] = {}
    # a list may be written "All Staff <all@example.com>"; a row's email column is the address alone
    entries = [(f"delivery.to[{i}]", v, "", {}, True) for i, v in enumerate(to)]
    candidates: Iterable[tuple[str, str, str, dict[str, str], bool]] = entries
    if csv_path is not None:
        candidates = [*entries, *((*row, False) for row in _read_csv(csv_path))]
    if roster is not None:
        result.skipped += [f"delivery.directory: {m.id}: no email address in the directory; skipped"
                           for m in roster.without_address]
        members = [(f"delivery.directory: {m.id}", m.email, m.name, m.fields, False)
                   for m in roster.members if m.email.strip()]
        candidates = [*candidates, *members]
    for where, value, name, fields, named in candidates:
        checked = check_address(value, named=named)
        if not checked.ok:
            result.skipped.append(f"{where}: {value!r} {checked.reason}; skipped")
            continue
        recipient = Recipient(checked.address, name or checked.name, fields, where)
        if recipient.key in seen:
            result.skipped.append(f"{where}: {recipient.email} is a duplicate of {seen[recipient.key]}; skipped")
            continue
        seen[recipient.key] = where
        result.recipients.append(recipient)
    for line in result.skipped:
        log.warning("%s", line)
    return result


def languages_of(csv_path: Path) -> list[str]:
    """The `language` column's values of a recipients file, in order of appearance, without warnings
    (the send reads the file whole, and names bad rows then)."""
    found: dict[str, None] = {}
    for _where, _email, _name, fields in _read_csv(csv_path):
        if fields.get("language", "").strip():
            found.setdefault(fields["language"].strip())
    return list(found)


def _read(directory: DirectoryConfig) -> Roster:
    from newsletter.delivery.directories.base import read_roster

    return read_roster(directory.open())


def _read_csv(path: Path) -> Iterator[tuple[str, str, str, dict[str, str]]]:
    """(where, email, name, other fields) per row; `where` names the line the row starts on."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the recipients file ({exc.strerror}); "
                          "check delivery.recipients") from None
    with handle:
        reader = csv.reader(handle, strict=True)  # a quote never closed is an error, not the rest of the file
        try:
            columns = [c.strip().lower() for c in next(reader, [])]
            if "email" not in columns:
                raise ConfigError(f"{path}: the first row must name the columns, one of them 'email' "
                                  f"(found: {', '.join(columns) or 'nothing'})")
            twice = sorted({c for c in columns if c and columns.count(c) > 1})
            if twice:  # which of the two would be the address, the name?
                raise ConfigError(f"{path}: the first row names the column {twice[0]!r} twice; keep one, or rename "
                                  "the other")
            start = reader.line_num + 1
            for row in reader:
                if row:  # a blank line is no row
                    fields = {k: v.strip() for k, v in zip(columns, row, strict=False) if k and k.isidentifier()}
                    email = fields.pop("email", "")
                    yield f"{path.name}:{start}", email, fields.pop("name", ""), fields
                start = reader.line_num + 1
        except csv.Error as exc:
            raise ConfigError(f"{path}:{reader.line_num}: not a readable CSV file ({exc})") from None
        except UnicodeDecodeError:  # read ahead in blocks: the reader's line is not where the byte is
            raise ConfigError(f"{path}:{_undecodable_line(path)}: not UTF-8 text; save the file as UTF-8 "
                              "(Excel: CSV UTF-8)") from None


def _undecodable_line(path: Path) -> int:
    """The line of the first byte of `path` that is not UTF-8."""
    data = path.read_bytes()
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return data.count(b"\n", 0, exc.start) + 1
    return 0
