"""The monthly report (data contract, "The monthly report"): parsing, personal-data screening, keeping, loading;
the sample reports; the due-date settings."""

from __future__ import annotations

import csv
import json
import os
from datetime import date, datetime
from pathlib import Path

import duckdb
import nhs_number
import pytest
from openpyxl import Workbook

from ingest.pii import free_text_personal_kinds, is_valid_nhs_number
from ingest.reference import load_reference
from ingest.report import is_report_file, parse_report, parse_with_reports
from ingest.sample_data import report_rows, sample_clock, write_reports, write_returns
from ingest.settings import Settings
from ingest.store import ingest_landing
from tests.fixtures.bad_files import good_table, write_csv

REF = load_reference()
TODAY = date(2025, 1, 20)
NOW = datetime(2025, 2, 1, 12, 0, 0)
HEADER = ["site_code", "period", "measure_code", "change_idea", "pdsa_stage", "narrative"]
CLEAN = (
    "On 3 March we started weighing swabs on ward 12 (24 beds); by 31 March 85% of births were audited "
    "(audit 2024/0123, 40 records), and PPH1500 fell from 3.1% to 2.4%. Huddles on 12 April 2024 at 08:00."
)
# Each personal value is written so that it can be searched for verbatim in every output.
PERSONAL = {
    "NHS number": "Seen: NHS 943 476 5919 on the ward",
    "date of birth": "Mother's DOB 14/02/1991, booked late",
    "postcode": "Lives at M13 9WL near the unit",
    "e-mail address": "Ask jo.bloggs@example.nhs.uk for the list",
    "telephone number": "Call the family on 020 7946 0958",
}
SECRET = {
    "NHS number": "943 476 5919",
    "date of birth": "14/02/1991",
    "postcode": "M13 9WL",
    "e-mail address": "jo.bloggs@example.nhs.uk",
    "telephone number": "020 7946 0958",
}


def write_report(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def row(narrative: str = "", site="BARTS", period="2024-05", measure="PPH1500", idea="Swab weighing", stage="do"):
    return [site, period, measure, idea, stage, narrative]


def rules(report) -> set[str]:
    return {p.rule for p in report.errors}


# --- personal data in free text ------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(PERSONAL))
def test_each_kind_of_personal_data_is_found(kind):
    assert free_text_personal_kinds(PERSONAL[kind]) == [kind]


@pytest.mark.parametrize(
    "text",
    [
        CLEAN,
        "on 3 March we started",
        "Ward 7 and ward 12; 18 beds; 92% of women; audit number 12345678",
        "Babies born before 37 weeks: 6 of 410 births",
        "Between 2023-03-01 and 2024-03-31 the rate was 29 per 1000",
        "Review on 12 April 2024; next cycle from 1 May 2024",
        "PPH1500 and GDMOGTT measures; 1,500 ml threshold",
        "",
    ],
)
def test_clean_narratives_are_not_refused(text):
    assert free_text_personal_kinds(text) == []


@pytest.mark.parametrize(
    "text",
    ["born on 3 March", "date of birth 1988-07-01", "D.O.B. 3rd May", "seen 12.05.1988", "born 12th of May 2024"],
)
def test_dates_of_birth_near_birth_words_or_before_2010(text):
    assert "date of birth" in free_text_personal_kinds(text)


def test_nhs_numbers_follow_the_library_on_its_own_generated_vectors():
    valid = nhs_number.generate(valid=True, for_region=nhs_number.REGION_SYNTHETIC, quantity=50)
    invalid = nhs_number.generate(valid=False, for_region=nhs_number.REGION_SYNTHETIC, quantity=50)
    assert all(is_valid_nhs_number(n) for n in valid)
    assert not any(is_valid_nhs_number(n) for n in invalid)
    assert all(is_valid_nhs_number(f"{n[:3]} {n[3:6]} {n[6:]}") for n in valid)
    assert all(free_text_personal_kinds(f"patient {n[:3]}-{n[3:6]}-{n[6:]} seen") == ["NHS number"] for n in valid)


@pytest.mark.parametrize("kind", list(PERSONAL))
def test_a_report_with_personal_data_is_refused_naming_row_and_column_never_the_value(tmp_path, kind):
    path = write_report(tmp_path / "BARTS_2024-05_report.csv", [row("fine"), row(PERSONAL[kind], idea="Other")])
    report = parse_report(path, REF, TODAY)
    assert not report.accepted and report.personal_data and report.rows == []
    [problem] = report.errors
    assert (problem.rule, problem.row, problem.column, problem.value) == ("personal_data", 3, "narrative", None)
    assert kind in problem.message
    assert SECRET[kind] not in json.dumps([p.to_dict() for p in report.problems]) + str(problem)


def test_personal_data_in_a_title_row_or_an_extra_column_is_found_too(tmp_path):
    path = tmp_path / "BARTS_2024-05_report.csv"
    path.write_text(
        "Report by jo.bloggs@example.nhs.uk\n" + ",".join(HEADER + ["contact"]) + "\n"
        "BARTS,2024-05,,Huddles,plan,,020 7946 0958\n",
        encoding="utf-8",
    )
    report = parse_report(path, REF, TODAY)
    assert [(p.row, p.column) for p in report.errors] == [(1, "column A"), (3, "contact")]


# --- the report's other rules --------------------------------------------------------------------


def test_a_clean_report_is_accepted_with_header_spellings_as_the_return(tmp_path):
    header = ["Site", "Reporting Period", "Measure", "Change-Idea", "PDSA stage", "NARRATIVE"]
    rows = [row(CLEAN, site="barts", stage="Study"), row("", measure="", idea="Huddles", stage="ADOPT")]
    report = parse_report(write_report(tmp_path / "BARTS_2024-05_report.csv", rows, header), REF, TODAY)
    assert report.accepted, report.problems
    assert [(r["site_code"], r["measure_code"], r["pdsa_stage"], r["narrative"]) for r in report.rows] == [
        ("BARTS", "PPH1500", "study", CLEAN),
        ("BARTS", None, "adopt", None),
    ]
    assert report.site_code == "BARTS" and report.months == [date(2024, 5, 1)]


@pytest.mark.parametrize(
    ("bad", "rule", "shows_value"),
    [
        (row(stage="finished"), "invalid_pdsa_stage", True),
        (row(site="NOPE"), "unknown_site", True),
        (row(measure="PPH9"), "unknown_measure", True),
        (row(period="2030-01"), "future_period", True),
        (row(period="soon"), "invalid_period", True),
        (row(idea=""), "missing_change_idea", False),
        (row(idea="x" * 121), "text_too_long", False),
        (row("y" * 2001), "text_too_long", False),
        (row(site="BSOL", idea="Other"), "several_sites", True),
        (row(), "duplicate_change", False),
    ],
)
def test_a_report_breaking_a_rule_is_refused_with_row_and_column(tmp_path, bad, rule, shows_value):
    report = parse_report(write_report(tmp_path / "BARTS_2024-05_report.csv", [row(), bad]), REF, TODAY)
    assert not report.accepted and report.rows == []
    [problem] = [p for p in report.errors if p.rule == rule]
    assert problem.row == 3 and problem.column
    assert (problem.value is not None) == shows_value
    if rule in ("text_too_long",):
        assert "x" * 121 not in problem.message and "y" * 100 not in problem.message


def test_report_file_names():
    assert is_report_file("BARTS_2024-05_report.csv") and is_report_file("ncl_2024-05_report_v2.XLSX")
    assert not is_report_file("BARTS_2024-05.csv") and not is_report_file("BARTS_2024-05_v2.csv")


# --- workbooks and keeping -----------------------------------------------------------------------


def workbook(path: Path, report: list[list[str]] | None, data_first: bool = True) -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    sheets = ["data", "report"] if data_first else ["report", "Return"]
    for name in sheets:
        ws = wb.create_sheet(name)
        rows = good_table(REF, site="BARTS", month=date(2024, 5, 1)) if name != "report" else [HEADER, *(report or [])]
        for r in rows:
            ws.append([int(c) if c.isdigit() else c for c in r] if name != "report" else r)
    wb.save(path)
    return path


@pytest.fixture()
def settings(tmp_path):
    s = Settings(lan_home=tmp_path / "lan")
    s.make_folders()
    return s


def ingest(settings):
    return ingest_landing(
        settings,
        parse=lambda paths, contents: parse_with_reports(paths, REF, TODAY, contents),
        check=None,
        run_id="run-1",
        now=NOW,
    )


def query(settings, sql):
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def everything_written(settings) -> str:
    """Every reason file and every raw table, as text (to search for a personal value)."""
    text = "".join(p.read_text(errors="replace") for p in settings.quarantine.glob("*.reason.*"))
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        for (table,) in con.execute(
            "select table_name from information_schema.tables where table_schema='raw'"
        ).fetchall():
            text += str(con.execute(f"select * from raw.{table}").fetchall())
    finally:
        con.close()
    return text


@pytest.mark.parametrize("data_first", [True, False])
def test_a_workbook_with_a_good_report_sheet_loads_both(settings, data_first):
    workbook(settings.landing / "BARTS_2024-05.xlsx", [row(CLEAN), row(measure="", idea="Huddles")], data_first)
    result = ingest(settings)
    assert len(result.accepted) == 1 and result.rows_loaded == 7 * 18
    assert [(r.sheet, r.accepted, len(r.rows)) for r in result.reports] == [("report", True, 2)]
    [(sub,)] = query(settings, "select submission_id from raw.submissions")
    assert query(settings, "select distinct submission_id from raw.report_rows") == [(sub,)]
    assert not any(settings.quarantine.iterdir())


def test_a_bad_report_sheet_does_not_refuse_the_numbers(settings):
    workbook(settings.landing / "BARTS_2024-05.xlsx", [row(stage="later")])
    result = ingest(settings)
    assert len(result.accepted) == 1 and result.rows_loaded == 7 * 18
    assert query(settings, "select outcome, sheet from raw.report_files") == [("quarantined", "report")]
    assert query(settings, "select count(*) from raw.report_rows") == [(0,)]
    assert len(list(settings.raw.rglob("*BARTS_2024-05.xlsx"))) == 1  # the numbers' copy
    reason = json.loads(next(settings.quarantine.glob("*.report.reason.json")).read_text())
    assert [(p["rule"], p["row"], p["column"], p["value"]) for p in reason["problems"]] == [
        ("invalid_pdsa_stage", 2, "pdsa_stage", "later")
    ]


def test_a_report_sheet_with_personal_data_keeps_the_workbook_only_in_quarantine(settings):
    workbook(settings.landing / "BARTS_2024-05.xlsx", [row(PERSONAL["NHS number"])])
    result = ingest(settings)
    assert result.rows_loaded == 7 * 18  # the numbers load
    assert not list(settings.raw.rglob("*.xlsx"))
    assert len(list(settings.quarantine.glob("*__BARTS_2024-05.xlsx"))) == 1
    assert query(settings, "select stored_path like 'quarantine/%' from raw.files") == [(True,)]
    assert SECRET["NHS number"] not in everything_written(settings)


def test_a_bad_data_sheet_does_not_refuse_the_report(settings):
    path = workbook(settings.landing / "BARTS_2024-05.xlsx", [row(CLEAN)])
    from openpyxl import load_workbook

    wb = load_workbook(path)
    wb["data"]["E2"] = "lots"
    wb.save(path)
    result = ingest(settings)
    assert len(result.quarantined) == 1 and result.rows_loaded == 0
    assert query(settings, "select outcome, row_count from raw.report_files") == [("accepted", 1)]


@pytest.mark.parametrize("kind", list(PERSONAL))
def test_a_report_file_with_personal_data_is_quarantined_and_its_value_written_nowhere(settings, kind):
    write_report(settings.landing / "BARTS_2024-05_report.csv", [row(PERSONAL[kind])])
    result = ingest(settings)
    assert len(result.quarantined) == 1 and not list(settings.raw.rglob("*_report.csv"))
    reason = next(settings.quarantine.glob("*.reason.txt")).read_text()
    assert "row 2" in reason and "column 'narrative'" in reason
    assert SECRET[kind] not in everything_written(settings)


def test_a_report_file_is_kept_in_raw_and_does_not_count_as_a_return(settings):
    write_report(settings.landing / "BARTS_2024-05_report.csv", [row(CLEAN)])
    write_csv(settings.landing / "BARTS_2024-05.csv", good_table(REF, site="BARTS", month=date(2024, 5, 1)))
    result = ingest(settings)
    assert len(result.accepted) == 2 and len(result.reports) == 1
    assert len(list(settings.raw.rglob("*_report.csv"))) == 1
    assert query(settings, "select count(*) from raw.submissions") == [(1,)]
    assert query(
        settings,
        "select r.site_code, pdsa_stage, sheet is null from raw.report_rows r join raw.report_files using (checksum)",
    ) == [("BARTS", "do", True)]


# --- sample reports, settings --------------------------------------------------------------------


def test_sample_reports_are_deterministic_plausible_and_accepted(tmp_path):
    written = {}
    for run in ("a", "b"):
        dest = tmp_path / run
        write_returns(dest)
        paths = write_reports(dest)
        written[run] = {p.name: p.read_bytes() for p in paths}
    assert written["a"] == written["b"]
    names = list(written["a"])
    assert len(names) == 120 and any(n.endswith(".xlsx") for n in names) and any("_report.csv" in n for n in names)
    parsed = parse_with_reports(sorted((tmp_path / "a").iterdir()), REF, TODAY)
    reports = [p.report for p in parsed if p.report is not None]
    assert len(reports) == 120 and all(r.accepted for r in reports), [r.problems for r in reports if not r.accepted]
    rows = [r for rep in reports for r in rep.rows]
    assert {r["measure_code"] is None for r in rows} == {True, False}  # site-wide and per measure
    assert {r["pdsa_stage"] for r in rows} >= {"plan", "do", "study", "act"}
    assert report_rows("BARTS", date(2023, 5, 1)) == []


def test_due_date_settings(tmp_path):
    s = Settings.from_env(
        {"LAN_HOME": str(tmp_path), "LAN_DUE_DAY": "20", "LAN_RUN_DATE": "2025-03-02", "LAN_REPORTING_END": "2024-12"}
    )
    assert (s.due_day, s.run_date, s.today, s.reporting_end) == (
        20,
        date(2025, 3, 2),
        date(2025, 3, 2),
        date(2024, 12, 1),
    )
    assert Settings.from_env({"LAN_HOME": str(tmp_path)}).due_day == 15
    with pytest.raises(ValueError):
        Settings.from_env({"LAN_HOME": str(tmp_path), "LAN_DUE_DAY": "31"})


def test_a_sample_home_judges_overdue_returns_on_the_sample_clock(tmp_path):
    (tmp_path / "SAMPLE_DATA").write_text(f"seeded\nLAN_RUN_DATE={sample_clock(15):%Y-%m-%d}\n")
    assert Settings.from_env({"LAN_HOME": str(tmp_path)}).today == date(2025, 1, 15)
    assert Settings.from_env({"LAN_HOME": str(tmp_path), "LAN_RUN_DATE": "2026-01-01"}).today == date(2026, 1, 1)
    os.remove(tmp_path / "SAMPLE_DATA")
    assert Settings.from_env({"LAN_HOME": str(tmp_path)}).run_date is None


def test_the_bad_file_corpus_holds_report_refusals(tmp_path):
    from tests.fixtures.bad_files import BAD_FILE_RULES, write_bad_files

    corpus = write_bad_files(tmp_path, TODAY)
    for key in ("report_invalid_pdsa_stage", "report_personal_data"):
        report = parse_report(corpus[key], REF, TODAY)
        assert rules(report) == {BAD_FILE_RULES[key][0]} and BAD_FILE_RULES[key][1] == "report"
    assert "7946" not in json.dumps(
        [p.to_dict() for p in parse_report(corpus["report_personal_data"], REF, TODAY).problems]
    )
