"""The metrics_file source: CSV or TOML rows -> custom metrics with their history in templates."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from newsletter.collectors.metrics_file import MetricsFile, MetricsFileSettings
from newsletter.collectors.registry import CollectorRegistry
from newsletter.errors import ConfigError, SourceSkipped
from newsletter.period import Month
from newsletter.results import CustomValue

REPO = Path(__file__).resolve().parent.parent
OCTOBER = Month(2026, 10)


def collector(path: Path) -> MetricsFile:
    return MetricsFile(MetricsFileSettings(file=path), name="team-numbers")


def test_registered_through_the_entry_point():
    assert CollectorRegistry.from_entry_points().get("metrics_file") is MetricsFile


def test_csv_rows_for_the_month(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("month,name,value,label,unit,better\n2026-10,laptops,42,Laptops rolled out,,\n"
                    "2026-10,click_rate,4.1,Clicked the phishing test,pct,lower\n2026-10,trainings,,Trainings,,\n"
                    "2026-09,laptops,25,Laptops rolled out,,\n")
    c = collector(path)
    c.validate()
    stats = c.collect(OCTOBER)
    assert stats.values["laptops"] == CustomValue(42.0, "Laptops rolled out", "count", "")
    assert stats.metrics()["values"]["laptops"] == {"value": 42.0, "label": "Laptops rolled out", "unit": "count",
                                                    "better": ""}
    assert stats.values["click_rate"].better == "lower"
    assert stats.values["trainings"].value is None  # empty is unknown, never zero
    with pytest.raises(SourceSkipped, match=f"no values for 2026-01 in {path}"):
        c.collect(Month(2026, 1))


def test_toml_rows(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('[[metric]]\nmonth = "2026-10"\nname = "laptops"\nvalue = 42\nlabel = "Laptops"\n')
    assert collector(path).collect(OCTOBER).values["laptops"].value == 42


@pytest.mark.parametrize(("text", "message"), [
    ("month,name,value\n", "m.csv:1: header needs the columns month, name, value, label (missing: label)"),
    ("month,name,value,label\n2026-13,a,1,A\n", "m.csv:line 2: month '2026-13': expected YYYY-MM"),
    ("month,name,value,label\n2026-10,Laptops!,1,A\n", "name 'Laptops!': expected lower-case"),
    ("month,name,value,label\n2026-10,a,many,A\n", "line 2: value 'many': expected a number"),
    ("month,name,value,label\n2026-10,a,1,\n", "label: missing"),
    ("month,name,value,label,unit\n2026-10,a,1,A,kg\n", "unit 'kg': expected one of count, pct, duration"),
    ("month,name,value,label\n2026-10,a,1,A\n2026-10,a,2,A\n", "line 3: a for 2026-10 is given twice"),
])
def test_bad_rows_name_the_file_and_row(tmp_path, text, message):
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        collector(path).check_content()
    assert message in str(caught.value)


def test_missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        collector(tmp_path / "nope.csv").check_content()
    (tmp_path / "m.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"must end in \.csv or \.toml"):
        collector(tmp_path / "m.json").validate()


def test_custom_metrics_reach_templates_with_history(workspace, tmp_path):
    shutil.copy(REPO / "sources" / "examples" / "metrics_file.toml", workspace.root / "sources" / "metrics.toml")
    shutil.copy(REPO / "sources" / "examples" / "metrics.csv", workspace.root / "sources" / "metrics.csv")
    assert workspace.invoke("collect", "--month", "2026-10", "--backfill", "2").exit_code == 0
    out = tmp_path / "draft.txt"
    result = workspace.invoke("preview", "--month", "2026-10", "--format", "text", "--output", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "MORE FROM IT" in text
    assert "- Laptops rolled out: 42 (17 more than September)" in text
    assert "- Clicked the link in our phishing test: 4.1%" in text


@pytest.mark.parametrize("suffix", [".csv", ".toml"])
def test_a_file_saved_with_a_byte_order_mark_reads(tmp_path, suffix):
    """Excel's "CSV UTF-8" and some editors write a byte order mark first: it is no part of the header."""
    path = tmp_path / f"m{suffix}"
    text = ("month,name,value,label\n2026-10,laptops,42,Laptops\n" if suffix == ".csv" else
            '[[metric]]\nmonth = "2026-10"\nname = "laptops"\nvalue = 42\nlabel = "Laptops"\n')
    path.write_text("\ufeff" + text, encoding="utf-8")
    assert collector(path).collect(OCTOBER).values["laptops"].value == 42


@pytest.mark.parametrize(("value", "read"), [('"1,234"', 1234.0), ('"1,234,567.5"', 1234567.5), ("4.1", 4.1)])
def test_a_comma_is_read_as_a_thousands_separator(tmp_path, value, read):
    path = tmp_path / "m.csv"
    path.write_text(f"month,name,value,label\n2026-10,a,{value},A\n")
    assert collector(path).collect(OCTOBER).values["a"].value == read


@pytest.mark.parametrize(("suffix", "value", "message"), [
    (".csv", '"98,5"', "line 2: value '98,5': expected a number"),  # a decimal comma, not 985
    (".csv", '"1,23"', "line 2: value '1,23': expected a number"),
    (".csv", "NaN", "line 2: value 'NaN': expected a number"),
    (".csv", "inf", "line 2: value 'inf': expected a number"),
    (".toml", "nan", "metric 1: value nan: expected a number"),
    (".toml", "[1]", "metric 1: value [1]: expected a number"),
    (".toml", "{ n = 1 }", "metric 1: value {'n': 1}: expected a number"),
    (".toml", "1" + "0" * 400, "metric 1: value 1000"),  # past what a float holds
])
def test_a_value_that_is_no_number_names_the_row(tmp_path, suffix, value, message):
    path = tmp_path / f"m{suffix}"
    path.write_text(f"month,name,value,label\n2026-10,a,{value},A\n" if suffix == ".csv" else
                    f'[[metric]]\nmonth = "2026-10"\nname = "a"\nvalue = {value}\nlabel = "A"\n')
    with pytest.raises(ConfigError) as caught:
        collector(path).check_content()
    assert message in str(caught.value)


@pytest.mark.parametrize(("name", "text", "message"), [
    ("m.csv", "month,name,value,label\n2026-10,a,1,234,A\n",
     "m.csv:line 2: 5 fields where the header has 4 columns; put a value with a comma in double quotes"),
    ("m.csv", "month,name,value,label,notes\n2026-10,a,1,A,x,y\n", "m.csv:line 2: 6 fields where the header has 5"),
    ("m.csv", "month,name,value,label,value\n2026-10,a,1,A,2\n", "m.csv:1: the column value is in the header twice"),
    ("m.toml", "metric = [1, 2]\n", "m.toml: expected only [[metric]] tables"),
    ("m.toml", 'metric = ["2026-10"]\n', "m.toml: expected only [[metric]] tables"),
])
def test_a_malformed_file_is_one_line_naming_it(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        collector(path).check_content()
    assert message in str(caught.value)


@pytest.mark.parametrize(("unit", "value", "message"), [
    ("pct", "150", "line 2: value 150 (pct): expected a share from 0 to 100"),
    ("pct", "-3", "line 2: value -3 (pct): expected a share from 0 to 100"),
    ("duration", "-60", "line 2: value -60 (duration): expected seconds, 0 or more"),
])
def test_a_share_over_100_or_a_negative_duration_is_refused(tmp_path, unit, value, message):
    path = tmp_path / "m.csv"
    path.write_text(f"month,name,value,label,unit\n2026-10,a,{value},A,{unit}\n")
    with pytest.raises(ConfigError) as caught:
        collector(path).check_content()
    assert message in str(caught.value)


def test_a_csv_separated_by_semicolons_says_so(tmp_path):
    """A spreadsheet set to a language with a decimal comma saves its CSV with semicolons."""
    path = tmp_path / "m.csv"
    path.write_text("month;name;value;label\n2026-10;laptops;42;Laptops\n")
    with pytest.raises(ConfigError, match=r"m\.csv:1: the columns are separated by ';': separate them with commas"):
        collector(path).check_content()


def test_a_file_far_too_large_is_refused_naming_it(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("month,name,value,label\n" + "2026-10,a,1,A\n" * 700_000)  # 9.8 MB
    with pytest.raises(ConfigError, match=r"m\.csv is 9\.35 MB, far more than a file of monthly values "
                                          r"\(at most 8 MB\)"):
        collector(path).check_content()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_named_pipe_in_place_of_the_file_fails_instead_of_waiting(tmp_path):
    path = tmp_path / "m.csv"
    os.mkfifo(path)
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            collector(path).check_content()
        except ConfigError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(5)
    if worker.is_alive():  # unblock the reader so the test run can end
        with open(path, "wb"):
            pass
        pytest.fail("reading the metrics file waited on a named pipe")
    [error] = outcome
    assert "m.csv is not a regular file" in str(error)


def test_spaces_after_the_commas_of_the_header_are_no_part_of_the_names(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("month, name, value, label, unit\n2026-10, laptops, 42, Laptops rolled out, count\n")
    assert collector(path).collect(OCTOBER).values["laptops"] == CustomValue(42.0, "Laptops rolled out", "count", "")


def test_a_label_written_on_two_lines_in_a_spreadsheet_keeps_its_words_apart(tmp_path):
    """A spreadsheet writes a cell with a line break as a quoted field over two lines."""
    path = tmp_path / "m.csv"
    path.write_bytes(b'month,name,value,label\r\n2026-10,a,1,"Laptops\r\nrolled out"\r\n2026-10,b,x,B\r\n')
    with pytest.raises(ConfigError, match=r"m\.csv:line 4: value 'x'"):  # the line numbers of the file
        collector(path).check_content()
    path.write_bytes(b'month,name,value,label\r\n2026-10,a,1,"Laptops\r\nrolled out"\r\n')
    assert collector(path).collect(OCTOBER).values["a"].label == "Laptops rolled out"


def test_a_cell_too_large_for_csv_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text('month,name,value,label\n2026-10,a,1,A\n2026-10,b,1,"' + "x" * 200_000 + '"\n')
    with pytest.raises(ConfigError, match=r"m\.csv:line 3: not a CSV row that can be read \(field larger than"):
        collector(path).check_content()


def test_a_csv_saved_in_a_windows_code_page_says_how_to_save_it(tmp_path):
    """Excel's plain "CSV" is the Windows code page: an umlaut in a label is no UTF-8."""
    path = tmp_path / "m.csv"
    path.write_bytes("month,name,value,label\n2026-10,devices,42,Geräte ausgegeben\n".encode("cp1252"))
    with pytest.raises(ConfigError, match=r"m\.csv: not UTF-8 at byte 45 \(line 2\): save it as UTF-8 "
                                          r"\(in Excel: CSV UTF-8\)"):
        collector(path).check_content()


def test_a_bad_row_stops_check_but_not_the_edition_which_keeps_the_last_good_values(workspace, tmp_path):
    # the file is edited by hand between collect and the send: a typo must not hold the edition back
    shutil.copy(REPO / "sources" / "examples" / "metrics_file.toml", workspace.root / "sources" / "metrics.toml")
    table = workspace.root / "sources" / "metrics.csv"
    shutil.copy(REPO / "sources" / "examples" / "metrics.csv", table)
    assert workspace.invoke("collect", "--month", "2026-10", "--backfill", "2").exit_code == 0
    table.write_text(table.read_text() + "2026-10,laptops_rolled_out,many,Laptops rolled out,count,\n")

    checked = workspace.invoke("check")
    assert checked.exit_code == 2
    assert "metrics.csv:line 10: value 'many': expected a number" in checked.output

    out = tmp_path / "draft.txt"
    result = workspace.invoke("preview", "--month", "2026-10", "--format", "text", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert "metrics.csv:line 10: value 'many'" in result.output  # said, with the row to fix
    assert "- Laptops rolled out: 42 (17 more than September)" in out.read_text()  # the values collected


def test_two_files_with_the_same_metric_name_are_refused_by_check_and_warned_by_the_edition(workspace, tmp_path):
    # metrics.<name> holds one number: a template would show one source's and never say which
    sources = workspace.root / "sources"
    shutil.copy(REPO / "sources" / "examples" / "metrics_file.toml", sources / "metrics.toml")
    shutil.copy(REPO / "sources" / "examples" / "metrics.csv", sources / "metrics.csv")
    (sources / "facilities.toml").write_text('type = "metrics_file"\nname = "facilities"\ntitle = "Facilities"\n'
                                             'file = "facilities.csv"\n')
    (sources / "facilities.csv").write_text("month,name,value,label\n2026-10,laptops_rolled_out,7,Laptops\n")

    checked = workspace.invoke("check")
    assert checked.exit_code == 2, checked.output
    assert "laptops_rolled_out" in checked.output
    assert "facilities.toml" in checked.output and "metrics.toml" in checked.output

    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    out = tmp_path / "draft.txt"
    result = workspace.invoke("preview", "--month", "2026-10", "--format", "text", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert "metrics.laptops_rolled_out" in result.output and "facilities" in result.output


def test_the_same_metric_name_in_two_files_for_different_months_is_fine(workspace):
    # one file a year: no month has two numbers for metrics.<name>
    sources = workspace.root / "sources"
    for year in (2025, 2026):
        (sources / f"m{year}.toml").write_text(f'type = "metrics_file"\nname = "m{year}"\ntitle = "In {year}"\n'
                                               f'file = "m{year}.csv"\n')
        (sources / f"m{year}.csv").write_text(f"month,name,value,label\n{year}-10,laptops,7,Laptops\n")
    checked = workspace.invoke("check")
    assert checked.exit_code == 0, checked.output
