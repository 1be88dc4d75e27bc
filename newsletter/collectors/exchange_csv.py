"""Exchange Online's mail flow status report, as a CSV file exported with PowerShell.

For Microsoft 365 tenants without Defender hunting: `Get-MailflowStatusReport` is PowerShell only,
so an admin (or a scheduled task) exports it and this collector reads the file:

    Get-MailflowStatusReport -StartDate 2026-10-01 -EndDate 2026-10-31 -Direction Inbound |
      Export-Csv -NoTypeInformation -Encoding utf8 mailflow.csv

Rows are days (Microsoft's days, in UTC) with `Date, Direction, EventType, MessageCount` (older
exports and other tools say `Count`; names match in any case, see COLUMNS). Event types map
to metrics: EdgeBlockSpam and SpamDetections are spam, EmailPhish phishing, EmailMalware malware;
every inbound row counts as scanned. A month that the file covers only in part says so.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from newsletter.collectors.base import Collector
from newsletter.errors import ConfigError, SourceError
from newsletter.period import Month
from newsletter.results import MailStats

EVENTS = {"EdgeBlockSpam": "spam", "SpamDetections": "spam", "EmailPhish": "phishing",
          "EmailMalware": "malware", "GoodMail": "good", "TransportRules": "rules"}
DATE_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d")
# Each field the collector reads, and the column names that carry it: the cmdlet's objects call the
# number MessageCount (scripts in the wild read MessageCount, then Count). Matched without regard to
# case, spaces or underscores ("Event Type", "messagecount"); other columns (Organization, Domain,
# StartDate, EndDate, Index, PSComputerName, ...) are ignored.
COLUMNS = {"Date": ("Date",), "Direction": ("Direction",), "EventType": ("EventType",),
           "Count": ("MessageCount", "Count")}
# read when present: the report has one row per date, direction and event type of each tenant and
# domain, so two rows alike in all of these are one report exported twice into the file
KEY_COLUMNS = {"Domain": ("Domain",), "Organization": ("Organization",)}
MAX_FILE_BYTES = 64 * 2**20  # 31 days of every event type for a thousand domains is about 30 MB
DELIMITERS = (",", ";", "\t")  # Export-Csv's default, -UseCulture in much of Europe, a spreadsheet's tab


@dataclass(frozen=True)
class ExchangeCsvSettings:
    path: Path  # the exported CSV, relative to this source file
    directions: list[str] = field(default_factory=lambda: ["Inbound"])
    date_format: str | None = None  # strptime format for non-US exports, e.g. "%d.%m.%Y %H:%M:%S"


class ExchangeCsv(Collector):
    """Counts from a Get-MailflowStatusReport CSV export."""

    type = "exchange_csv"
    kind = "mail_security"
    offline = True  # a local file: read again whenever a draft is composed
    Settings = ExchangeCsvSettings

    def validate(self) -> None:
        if self.settings.path.is_dir():
            raise ConfigError(f"source {self.name}: path: {self.settings.path} is a folder; name the CSV file")
        if not self.settings.directions:
            raise ConfigError(f"source {self.name}: directions: name at least one, e.g. [\"Inbound\"]")

    def collect(self, month: Month) -> MailStats:
        rows = self.rows()
        wanted = {d.lower() for d in self.settings.directions}
        totals: Counter[str] = Counter()
        days: set[date] = set()
        unknown: set[str] = set()
        seen: dict[tuple[str, ...], tuple[int, int]] = {}  # a row's key -> (its line, its count)
        repeated: list[int] = []  # lines of the first rows that rows further down repeat
        for line, row in rows:
            day = self.parse_date(row["Date"], line)
            if not (month.first_day <= day < month.next().first_day) or row["Direction"].lower() not in wanted:
                continue
            event = row["EventType"]
            count = _count(row["Count"], self.settings.path, line)
            key = (row["Date"], row["Direction"].lower(), _squash(event),
                   *(row.get(name, "").lower() for name in KEY_COLUMNS))
            if key in seen:
                first, before = seen[key]
                if before != count:
                    raise SourceError(
                        f"{self.settings.path}:{line}: {row['Date']} {row['Direction']} {event} counts {count} here "
                        f"but {before} at line {first}: the report is in the file twice (exports that overlap?); "
                        "export the month once, into a file of its own")
                repeated.append(first)
                continue
            seen[key] = (line, count)
            days.add(day)
            metric = EVENT_METRICS.get(_squash(event), "other")
            totals["scanned"] += count
            totals[metric] += count
            if metric == "other":
                unknown.add(event)
        if not days:
            raise SourceError(
                f"{self.settings.path} has no {'/'.join(self.settings.directions)} rows for {month}; export it with "
                f"Get-MailflowStatusReport -StartDate {month.first_day} -EndDate {month.days_iter()[-1]}")
        return self.stats(totals, days, unknown, month, repeated)

    def stats(self, totals: Counter[str], days: set[date], unknown: set[str], month: Month,
              repeated: list[int]) -> MailStats:
        warnings = []
        if repeated:
            warnings.append(f"{self.settings.path.name}: {len(repeated)} rows repeat an earlier row (the same date, "
                            f"direction, event type and domain; the first from line {min(repeated)}) and are "
                            "counted once")
        if len(days) < month.days:
            warnings.append(f"{self.settings.path.name} covers {len(days)} of the {month.days} days of {month}")
        if unknown:
            warnings.append("event types counted as scanned only: " + ", ".join(sorted(unknown)))
        # an export narrowed with -EventType to the threats: their total is not the mail scanned
        scanned = totals["scanned"] if "good" in totals else None
        if scanned is None:
            warnings.append(f"{self.settings.path.name} has no GoodMail rows, so the messages scanned are unknown; "
                            "export every event type (no -EventType)")
        blocked = totals["spam"] + totals["phishing"] + totals["malware"]
        return MailStats(scanned=scanned, spam=totals["spam"], phishing=totals["phishing"],
                         malware=totals["malware"], blocked_total=blocked, partial=len(days) < month.days,
                         warnings=tuple(warnings), covered_days=len(days) if len(days) < month.days else None)

    def rows(self) -> list[tuple[int, dict[str, str]]]:
        """(line number, {"Date", "Direction", "EventType", "Count"}) for every row of the export."""
        path = self.settings.path
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:  # read whole at every draft: a log picked by mistake would hold every run
                raise SourceError(f"{path}: {size // 2**20:,} MB is far more than a month's mail flow export (a few "
                                  "hundred KB); check path")
            raw = path.read_bytes()
        except OSError as exc:
            raise SourceError(f"{path}: cannot read the mail flow export ({exc.strerror})") from None
        lines = _decode(raw, path).splitlines()
        skip = 1 if lines and lines[0].startswith("#TYPE") else 0  # Windows PowerShell's type line
        header = lines[skip] if len(lines) > skip else ""
        delimiter = max(DELIMITERS, key=header.count)
        reader = csv.reader(io.StringIO("\n".join(lines[skip:])), delimiter=delimiter)
        try:  # a cell past the csv module's limit (128 KiB) is no export of the cmdlet's
            found = next(reader, [])
            where = _columns(found, path)
            return [(number + skip + 2, {key: (values[at] if at < len(values) else "").strip()
                                         for key, at in where.items()})
                    for number, values in enumerate(reader) if any(v.strip() for v in values)]
        except csv.Error as exc:
            raise SourceError(f"{path}:{reader.line_num + skip}: cannot read the row ({exc}); export the report "
                              "again with Export-Csv") from None

    def parse_date(self, text: str, line: int) -> date:
        formats = (self.settings.date_format,) if self.settings.date_format else DATE_FORMATS
        value = (text or "").strip()
        for fmt in formats:
            try:
                return datetime.strptime(value, fmt).date()
            except ValueError:
                continue
        try:
            return datetime.fromisoformat(value).date()
        except ValueError:
            raise SourceError(f"{self.settings.path}:{line}: cannot read the date {value!r}; set date_format "
                              "(e.g. \"%d.%m.%Y %H:%M:%S\") to the export's format") from None


def _columns(found: list[str], path: Path) -> dict[str, int]:
    """Where each field the collector reads is, by the names the cmdlet's output uses; else a clear error."""
    positions = {_squash(name): at for at, name in reversed(list(enumerate(found)))}
    where, missing = {}, []
    for key, names in COLUMNS.items():
        at = next((positions[_squash(n)] for n in names if _squash(n) in positions), None)
        if at is None:
            missing.append(" (or ".join(names) + ")" * (len(names) - 1))
        else:
            where[key] = at
    where.update({key: positions[_squash(names[0])] for key, names in KEY_COLUMNS.items()
                  if _squash(names[0]) in positions})
    if missing:
        shown = [name.strip()[:40] for name in found if name.strip()][:15]
        columns = f"the columns found: {', '.join(shown)}" if shown else "no columns found (is the file empty?)"
        raise SourceError(f"{path}: not a Get-MailflowStatusReport export: no column {', '.join(missing)}; {columns}")
    return where


def _squash(name: str) -> str:
    """'Event Type', 'event_type' and 'EVENTTYPE' are one column name; 'edgeblockspam' is EdgeBlockSpam."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


# the event types as _squash writes them: a tool's "edgeblockspam" or "Email Phish" is still spam, phishing
EVENT_METRICS = {_squash(event): metric for event, metric in EVENTS.items()}


def _decode(raw: bytes, path: Path) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    sample = raw[:4096]  # text of the export is ASCII almost throughout: UTF-16 puts a NUL beside each character
    if b"\x00" in sample and max(sample[0::2].count(0), sample[1::2].count(0)) > len(sample) // 4:
        raise SourceError(f"{path}: UTF-16 text without a byte-order mark; export it with Export-Csv "
                          "-NoTypeInformation -Encoding utf8 (or save it as UTF-8)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SourceError(f"{path}: not UTF-8 or UTF-16 text; export with -Encoding utf8") from None


def _count(text: str, path: Path, line: int) -> int:
    """A day's message count: a whole number of at least 0 (a negative one is no count of messages)."""
    try:
        count = int((text or "").strip().replace(",", ""))
    except ValueError:
        count = -1
    if count < 0:
        raise SourceError(f"{path}:{line}: Count {text[:40]!r} is not a whole number of messages")
    return count
