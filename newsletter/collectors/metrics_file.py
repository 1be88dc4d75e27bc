"""Numbers no API holds (laptops rolled out, trainings given, phishing-test click rate), from a file.

A CSV with the header `month,name,value,label` (optional columns `unit` and `better`), or a TOML
file of `[[metric]]` tables with the same keys. One row per metric and month; the composer gets
each month's values as `metrics.<name>` with their history from the store.
"""

from __future__ import annotations

import csv
import io
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsletter.collectors.base import Collector
from newsletter.errors import ConfigError, SourceSkipped
from newsletter.period import Month
from newsletter.results import UNITS, CustomMetrics, CustomValue

COLUMNS = ("month", "name", "value", "label")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_BYTES = 8 * 2**20  # years of monthly values are a few hundred KB: a larger file is another file
_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d*)?$")


@dataclass(frozen=True)
class MetricsFileSettings:
    file: Path


@dataclass(frozen=True)
class Row:
    month: str
    name: str
    value: float | None  # an empty value is unknown, never zero
    label: str
    unit: str = "count"
    better: str = ""  # "higher", "lower" or "" (a change is neither good nor bad)


class MetricsFile(Collector):
    """Reads a CSV or TOML file of monthly values; a month without rows is skipped, not failed."""

    type = "metrics_file"
    kind = "custom"
    offline = True  # a local file: read again whenever a draft is composed
    Settings = MetricsFileSettings

    def validate(self) -> None:
        if self.settings.file.suffix.lower() not in (".csv", ".toml"):
            raise ConfigError(f"source {self.name}: file {self.settings.file} must end in .csv or .toml")

    def check_content(self) -> None:
        self.rows()

    def check_names(self, source: Any, others: dict[tuple[str, str], tuple[Any, MetricsFile]]) -> None:
        """Refuse a metric another metrics_file source (`others`: (month, name) -> its source and
        collector, filled here) also gives for the same month: a template's `metrics.<name>` holds
        only one number. Months apart (one file a year) are fine."""
        for row in self.rows():
            other, collector = others.setdefault((row.month, row.name), (source, self))
            if collector is not self:
                raise ConfigError(f"{source.file}: metric {row.name} for {row.month} in {self.settings.file} is also "
                                  f"in {collector.settings.file} ({other.file}); metrics.{row.name} can show only "
                                  "one of them: rename it in one of the files")

    def collect(self, month: Month) -> CustomMetrics:
        rows = [row for row in self.rows() if row.month == month.label]
        if not rows:
            raise SourceSkipped(f"no values for {month} in {self.settings.file}")
        return CustomMetrics({row.name: CustomValue(row.value, row.label, row.unit, row.better) for row in rows})

    def rows(self) -> list[Row]:
        """Every row of the file, checked; ConfigError names the file, the row and what to fix."""
        path: Path = self.settings.file
        if path.exists() and not path.is_file():  # a pipe or a device would be read forever
            raise ConfigError(f"source {self.name}: file: {path} is not a regular file")
        try:
            with path.open("rb") as file:
                data = file.read(MAX_BYTES + 1)
            if len(data) > MAX_BYTES:
                raise ConfigError(f"source {self.name}: file: {path} is {path.stat().st_size / 2**20:.3g} MB, far "
                                  f"more than a file of monthly values (at most {MAX_BYTES // 2**20} MB); is it the "
                                  "right file?")
            text = data.decode("utf-8-sig")  # Excel's "CSV UTF-8" begins with a byte order mark
        except UnicodeDecodeError as exc:  # Excel's plain "CSV" is the Windows code page
            line = data.count(b"\n", 0, exc.start) + 1
            raise ConfigError(f"{path}: not UTF-8 at byte {exc.start} (line {line}): save it as UTF-8 "
                              "(in Excel: CSV UTF-8)") from None
        except OSError as exc:
            raise ConfigError(f"source {self.name}: cannot read {path} ({exc})") from None
        if path.suffix.lower() == ".csv":
            records = _csv_records(text, path)
        elif path.suffix.lower() == ".toml":
            records = _toml_records(text, path)
        else:
            raise ConfigError(f"source {self.name}: file {path} must end in .csv or .toml")
        rows, seen = [], set()
        for where, record in records:
            row = _row(record, f"{path}:{where}")
            if (row.month, row.name) in seen:
                raise ConfigError(f"{path}:{where}: {row.name} for {row.month} is given twice")
            seen.add((row.month, row.name))
            rows.append(row)
        return rows


def _csv_records(text: str, path: Path) -> list[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))  # a quoted cell may hold a line break
    try:
        return _checked_rows(reader, path)
    except csv.Error as exc:  # a cell over csv's field size limit
        raise ConfigError(f"{path}:line {reader.line_num + 1}: not a CSV row that can be read ({exc})") from None


def _checked_rows(reader: csv.DictReader, path: Path) -> list[tuple[str, dict[str, Any]]]:
    header = [name.strip() for name in reader.fieldnames or []]  # "month, name, value": the spaces are no part
    reader.fieldnames = header
    missing = [c for c in COLUMNS if c not in header]
    if missing and len(header) == 1 and ";" in header[0]:
        raise ConfigError(f"{path}:1: the columns are separated by ';': separate them with commas "
                          f"({','.join(COLUMNS)}), and write decimals with a point (98.5)")
    if missing:
        raise ConfigError(f"{path}:1: header needs the columns {', '.join(COLUMNS)} (missing: {', '.join(missing)})")
    twice = next((c for c in header if header.count(c) > 1), None)
    if twice is not None:
        raise ConfigError(f"{path}:1: the column {twice} is in the header twice; keep one")
    records = []
    for record in reader:
        if None in record:  # more fields than columns: csv keeps the rest under None
            raise ConfigError(f"{path}:line {reader.line_num}: {len(header) + len(record[None])} fields where the "
                              f"header has {len(header)} columns; put a value with a comma in double quotes")
        records.append((f"line {reader.line_num}", dict(record)))
    return records


def _toml_records(text: str, path: Path) -> list[tuple[str, dict[str, Any]]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    metrics = data.get("metric", [])
    if (not isinstance(metrics, list) or not all(isinstance(m, dict) for m in metrics)
            or set(data) - {"metric"}):
        raise ConfigError(f"{path}: expected only [[metric]] tables with keys {', '.join(COLUMNS)}")
    return [(f"metric {number}", record) for number, record in enumerate(metrics, start=1)]


def _row(record: dict[str, Any], where: str) -> Row:
    unknown = set(record) - {*COLUMNS, "unit", "better"}
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}; expected {', '.join(COLUMNS)}, unit, better")
    month, name = str(record.get("month") or "").strip(), str(record.get("name") or "").strip()
    label, unit = " ".join(str(record.get("label") or "").split()), str(record.get("unit") or "count").strip()
    better = str(record.get("better") or "").strip()
    if not _MONTH.match(month):
        raise ConfigError(f"{where}: month {month!r}: expected YYYY-MM")
    if not _NAME.match(name):
        raise ConfigError(f"{where}: name {name!r}: expected lower-case letters, digits and _ (laptops_rolled_out)")
    if not label:
        raise ConfigError(f"{where}: label: missing; write what the number counts (Laptops rolled out)")
    if unit not in UNITS:
        raise ConfigError(f"{where}: unit {unit!r}: expected one of {', '.join(UNITS)}")
    if better not in ("", "higher", "lower"):
        raise ConfigError(f"{where}: better {better!r}: expected higher, lower or nothing")
    value = _number(record.get("value"), where)
    if value is not None and unit == "pct" and not 0 <= value <= 100:
        raise ConfigError(f"{where}: value {value:g} (pct): expected a share from 0 to 100 (4.1 for 4.1 %)")
    if value is not None and unit == "duration" and value < 0:
        raise ConfigError(f"{where}: value {value:g} (duration): expected seconds, 0 or more")
    return Row(month, name, value, label, unit, better)


def _number(value: Any, where: str) -> float | None:
    """A finite number; a comma only as a thousands separator (1,234), so a decimal comma (98,5) is
    refused rather than read as 985."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = value.strip() if isinstance(value, str) else ""
    if isinstance(value, str) and "," in text and not _THOUSANDS.match(text):
        raise ConfigError(f"{where}: value {value!r}: expected a number (a comma only between thousands: "
                          "1,234; a decimal point: 98.5)")
    try:
        number = float(text.replace(",", "")) if isinstance(value, str) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
    except (ValueError, OverflowError):  # OverflowError: a TOML integer past what a float holds
        number = None
    if number is None or not math.isfinite(number):
        raise ConfigError(f"{where}: value {value!r:.60}: expected a number, or nothing when unknown")
    return number
