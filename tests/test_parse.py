"""The parser: every accepted variant of the contract, and every refusal with its rule, row, column, value."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from ingest.parse import MAX_PROBLEMS_PER_COLUMN, PARSER_RULES, parse_file, parse_files
from ingest.parsed import ROW_DTYPES, ParsedFile
from ingest.reference import load_reference
from tests.fixtures.bad_files import BAD_FILE_RULES, encrypted_workbook_bytes, good_table, write_bad_files

REF = load_reference()
TODAY = date(2025, 6, 15)
HEADER = ["site_code", "period", "measure_code", "ethnic_category", "numerator", "denominator"]
NHS = "9434765919"


def row(site="BARTS", period="2024-03", measure="PPH1500", ethnic="A", num="1", den="10"):
    return [site, period, measure, ethnic, num, den]


def csv_file(tmp_path: Path, rows, name="BARTS_2024-03.csv", encoding="utf-8", bom=False) -> Path:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode(encoding))
    return path


def text_file(tmp_path: Path, text: str, name="BARTS_2024-03.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def xlsx_file(tmp_path: Path, rows, name="BARTS_2024-03.xlsx", sheet="data", before=()) -> Path:
    wb = openpyxl.Workbook()
    first = wb.active
    for i, title in enumerate(before):
        ws = first if i == 0 else wb.create_sheet()
        ws.title = title
        ws.append(["cover sheet"])
    ws = wb.create_sheet() if before else first
    ws.title = sheet
    for r in rows:
        ws.append(r)
    path = tmp_path / name
    wb.save(path)
    return path


def parse(path: Path) -> ParsedFile:
    return parse_file(path, REF, TODAY)


def only(result: ParsedFile, rule: str):
    found = [p for p in result.problems if p.rule == rule]
    assert found, f"no {rule} in {[str(p) for p in result.problems]}"
    return found


def assert_clean(result: ParsedFile):
    assert result.problems == [], [str(p) for p in result.problems]


def error_rules(result: ParsedFile) -> set[str]:
    return {p.rule for p in result.errors}


# --- a good file -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_good_file(tmp_path, kind):
    table = good_table(REF, "BARTS", date(2024, 3, 1))
    path = csv_file(tmp_path, table) if kind == "csv" else xlsx_file(tmp_path, table, "BARTS_2024-03.xlsx")
    result = parse(path)
    assert_clean(result)
    rows = result.rows
    assert {c: str(t) for c, t in rows.dtypes.items()} == ROW_DTYPES
    assert len(rows) == len(table) - 1 == 7 * 18
    assert rows["source_row"].tolist() == list(range(2, len(table) + 1))
    assert (rows["file_name"] == path.name).all()
    assert (rows["month_start_date"] == pd.Timestamp("2024-03-01")).all()
    assert rows["numerator"].tolist() == [int(r[4]) for r in table[1:]]
    assert rows["denominator"].tolist() == [int(r[5]) for r in table[1:]]
    assert rows["ethnic_code"].tolist() == [r[3] for r in table[1:]]
    assert rows["extra_columns"].isna().all()
    assert result.site_code == "BARTS" and result.months == [date(2024, 3, 1)]
    assert result.accepted


def test_parse_files_matches_parse_file(tmp_path):
    paths = [
        csv_file(tmp_path, good_table(REF, s, date(2024, m, 1)), f"{s}_2024-{m:02d}.csv")
        for s, m in (("BARTS", 1), ("ELFT", 2), ("UHL", 3))
    ]
    paths.append(xlsx_file(tmp_path, good_table(REF, "MFT", date(2024, 4, 1)), "MFT_2024-04.xlsx"))
    paths.append(text_file(tmp_path, "", "NCL_2024-05.csv"))
    together = parse_files(paths, REF, TODAY)
    assert [r.path for r in together] == paths
    for one, path in zip(together, paths):
        alone = parse(path)
        assert one.problems == alone.problems
        pd.testing.assert_frame_equal(one.rows, alone.rows)
        assert (one.site_code, one.months) == (alone.site_code, alone.months)


# --- accepted variants ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        ["site", "month", "measure", "ethnicity", "num", "denom"],
        ["org_code", "reporting_period", "indicator", "ethnic_code", "events", "population"],
        ["provider_code", "period_start", "measure", "ethnic_group", "count", "total"],
        ["Site Code", "Period", "Measure Code", "Ethnic Category", "Numerator", "Denominator"],
        ["SITE-CODE", "PERIOD", "MEASURE_CODE", "ETHNIC-CATEGORY", "NUMERATOR", "DENOMINATOR"],
        [" site_code ", "Reporting Period", "measure code", "Ethnic  Group", " Num ", "Denom."],
        ["Provider-Code", "Period-Start", "INDICATOR", "ethnic code", "Events", "Total"],
    ],
)
def test_header_spellings(tmp_path, header):
    result = parse(csv_file(tmp_path, [header, row()]))
    assert_clean(result)
    assert result.rows.iloc[0][["site_code", "measure_code", "ethnic_code", "numerator", "denominator"]].tolist() == [
        "BARTS",
        "PPH1500",
        "A",
        1,
        10,
    ]


def test_columns_in_any_order(tmp_path):
    order = [5, 3, 1, 0, 4, 2]
    result = parse(csv_file(tmp_path, [[HEADER[k] for k in order], [row()[k] for k in order]]))
    assert_clean(result)
    r = result.rows.iloc[0]
    assert (r["site_code"], r["measure_code"], r["numerator"], r["denominator"]) == ("BARTS", "PPH1500", 1, 10)


def test_byte_order_mark(tmp_path):
    result = parse(csv_file(tmp_path, [HEADER, row()], bom=True))
    assert_clean(result)
    assert len(result.rows) == 1


def test_cp1252_is_read_with_a_warning(tmp_path):
    result = parse(csv_file(tmp_path, [HEADER + ["notes"], row() + ["café"]], encoding="cp1252"))
    assert [p.rule for p in result.problems] == ["not_utf8"] and result.accepted
    assert json.loads(result.rows["extra_columns"][0]) == {"notes": "café"}


def test_title_rows_above_the_header_csv(tmp_path):
    rows = [["LAN monthly return"], ["Barts Health", "", ""], [], HEADER, row(), row(ethnic="B")]
    result = parse(csv_file(tmp_path, rows))
    assert_clean(result)
    assert result.rows["source_row"].tolist() == [5, 6]


def test_title_rows_above_the_header_xlsx(tmp_path):
    rows = [["LAN monthly return for March"], [None], ["Prepared by", "analyst"], HEADER, row(), row(ethnic="B")]
    result = parse(xlsx_file(tmp_path, rows))
    assert_clean(result)
    assert result.rows["source_row"].tolist() == [5, 6]


def test_header_may_start_in_a_later_column_xlsx(tmp_path):
    result = parse(xlsx_file(tmp_path, [[None, None] + HEADER, [None, None] + row()]))
    assert_clean(result)
    assert result.rows.iloc[0]["numerator"] == 1


def test_blank_rows_are_skipped(tmp_path):
    result = parse(csv_file(tmp_path, [HEADER, row(), [], ["", "", "", "", "", ""], row(ethnic="B"), ["", "", ""]]))
    assert [p.rule for p in result.errors] == []
    assert result.rows["source_row"].tolist() == [2, 5]


def test_sheet_named_data_any_case(tmp_path):
    path = xlsx_file(tmp_path, [HEADER, row()], sheet="Data", before=("Cover", "Notes"))
    result = parse(path)
    assert_clean(result)
    assert len(result.rows) == 1


def test_first_sheet_when_no_data_sheet(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "March return"
    wb.active.append(HEADER)
    wb.active.append(row())
    other = wb.create_sheet("Lookup")
    other.append(["junk"])
    path = tmp_path / "BARTS_2024-03.xlsx"
    wb.save(path)
    result = parse(path)
    assert_clean(result)
    assert len(result.rows) == 1


@pytest.mark.parametrize(
    "value,code",
    [
        ("A", "A"),
        ("a", "A"),
        (" b ", "B"),
        ("99", "99"),
        ("z", "Z"),
        ("S", "S"),
        ("White - British", "A"),
        ("white british", "A"),
        ("WHITE-BRITISH", "A"),
        ("  White  -  Irish ", "B"),
        ("Asian or Asian British - Indian", "H"),
        ("black or black british african", "N"),
        ("Other Ethnic Groups - Chinese", "R"),
        ("", "99"),
        ("   ", "99"),
        ("Not known", "99"),
        ("NOT KNOWN", "99"),
        ("unknown", "99"),
        ("Unknown", "99"),
        ("Not stated", "Z"),
        ("not-stated", "Z"),
        ("White Welsh", "White Welsh"),
        ("  Q  ", "Q"),
        ("zz", "zz"),
    ],
)
def test_ethnic_category_codes_and_labels(tmp_path, value, code):
    result = parse(csv_file(tmp_path, [HEADER, row(ethnic=value)]))
    assert result.errors == []
    assert result.rows["ethnic_code"].tolist() == [code]


@pytest.mark.parametrize("value,code", [(99, "99"), (99.0, "99"), ("99", "99"), ("a", "A"), (None, "99"), (7.0, "7")])
def test_ethnic_category_from_excel_cells(tmp_path, value, code):
    result = parse(xlsx_file(tmp_path, [HEADER, row(ethnic=value, num=1, den=10)]))
    assert result.errors == []
    assert result.rows["ethnic_code"].tolist() == [code]


def test_site_and_measure_upper_cased_unknown_passed_through(tmp_path):
    rows = [
        HEADER,
        row(site=" barts ", measure="pph1500"),
        row(site="Barts", measure=" ptb37", ethnic="B"),
        row(site="barts", measure="nonsense measure", ethnic="C"),
    ]
    result = parse(csv_file(tmp_path, rows))
    assert result.errors == []
    assert result.rows["site_code"].tolist() == ["BARTS"] * 3
    assert result.rows["measure_code"].tolist() == ["PPH1500", "PTB37", "NONSENSE MEASURE"]


def test_unknown_site_passed_through(tmp_path):
    result = parse(csv_file(tmp_path, [HEADER, row(site="zzzz")], name="ZZZZ_2024-03.csv"))
    assert_clean(result)
    assert result.rows["site_code"].tolist() == ["ZZZZ"] and result.site_code == "ZZZZ"


@pytest.mark.parametrize(
    "text,month",
    [
        ("2024-03", date(2024, 3, 1)),
        ("2024-3", date(2024, 3, 1)),
        ("2024-03-01", date(2024, 3, 1)),
        ("2024-03-15", date(2024, 3, 1)),
        ("2024-02-29", date(2024, 2, 1)),
        ("01/03/2024", date(2024, 3, 1)),
        ("1/3/2024", date(2024, 3, 1)),
        ("31/03/2024", date(2024, 3, 1)),
        ("Mar-2024", date(2024, 3, 1)),
        ("mar-2024", date(2024, 3, 1)),
        ("MAR 2024", date(2024, 3, 1)),
        ("March 2024", date(2024, 3, 1)),
        ("march-2024", date(2024, 3, 1)),
        ("Sept 2024", date(2024, 9, 1)),
        ("December 2023", date(2023, 12, 1)),
        (" 2024-03 ", date(2024, 3, 1)),
        ("2024-03-01 00:00:00", date(2024, 3, 1)),
    ],
)
def test_period_formats(tmp_path, text, month):
    result = parse(csv_file(tmp_path, [HEADER, row(period=text)], name=f"BARTS_{month:%Y-%m}.csv"))
    assert_clean(result)
    assert result.rows["month_start_date"].tolist() == [pd.Timestamp(month)]
    assert result.months == [month]


@pytest.mark.parametrize(
    "cell",
    [
        datetime(2024, 3, 1),
        datetime(2024, 3, 31, 14, 30),
        date(2024, 3, 1),
        date(2024, 3, 20),
        45352,
        45352.0,
        "2024-03",
        "March 2024",
    ],
)
def test_period_excel_cells(tmp_path, cell):
    result = parse(xlsx_file(tmp_path, [HEADER, row(period=cell, num=1, den=10)]))
    assert_clean(result)
    assert result.rows["month_start_date"].tolist() == [pd.Timestamp(2024, 3, 1)]


def test_excel_date_cell_with_month_format(tmp_path):
    path = xlsx_file(tmp_path, [HEADER, row(period=datetime(2024, 3, 1), num=1, den=10)])
    wb = openpyxl.load_workbook(path)
    wb["data"]["B2"].number_format = "mmm-yy"
    wb.save(path)
    result = parse(path)
    assert_clean(result)
    assert result.months == [date(2024, 3, 1)]


@pytest.mark.parametrize(
    "text,number",
    [
        ("1,234", 1234),
        ("12", 12),
        (" 7 ", 7),
        ("0", 0),
        ("12.0", 12),
        ("1,234,567", 1234567),
        ("-3", -3),
        ("007", 7),
    ],
)
def test_counts(tmp_path, text, number):
    result = parse(csv_file(tmp_path, [HEADER, row(num=text, den=text)]))
    assert result.errors == []
    assert result.rows["numerator"].tolist() == [number]
    assert result.rows["denominator"].tolist() == [number]


def test_empty_counts_are_not_submitted(tmp_path):
    result = parse(csv_file(tmp_path, [HEADER, row(num="", den="10"), row(ethnic="B", num=" ", den="")]))
    assert_clean(result)
    assert result.rows["numerator"].isna().tolist() == [True, True]
    assert result.rows["denominator"].isna().tolist() == [False, True]


@pytest.mark.parametrize("cell,number", [(12, 12), (12.0, 12), ("1,234", 1234), (-4, -4), (None, None)])
def test_counts_from_excel_cells(tmp_path, cell, number):
    result = parse(xlsx_file(tmp_path, [HEADER, row(num=cell, den=5000)]))
    assert result.errors == []
    got = result.rows["numerator"].tolist()[0]
    assert (got is pd.NA and number is None) or got == number


def test_several_months_in_one_file(tmp_path):
    rows = [
        HEADER,
        row(period="2024-01"),
        row(period="2024-02"),
        row(period="March 2024"),
        row(period="2024-02", ethnic="B"),
    ]
    result = parse(csv_file(tmp_path, rows, name="BARTS_2024-01.csv"))
    assert_clean(result)
    assert result.months == [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)]
    assert [t.month for t in result.rows["month_start_date"]] == [1, 2, 3, 2]


def test_extra_columns_kept_as_json(tmp_path):
    rows = [
        HEADER + ["Notes", "Team", "Notes"],
        row() + ["checked", "Maternity", "x"],
        row(ethnic="B") + ["", "Maternity", ""],
    ]
    result = parse(csv_file(tmp_path, rows))
    assert_clean(result)
    assert [json.loads(v) for v in result.rows["extra_columns"]] == [
        {"Notes": "checked", "Team": "Maternity", "Notes (2)": "x"},
        {"Notes": "", "Team": "Maternity", "Notes (2)": ""},
    ]


def test_extra_columns_from_excel(tmp_path):
    rows = [HEADER + ["checked on"], row(num=1, den=2) + [datetime(2024, 4, 2)], row(ethnic="B", num=1, den=2) + [3.5]]
    result = parse(xlsx_file(tmp_path, rows))
    assert_clean(result)
    assert [json.loads(v)["checked on"] for v in result.rows["extra_columns"]] == ["2024-04-02", "3.5"]


def test_unheaded_column_with_values_is_kept_in_excel(tmp_path):
    result = parse(xlsx_file(tmp_path, [HEADER, row(num=1, den=2) + [None, "note"]]))
    assert_clean(result)
    assert json.loads(result.rows["extra_columns"][0]) == {"column H": "note"}


def test_note_row_without_contract_cells_is_skipped(tmp_path):
    result = parse(
        csv_file(tmp_path, [HEADER + ["notes"], row() + [""], ["", "", "", "", "", "", "figures provisional"]])
    )
    assert_clean(result)
    assert len(result.rows) == 1


def test_xlsx_named_csv_is_read_by_content(tmp_path):
    path = xlsx_file(tmp_path, [HEADER, row(num=1, den=2)], name="BARTS_2024-03.csv")
    result = parse(path)
    assert result.accepted and len(result.rows) == 1
    assert [p.rule for p in result.problems] == ["unexpected_file_name"]


def test_file_name_with_suffix(tmp_path):
    assert_clean(parse(csv_file(tmp_path, [HEADER, row()], name="BARTS_2024-03_v2.csv")))


def test_unconventional_file_name_is_a_warning(tmp_path):
    result = parse(csv_file(tmp_path, [HEADER, row()], name="march return.csv"))
    assert result.accepted
    assert [(p.rule, p.severity) for p in result.problems] == [("unexpected_file_name", "warning")]


# --- name_mismatch (a warning) ----------------------------------------------------------------------


def test_name_mismatch_site(tmp_path):
    result = parse(csv_file(tmp_path, [HEADER, row()], name="ELFT_2024-03.csv"))
    assert result.accepted
    [p] = only(result, "name_mismatch")
    assert p.severity == "warning" and "ELFT" in p.message and "BARTS" in p.message
    assert result.site_code == "BARTS"


def test_name_mismatch_month(tmp_path):
    result = parse(csv_file(tmp_path, [HEADER, row(period="2024-04")], name="BARTS_2024-03.csv"))
    assert result.accepted
    [p] = only(result, "name_mismatch")
    assert "2024-03" in p.message and "2024-04" in p.message
    assert result.months == [date(2024, 4, 1)]


# --- refusals ---------------------------------------------------------------------------------------


def test_not_csv_or_excel(tmp_path):
    path = tmp_path / "BARTS_2024-03.csv"
    path.write_bytes(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    result = parse(path)
    [p] = result.problems
    assert p.rule == "not_csv_or_excel" and "PDF" in p.message
    assert len(result.rows) == 0 and {c: str(t) for c, t in result.rows.dtypes.items()} == ROW_DTYPES
    # best effort from the file name
    assert result.site_code == "BARTS" and result.months == [date(2024, 3, 1)]


@pytest.mark.parametrize("content", [b"", b"   \r\n \n", b"\xef\xbb\xbf"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "BARTS_2024-03.csv"
    path.write_bytes(content)
    assert [p.rule for p in parse(path).problems] == ["empty_file"]


def test_header_without_data_rows_is_empty(tmp_path):
    result = parse(csv_file(tmp_path, [["Return"], HEADER, [""] * 6]))
    [p] = result.problems
    assert p.rule == "empty_file" and p.row == 2


def test_empty_xlsx(tmp_path):
    assert [p.rule for p in parse(xlsx_file(tmp_path, [])).problems] == ["empty_file"]
    assert [p.rule for p in parse(xlsx_file(tmp_path, [HEADER])).problems] == ["empty_file"]


def test_encrypted_workbook(tmp_path):
    path = tmp_path / "BARTS_2024-03.xlsx"
    path.write_bytes(encrypted_workbook_bytes())
    [p] = parse(path).problems
    assert p.rule == "unreadable_workbook"
    assert "password" in p.message and "encrypted" in p.message


def test_corrupt_workbook(tmp_path):
    path = xlsx_file(tmp_path, [HEADER, row()])
    path.write_bytes(path.read_bytes()[:2000])
    assert [p.rule for p in parse(path).problems] == ["unreadable_workbook"]


def test_no_header(tmp_path):
    result = parse(csv_file(tmp_path, [row(), row(ethnic="B")]))
    [p] = result.problems
    assert p.rule == "no_header"
    assert "org_code" in p.message and "ethnic_group" in p.message
    assert len(result.rows) == 0


def test_header_below_row_20_is_not_found(tmp_path):
    rows = [[f"title {k}"] for k in range(20)] + [HEADER, row()]
    assert error_rules(parse(csv_file(tmp_path, rows))) == {"no_header"}
    assert error_rules(parse(csv_file(tmp_path, rows[1:]))) == set()


def test_three_of_six_is_not_a_header(tmp_path):
    result = parse(csv_file(tmp_path, [["site", "month", "measure", "a", "b", "c"], row()]))
    [p] = result.problems
    assert p.rule == "no_header" and p.row == 1 and "naming 3" in p.message


def test_semicolon_separated_file(tmp_path):
    result = parse(text_file(tmp_path, ";".join(HEADER) + "\r\n" + ";".join(row()) + "\r\n"))
    [p] = result.problems
    assert p.rule == "no_header" and "semicolons" in p.message


def test_missing_column(tmp_path):
    result = parse(csv_file(tmp_path, [HEADER[:3] + HEADER[4:], row()[:3] + row()[4:]]))
    [p] = result.problems
    assert p.rule == "missing_column" and p.row == 1
    assert "ethnic category" in p.message
    for alias in ("ethnic_category", "ethnicity", "ethnic_code", "ethnic_group"):
        assert alias in p.message
    assert len(result.rows) == 0


def test_two_missing_columns(tmp_path):
    result = parse(csv_file(tmp_path, [HEADER[:4], row()[:4]]))
    assert [p.rule for p in result.problems] == ["missing_column", "missing_column"]
    assert "numerator" in result.problems[0].message and "denominator" in result.problems[1].message


def test_duplicate_column(tmp_path):
    result = parse(csv_file(tmp_path, [HEADER + ["Num"], row() + ["1"]]))
    [p] = result.problems
    assert (p.rule, p.row, p.column) == ("duplicate_column", 1, "Num")


def test_duplicate_header(tmp_path):
    result = parse(csv_file(tmp_path, [HEADER, row(), HEADER, row(ethnic="B")]))
    [p] = result.problems
    assert (p.rule, p.row) == ("duplicate_header", 3)
    assert result.rows["source_row"].tolist() == [2, 4]


def test_data_above_the_header(tmp_path):
    result = parse(csv_file(tmp_path, [["LAN return"], row(ethnic="Z"), HEADER, row()]))
    [p] = result.errors
    assert (p.rule, p.row) == ("data_above_header", 2)
    assert result.rows["source_row"].tolist() == [4]


def test_title_rows_with_a_month_but_no_count_are_fine(tmp_path):
    rows = [["Return for", "March 2024", "", "", "", ""], ["site", "2024-03", "x", "y", "", "n/a"], HEADER, row()]
    assert_clean(parse(csv_file(tmp_path, rows)))


def test_ragged_row_unquoted_thousands(tmp_path):
    text = ",".join(HEADER) + "\r\n" + "BARTS,2024-03,PPH1500,A,1,234,5000\r\n"
    result = parse(text_file(tmp_path, text))
    [p] = result.errors
    assert (p.rule, p.row) == ("ragged_row", 2)
    assert "1,234" in p.message


def test_ragged_row_cut_off(tmp_path):
    text = ",".join(HEADER) + "\r\n" + ",".join(row()) + "\r\nBARTS,2024-03,PPH1500,B,1"
    result = parse(text_file(tmp_path, text))
    [p] = result.errors
    assert (p.rule, p.row) == ("ragged_row", 3)


def test_trailing_empty_cells_are_not_ragged(tmp_path):
    text = ",".join(HEADER) + ",,\r\n" + ",".join(row()) + ",,,\r\n" + ",".join(row(ethnic="B")) + "\r\n"
    assert_clean(parse(text_file(tmp_path, text)))


@pytest.mark.parametrize(
    "value",
    [
        "2024-13",
        "13/2024",
        "2024/03",
        "Mar-24",
        "01/03/24",
        "March",
        "202403",
        "Q1 2024",
        "0224-03",
        "31/02/2024",
        "2024-02-30",
        "Marc 2024",
        "2024-03-01T12:00",
        "",
    ],
)
def test_invalid_period(tmp_path, value):
    result = parse(
        csv_file(
            tmp_path, [["Site", "Month", "Measure", "Ethnicity", "Num", "Denom"], row(), row(ethnic="B", period=value)]
        )
    )
    [p] = result.errors
    assert (p.rule, p.row, p.column, p.value) == ("invalid_period", 3, "Month", value)
    assert "2024-03" in p.message and "Mar-2024" in p.message
    assert pd.isna(result.rows["month_start_date"][1])


@pytest.mark.parametrize("cell", [45352.5 * 10, 12, True, "Mar-24"])
def test_invalid_period_excel(tmp_path, cell):
    result = parse(xlsx_file(tmp_path, [HEADER, row(period=cell, num=1, den=2)]))
    assert [(p.rule, p.row, p.column) for p in result.errors] == [("invalid_period", 2, "period")]


@pytest.mark.parametrize(
    "value,words",
    [
        ("2.5", "not a whole number"),
        ("1.25", "not a whole number"),
        ("abc", "whole number"),
        ("*", "suppressed"),
        ("<5", "suppressed"),
        ("n/a", "whole number"),
        ("1e3", "whole number"),
        ("1 234", "whole number"),
        ("1,23", "whole number"),
        ("12,", "whole number"),
        ("NULL", "whole number"),
        ("99999999999999999999", "too large"),
    ],
)
def test_invalid_count(tmp_path, value, words):
    result = parse(csv_file(tmp_path, [["site", "month", "measure", "ethnicity", "Events", "Total"], row(num=value)]))
    [p] = result.errors
    assert (p.rule, p.row, p.column, p.value) == ("invalid_count", 2, "Events", value)
    assert words in p.message
    assert result.rows["numerator"].isna().all()


@pytest.mark.parametrize("cell,value", [(2.5, "2.5"), (True, "TRUE"), (datetime(2024, 3, 1), "2024-03-01"), ("x", "x")])
def test_invalid_count_excel(tmp_path, cell, value):
    result = parse(xlsx_file(tmp_path, [HEADER, row(num=1, den=cell)]))
    assert [(p.rule, p.row, p.column, p.value) for p in result.errors] == [("invalid_count", 2, "denominator", value)]


def _workbook_with_raw_cells(tmp_path, cells: dict[str, object]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER)
    ws.append(row(num=1, den=2))
    ws.append(row(ethnic="B", num=3, den=4))
    for ref, value in cells.items():
        ws[ref] = value
    path = tmp_path / "BARTS_2024-03.xlsx"
    wb.save(path)
    return path


def test_excel_error_cells_are_not_read_as_empty(tmp_path):
    # calamine reads error cells as empty; they must not pass as "not submitted"
    path = _workbook_with_raw_cells(tmp_path, {"E2": "#DIV/0!", "F3": "#N/A", "B3": "#REF!"})
    result = parse(path)
    got = sorted((p.rule, p.row, p.column, p.value) for p in result.errors)
    assert got == [
        ("invalid_count", 2, "numerator", "#DIV/0!"),
        ("invalid_count", 3, "denominator", "#N/A"),
        ("invalid_period", 3, "period", "#REF!"),
    ]
    assert "Excel error" in result.errors[0].message or "Excel error" in result.errors[1].message


def test_formula_without_a_saved_result_is_not_read_as_empty(tmp_path):
    result = parse(_workbook_with_raw_cells(tmp_path, {"E3": "=1+2"}))
    [p] = result.errors
    assert (p.rule, p.row, p.column, p.value) == ("invalid_count", 3, "numerator", "=1+2")
    assert "save it again" in p.message


def test_many_invalid_counts_are_capped(tmp_path):
    rows = [HEADER] + [row(ethnic=code, num="*") for code in "ABCDEFGHJKLMNPRS"] * 3
    result = parse(csv_file(tmp_path, rows))
    problems = only(result, "invalid_count")
    assert len(problems) == MAX_PROBLEMS_PER_COLUMN + 1
    assert f"{48 - MAX_PROBLEMS_PER_COLUMN} more rows" in problems[-1].message


def test_several_sites(tmp_path):
    rows = [HEADER, row(), row(site="barts", ethnic="B"), row(site=" elft ", ethnic="C"), row(site="UHL", ethnic="D")]
    result = parse(csv_file(tmp_path, rows))
    problems = only(result, "several_sites")
    assert [(p.row, p.column, p.value) for p in problems] == [(4, "site_code", "elft"), (5, "site_code", "UHL")]
    assert "BARTS, ELFT, UHL" in problems[0].message
    assert result.site_code == "BARTS"  # the file name's site, as it is among them


def test_negative_and_above_denominator_are_not_refused_here(tmp_path):
    rows = [HEADER, row(num="-1", den="5"), row(ethnic="B", num="9", den="5"), row(ethnic="B", num="9", den="5")]
    result = parse(csv_file(tmp_path, rows))
    assert_clean(result)
    assert result.rows["numerator"].tolist() == [-1, 9, 9]


def test_future_period_is_not_refused_here(tmp_path):
    result = parse(csv_file(tmp_path, [HEADER, row(period="2030-01")], name="BARTS_2030-01.csv"))
    assert_clean(result)


# --- personal data ----------------------------------------------------------------------------------


def assert_not_leaked(result: ParsedFile, *secrets: str):
    for p in result.problems:
        for secret in secrets:
            digits = secret.replace(" ", "").replace("-", "")
            text = (str(p) + repr(p.to_dict())).lower()
            assert secret.lower() not in text and digits.lower() not in text, str(p)
    assert len(result.rows) == 0


@pytest.mark.parametrize("header", ["DOB", "date_of_birth", "Birth Date", "Postcode", "post_code", "NHS Number"])
def test_personal_data_header(tmp_path, header):
    result = parse(csv_file(tmp_path, [HEADER + [header], row() + [""]]))
    [p] = result.errors
    assert (p.rule, p.row, p.column, p.value) == ("personal_data", 1, header, None)
    assert len(result.rows) == 0


@pytest.mark.parametrize("number", [NHS, "943 476 5919", "943-476-5870"])
def test_nhs_number_in_an_extra_column(tmp_path, number):
    rows = [HEADER + ["ref"], row() + ["a"], row(ethnic="B") + [number], row(ethnic="C") + [number]]
    result = parse(csv_file(tmp_path, rows))
    [p] = result.errors
    assert (p.rule, p.row, p.column, p.value) == ("personal_data", 3, "ref", None)
    assert "2 cell(s)" in p.message and "NHS number" in p.message
    assert_not_leaked(result, number)


def test_nhs_number_in_a_title_row(tmp_path):
    result = parse(csv_file(tmp_path, [[f"Patient {NHS}"], HEADER, row()]))
    [p] = result.errors
    assert (p.rule, p.row, p.column) == ("personal_data", 1, None)
    assert_not_leaked(result, NHS)


def test_nhs_number_in_a_contract_column_is_not_echoed_by_other_problems(tmp_path):
    result = parse(csv_file(tmp_path, [HEADER, row(period=NHS), row(ethnic="B", site=NHS)]))
    assert "personal_data" in error_rules(result)
    assert_not_leaked(result, NHS)


def test_postcode_as_a_site_is_not_echoed_by_several_sites(tmp_path):
    result = parse(csv_file(tmp_path, [HEADER, row(), row(ethnic="B", site="e1 6an")]))
    assert {"personal_data", "several_sites"} <= error_rules(result)
    assert_not_leaked(result, "E1 6AN", "e1 6an")


def test_nhs_number_as_an_excel_number(tmp_path):
    result = parse(xlsx_file(tmp_path, [HEADER + ["id"], row(num=1, den=2) + [int(NHS)]]))
    [p] = result.errors
    assert (p.rule, p.row, p.column, p.value) == ("personal_data", 2, "id", None)
    assert_not_leaked(result, NHS)


def test_ten_digit_number_failing_the_check_is_fine(tmp_path):
    result = parse(csv_file(tmp_path, [HEADER + ["ref"], row() + ["9434765918"]]))
    assert_clean(result)


def test_postcode_values(tmp_path):
    result = parse(csv_file(tmp_path, [HEADER + ["address"], row() + ["1 High St, E1 6AN"]]))
    [p] = result.errors
    assert (p.rule, p.row, p.column, p.value) == ("personal_data", 2, "address", None)
    assert_not_leaked(result, "E1 6AN")


# --- the bad-file corpus ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_bad_files(tmp_path_factory.mktemp("bad"), TODAY)


def test_corpus_has_one_distinct_file_per_reason(corpus):
    assert set(corpus) == set(BAD_FILE_RULES)
    assert len({p.name for p in corpus.values()}) == len(corpus)
    parser_errors = {rule for rule, stage in BAD_FILE_RULES.values() if stage == "parser"}
    assert parser_errors <= set(PARSER_RULES)


@pytest.mark.parametrize("key", [k for k, (_, stage) in BAD_FILE_RULES.items() if stage == "parser"])
def test_corpus_parser_refusals(corpus, key):
    rule = BAD_FILE_RULES[key][0]
    result = parse(corpus[key])
    assert {p.rule for p in result.problems} == {rule}, [str(p) for p in result.problems]
    assert not result.accepted


@pytest.mark.parametrize(
    "key,column,value",
    [
        ("unknown_site", "site_code", "ZZZZ"),
        ("unknown_measure", "measure_code", "PPH9999"),
        ("invalid_ethnic_category", "ethnic_code", "White Welsh"),
        ("negative_count", "numerator", -3),
        ("numerator_above_denominator", "numerator", 60),
        ("duplicate_key", None, None),
        ("future_period", None, None),
    ],
)
def test_corpus_structural_files_parse_cleanly(corpus, key, column, value):
    result = parse(corpus[key])
    assert_clean(result)
    assert len(result.rows) >= 7 * 18
    if column:
        assert value in result.rows[column].tolist()
    if key == "duplicate_key":
        assert result.rows.duplicated(["site_code", "month_start_date", "measure_code", "ethnic_code"]).sum() == 1
    if key == "future_period":
        assert result.months[0] > TODAY


def test_corpus_name_mismatch_is_only_a_warning(corpus):
    result = parse(corpus["name_mismatch"])
    assert result.accepted
    assert [(p.rule, p.severity) for p in result.problems] == [("name_mismatch", "warning")]


def test_every_problem_has_a_known_rule_and_file_name(corpus):
    for path in corpus.values():
        for p in parse(path).problems:
            assert p.rule in PARSER_RULES and p.file_name == path.name
            assert p.severity == (
                "warning" if p.rule in {"name_mismatch", "unexpected_file_name", "not_utf8"} else "error"
            )
