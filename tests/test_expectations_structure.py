"""The structural suite: each rule passes on a valid file and fails, with the right Problem, on a
broken one. One GX run per call, over all the files given."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from expectations import suites as S
from expectations import validate as V
from expectations.validate import check_structure
from ingest.parsed import ROW_DTYPES
from ingest.problems import Problem
from ingest.reference import load_reference

REF = load_reference()
TODAY = date(2024, 3, 15)  # March 2024 has not ended; February has


def rows(*records: dict, file_name: str = "BARTS_2024-02.csv") -> pd.DataFrame:
    """Parsed rows; each record overrides a valid default row. source_row counts from 2."""
    base = {
        "file_name": file_name,
        "site_code": "BARTS",
        "month_start_date": datetime(2024, 2, 1),
        "measure_code": "PPH1500",
        "numerator": 3,
        "denominator": 40,
        "extra_columns": pd.NA,
    }
    out = []
    for i, record in enumerate(records):
        row = dict(base, ethnic_code=REF.ethnic_codes[i % len(REF.ethnic_codes)], source_row=i + 2)
        row.update(record)
        out.append(row)
    frame = pd.DataFrame(out, columns=list(ROW_DTYPES))
    frame["month_start_date"] = pd.to_datetime(frame["month_start_date"])
    return frame.astype(ROW_DTYPES)


def valid(n: int = 4, **kw) -> pd.DataFrame:
    return rows(*[{} for _ in range(n)], **kw)


def only(problems: list[Problem], rule: str) -> list[Problem]:
    return [p for p in problems if p.rule == rule]


def test_valid_rows_have_no_problems():
    assert check_structure(valid(18), REF, TODAY) == []


def test_empty_rows_have_no_problems():
    assert check_structure(valid(0), REF, TODAY) == []


@pytest.mark.parametrize(
    "column, rule, bad, contract, hint",
    [
        ("site_code", S.UNKNOWN_SITE, "BARTZ", "site_code", "BARTS, BNSSG, BSOL"),
        ("measure_code", S.UNKNOWN_MEASURE, "PPH999", "measure_code", "GDMDIAG"),
        ("ethnic_code", S.INVALID_ETHNIC_CATEGORY, "Q", "ethnic_category", "A, B, C"),
    ],
)
def test_unknown_codes(column, rule, bad, contract, hint):
    problems = check_structure(rows({}, {column: bad}, {}), REF, TODAY)
    assert problems == [Problem("BARTS_2024-02.csv", rule, problems[0].message, 3, contract, bad)]
    assert hint in problems[0].message and "expected" in problems[0].message


def test_missing_site_code_is_unknown_site():
    [problem] = check_structure(rows({}, {"site_code": pd.NA}), REF, TODAY)
    assert (problem.rule, problem.row, problem.column, problem.value) == (S.UNKNOWN_SITE, 3, "site_code", None)
    assert problem.message.startswith("missing site code")


@pytest.mark.parametrize("column", ["numerator", "denominator"])
def test_negative_count(column):
    problems = check_structure(
        rows({}, {}, {column: -1, "numerator": -1} if column == "numerator" else {column: -1, "numerator": pd.NA}),
        REF,
        TODAY,
    )
    [problem] = only(problems, S.NEGATIVE_COUNT)
    assert (problem.row, problem.column, problem.value) == (4, column, "-1")
    assert "0 or more" in problem.message


def test_numerator_above_denominator():
    problems = check_structure(
        rows(
            {"numerator": 40, "denominator": 40},  # equal: fine
            {"numerator": 41, "denominator": 40},
            {"numerator": 41, "denominator": pd.NA},  # not submitted: ignored
            {"numerator": pd.NA, "denominator": 0},
        ),
        REF,
        TODAY,
    )
    assert [(p.rule, p.row, p.column, p.value) for p in problems] == [
        (S.NUMERATOR_ABOVE_DENOMINATOR, 3, "numerator", "41")
    ]
    assert "denominator 40" in problems[0].message


def test_duplicate_key_names_both_rows():
    frame = rows({"ethnic_code": "A"}, {"ethnic_code": "B"}, {"ethnic_code": "A"})
    problems = check_structure(frame, REF, TODAY)
    assert [(p.rule, p.row, p.value) for p in problems] == [
        (S.DUPLICATE_KEY, 2, "BARTS 2024-02 PPH1500 A"),
        (S.DUPLICATE_KEY, 4, "BARTS 2024-02 PPH1500 A"),
    ]
    assert all("rows 2 and 4" in p.message for p in problems)
    assert problems[0].column == "site_code, period, measure_code, ethnic_category"


def test_same_key_in_two_files_is_a_resubmission_not_a_duplicate():
    frame = pd.concat([valid(3), valid(3, file_name="BARTS_2024-02_v2.csv")], ignore_index=True)
    assert check_structure(frame, REF, TODAY) == []


def test_future_period():
    frame = rows(
        {"month_start_date": datetime(2024, 2, 1)},  # ended
        {"month_start_date": datetime(2024, 3, 1)},  # this month: not ended
        {"month_start_date": datetime(2031, 1, 1)},
    )
    problems = check_structure(frame, REF, TODAY)
    assert [(p.rule, p.row, p.column, p.value) for p in problems] == [
        (S.FUTURE_PERIOD, 3, "period", "2024-03"),
        (S.FUTURE_PERIOD, 4, "period", "2031-01"),
    ]
    assert "February 2024 or earlier" in problems[0].message


def test_missing_period():
    [problem] = check_structure(rows({}, {"month_start_date": pd.NaT}), REF, TODAY)
    assert (problem.rule, problem.row, problem.column, problem.value) == (S.INVALID_PERIOD, 3, "period", None)


def test_missing_column_is_reported_per_file_and_nothing_else_breaks():
    frame = pd.concat([valid(2), valid(2, file_name="BSOL_2024-02.csv")]).drop(columns="ethnic_code")
    problems = check_structure(frame, REF, TODAY)
    assert [(p.file_name, p.rule, p.row, p.column) for p in problems] == [
        ("BARTS_2024-02.csv", S.MISSING_COLUMN, None, "ethnic_category"),
        ("BSOL_2024-02.csv", S.MISSING_COLUMN, None, "ethnic_category"),
    ]


def test_counts_must_be_whole_numbers():
    frame = valid(2)
    frame["numerator"] = frame["numerator"].astype("float64")
    [problem] = check_structure(frame, REF, TODAY)
    assert (problem.rule, problem.column, problem.value) == (S.WRONG_COLUMN_TYPE, "numerator", "float64")
    assert "whole numbers" in problem.message


def test_many_files_in_one_gx_run(monkeypatch):
    calls = []
    real = V.run_suite
    monkeypatch.setattr(V, "run_suite", lambda *a, **k: calls.append(a[1].name) or real(*a, **k))
    frame = pd.concat(
        [
            rows({}, {"site_code": "NOPE"}, file_name="BARTS_2024-02.csv"),
            valid(3, file_name="BSOL_2024-02.csv"),
            rows({"numerator": 9, "denominator": 1}, file_name="ELFT_2024-02.csv"),
        ],
        ignore_index=True,
    )
    problems = check_structure(frame, REF, TODAY)
    assert calls == [S.STRUCTURE_SUITE]
    assert [(p.file_name, p.rule, p.row) for p in problems] == [
        ("BARTS_2024-02.csv", S.UNKNOWN_SITE, 3),
        ("ELFT_2024-02.csv", S.NUMERATOR_ABOVE_DENOMINATOR, 2),
    ]


def test_every_structure_expectation_has_a_rule():
    suite = S.structure_suite(REF, TODAY)
    rules = {e.meta["rule"] for e in suite.expectations}
    assert rules == set(S.STRUCTURE_RULES)
    future = [e for e in suite.expectations if e.meta["rule"] == S.FUTURE_PERIOD][0]
    assert future.max_value == datetime(2024, 3, 1) and future.strict_max
