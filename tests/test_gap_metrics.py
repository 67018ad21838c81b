"""The dbt models gap_metrics and gap_metrics_by_ethnic_category, on small hand-built warehouses where every
expected value is worked out by hand.

The models' SQL is what dbt compiles (one ``dbt compile`` per session, publish.dbt_compiled), run here in
in-memory DuckDB databases holding the marts the models read, so that many small warehouses cost seconds.
The dbt vars become literal strings in that SQL, so each build substitutes its own reference group and
programme start for the placeholders compiled in. The statistics (dbt macros) are checked against public
peers in test_statistics_peers.py; here the expected intervals are recomputed from textbook formulas written
out inline, so that the wiring (which count goes where, the multiplier, the reference) is checked
independently.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml

from publish.dbt_compiled import DBT_PROJECT_DIR, GAP_MODELS, CompiledModel, compile_models, run_compiled, unqualified

MARTS_DIR = DBT_PROJECT_DIR / "models" / "marts"


def _yml_columns(name: str) -> list[dict]:
    return yaml.safe_load((MARTS_DIR / f"{name}.yml").read_text())["models"][0]["columns"]


#: The published column order: the models' contracts.
GAP_COLUMNS = [c["name"] for c in _yml_columns("gap_metrics")]
GAP_CATEGORY_COLUMNS = [c["name"] for c in _yml_columns("gap_metrics_by_ethnic_category")]
REFERENCE_PLACEHOLDER = "reference-group-placeholder"
START_PLACEHOLDER = "1901-01"
_COMPILED: list[CompiledModel] = []
DATA_TESTS = ("gap_reference_group_is_known", "gap_periods_are_contiguous")
_DATE = pd.ArrowDtype(pa.date32())


def compiled_models() -> list[CompiledModel]:
    """dim_month, the gap models and their data tests, compiled once with placeholder vars."""
    if not _COMPILED:
        work = Path(tempfile.mkdtemp(prefix="gap-models-"))
        _COMPILED.extend(
            compile_models(
                ["dim_month", *GAP_MODELS, *DATA_TESTS],
                work,
                {"reference_group": REFERENCE_PLACEHOLDER, "programme_start": START_PLACEHOLDER},
            )
        )
    return _COMPILED


def _with_vars(model: CompiledModel, reference_group: str, programme_start: date) -> CompiledModel:
    sql = model.sql.replace(REFERENCE_PLACEHOLDER, reference_group)
    sql = sql.replace(f"'{START_PLACEHOLDER}'", f"'{programme_start:%Y-%m}'")
    return dataclasses.replace(model, sql=sql)


def build_gap_metrics(
    con: duckdb.DuckDBPyConnection,
    reference_group: str = "White",
    programme_start: date = date(2024, 1, 1),
    level: str = "group",
) -> pd.DataFrame:
    """Build dim_month and the gap models in `con` (vars as given) and read one gap table in contract order."""
    models = [_with_vars(m, reference_group, programme_start) for m in compiled_models()]
    run_compiled(con, [m for m in models if m.name not in DATA_TESTS])
    table, columns = (
        ("gap_metrics", GAP_COLUMNS) if level == "group" else ("gap_metrics_by_ethnic_category", GAP_CATEGORY_COLUMNS)
    )
    arrow = con.sql(f"select {', '.join(columns)} from marts.{table}").to_arrow_table()
    return arrow.to_pandas(types_mapper={pa.date32(): _DATE}.get)


def reference_group_problems(con: duckdb.DuckDBPyConnection, reference_group: str) -> int:
    """Rows returned by the dbt test gap_reference_group_is_known (0 = passes)."""
    return data_test_rows(con, "gap_reference_group_is_known", reference_group)


def data_test_rows(con: duckdb.DuckDBPyConnection, name: str, reference_group: str = "White") -> int:
    """Rows returned by the dbt data test `name` (0 = passes)."""
    test = next(m for m in compiled_models() if m.name == name)
    return len(con.sql(unqualified(_with_vars(test, reference_group, date(2024, 1, 1)))).fetchall())


Z95 = 1.959963984540054

ETHNIC = [
    ("A", "White - British", "White", True),
    ("B", "White - Irish", "White", True),
    ("D", "Mixed - White and Black Caribbean", "Mixed", True),
    ("H", "Asian or Asian British - Indian", "Asian or Asian British", True),
    ("M", "Black or Black British - Caribbean", "Black or Black British", True),
    ("N", "Black or Black British - African", "Black or Black British", True),
    ("R", "Other Ethnic Groups - Chinese", "Any other ethnic group", True),
    ("Z", "Not stated", "Not stated", False),
    ("99", "Not known", "Not known", False),
]
KNOWN_GROUPS = ["White", "Mixed", "Asian or Asian British", "Black or Black British", "Any other ethnic group"]
KNOWN_CODES = ["A", "B", "D", "H", "M", "N", "R"]
MEASURES = [  # code, multiplier, higher_is_better
    ("PPH", 1000, False),
    ("BOOK", 100, True),
    ("DIAG", 100, None),
]
SPEC_COLUMNS = [
    "geography_level",
    "site_code",
    "measure_code",
    "period_type",
    "period_label",
    "period_start",
    "period_end",
    "ethnic_group",
    "numerator",
    "denominator",
    "rate",
    "rate_lower_95",
    "rate_upper_95",
    "reference_group",
    "reference_rate",
    "rate_ratio",
    "rate_ratio_lower_95",
    "rate_ratio_upper_95",
    "rate_difference",
    "rate_difference_lower_95",
    "rate_difference_upper_95",
    "excess_events",
    "gap_assessment",
]
FLOAT_COLUMNS = [
    "rate",
    "rate_lower_95",
    "rate_upper_95",
    "reference_rate",
    "rate_ratio",
    "rate_ratio_lower_95",
    "rate_ratio_upper_95",
    "rate_difference",
    "rate_difference_lower_95",
    "rate_difference_upper_95",
    "excess_events",
]


def month(text: str) -> date:
    return date(int(text[:4]), int(text[5:7]), 1)


def months_between(first: str, last: str) -> list[str]:
    return [d.strftime("%Y-%m") for d in pd.date_range(first + "-01", last + "-01", freq="MS")]


def warehouse(facts: list[tuple]) -> duckdb.DuckDBPyConnection:
    """In-memory marts. A fact is (site, 'YYYY-MM', measure, ethnic_code, numerator, denominator[, meets])."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute("""CREATE TABLE marts.dim_ethnic_category
                   (ethnic_code VARCHAR, ethnic_label VARCHAR, ethnic_group VARCHAR, is_known BOOLEAN)""")
    con.executemany("INSERT INTO marts.dim_ethnic_category VALUES (?, ?, ?, ?)", ETHNIC)
    con.execute("""CREATE TABLE marts.dim_measure
                   (measure_code VARCHAR, condition_code VARCHAR, measure_name VARCHAR,
                    numerator_definition VARCHAR, denominator_definition VARCHAR,
                    multiplier INTEGER, unit VARCHAR, higher_is_better BOOLEAN)""")
    con.executemany(
        "INSERT INTO marts.dim_measure VALUES (?, 'C', ?, 'n', 'd', ?, 'u', ?)",
        [(code, code, mult, hib) for code, mult, hib in MEASURES],
    )
    con.execute("""CREATE TABLE marts.fct_measure_monthly
                   (site_code VARCHAR, month_start_date DATE, measure_code VARCHAR, ethnic_code VARCHAR,
                    numerator BIGINT, denominator BIGINT, submission_id VARCHAR,
                    meets_completeness_threshold BOOLEAN)""")
    rows = []
    for fact in facts:
        site, ym, measure, code, num, den, *rest = fact
        rows.append((site, month(ym), measure, code, num, den, f"{site}-{ym}", rest[0] if rest else True))
    if rows:
        fct = pd.DataFrame(
            rows,
            columns=[
                "site_code",
                "month_start_date",
                "measure_code",
                "ethnic_code",
                "numerator",
                "denominator",
                "submission_id",
                "meets_completeness_threshold",
            ],
        )
        fct["numerator"] = fct["numerator"].astype("Int64")
        fct["denominator"] = fct["denominator"].astype("Int64")
        con.register("fct_rows", fct)
        con.execute("INSERT INTO marts.fct_measure_monthly SELECT * FROM fct_rows")
        con.unregister("fct_rows")
    add_calendar_and_completeness(con)
    return con


def add_calendar_and_completeness(con: duckdb.DuckDBPyConnection) -> None:
    """The month spine dim_month is built from (2020 to 2029) and fct_ethnicity_completeness from the facts."""
    con.execute("CREATE SCHEMA IF NOT EXISTS intermediate")
    con.execute("""CREATE TABLE intermediate.int_month_spine AS
                   SELECT d::DATE AS month_start_date
                   FROM range(DATE '2020-01-01', DATE '2030-01-01', INTERVAL 1 MONTH) t(d)""")
    con.execute("""CREATE TABLE marts.fct_ethnicity_completeness AS
                   SELECT f.site_code, f.month_start_date, f.measure_code,
                          CAST(coalesce(sum(f.denominator), 0) AS BIGINT) AS denominator_total,
                          CAST(coalesce(sum(f.denominator) FILTER (WHERE e.is_known), 0) AS BIGINT)
                              AS denominator_known,
                          bool_and(f.meets_completeness_threshold) AS meets_completeness_threshold
                   FROM marts.fct_measure_monthly f JOIN marts.dim_ethnic_category e USING (ethnic_code)
                   GROUP BY ALL""")


def pick(frame: pd.DataFrame, **where) -> pd.Series:
    """The single row matching every column=value pair."""
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy()
    rows = frame[mask]
    assert len(rows) == 1, f"{len(rows)} rows match {where}"
    return rows.iloc[0]


def wilson(x: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Textbook Wilson: (p + z^2/2n -/+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)."""
    p = x / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def katz(x1, n1, x2, n2, z: float = Z95) -> tuple[float, float, float]:
    rr = (x1 / n1) / (x2 / n2)
    se = math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
    return rr, rr * math.exp(-z * se), rr * math.exp(z * se)


def newcombe(x1, n1, x2, n2) -> tuple[float, float, float]:
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1)
    l2, u2 = wilson(x2, n2)
    d = p1 - p2
    return d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def assert_no_inf(frame: pd.DataFrame) -> None:
    values = frame[FLOAT_COLUMNS].to_numpy(dtype=float)
    assert not np.isinf(values).any()
    rates = frame.loc[frame["denominator"] > 0, ["rate", "rate_lower_95", "rate_upper_95"]].to_numpy(dtype=float)
    assert np.isfinite(rates).all(), "NaN/inf rate where the denominator is > 0"


# ------------------------------------------------------------------------------------------
# One month, two sites: every number by hand
# ------------------------------------------------------------------------------------------
ONE_MONTH = [
    # site S1: White = A 10/100 + B 5/50 = 15/150; Black = M 20/100; Z is unknown and ignored
    ("S1", "2024-03", "PPH", "A", 10, 100),
    ("S1", "2024-03", "PPH", "B", 5, 50),
    ("S1", "2024-03", "PPH", "M", 20, 100),
    ("S1", "2024-03", "PPH", "Z", 7, 30),
    ("S1", "2024-03", "PPH", "H", None, 40),  # numerator missing: excluded (denominator too)
    ("S1", "2024-03", "PPH", "R", 3, None),  # denominator missing: excluded
    # site S2: White = A 3/60; Black = N 9/40; Asian = H 0/25
    ("S2", "2024-03", "PPH", "A", 3, 60),
    ("S2", "2024-03", "PPH", "N", 9, 40),
    ("S2", "2024-03", "PPH", "H", 0, 25),
]


@pytest.fixture(scope="module")
def one_month() -> pd.DataFrame:
    return build_gap_metrics(warehouse(ONE_MONTH))


def test_columns_and_types(one_month: pd.DataFrame) -> None:
    assert list(one_month.columns) == GAP_COLUMNS
    assert set(SPEC_COLUMNS) <= set(GAP_COLUMNS)
    assert one_month["meets_completeness_threshold"].dtype == bool
    assert one_month["months_flagged"].dtype == np.int64 and one_month["n_months"].dtype == np.int64
    # period dates come back into DuckDB as DATE, not TIMESTAMP
    con = duckdb.connect()
    con.register("gap", one_month)
    types = dict(zip(["period_start", "period_end"], con.sql("SELECT period_start, period_end FROM gap").types))
    assert str(types["period_start"]) == "DATE" and str(types["period_end"]) == "DATE"
    assert pick(one_month, site_code="S1", period_type="month", ethnic_group="White")["period_start"] == date(
        2024, 3, 1
    )


def test_hand_computed_site_month(one_month: pd.DataFrame) -> None:
    black = pick(
        one_month,
        site_code="S1",
        measure_code="PPH",
        period_type="month",
        period_label="2024-03",
        ethnic_group="Black or Black British",
    )
    assert black["geography_level"] == "site"
    assert (black["numerator"], black["denominator"]) == (20, 100)
    assert (black["reference_numerator"], black["reference_denominator"]) == (15, 150)
    assert black["rate"] == pytest.approx(200.0)  # 20/100 per 1000
    assert black["reference_rate"] == pytest.approx(100.0)  # 15/150 per 1000
    lo, hi = wilson(20, 100)
    assert black["rate_lower_95"] == pytest.approx(1000 * lo, rel=1e-12)
    assert black["rate_upper_95"] == pytest.approx(1000 * hi, rel=1e-12)
    rr, rr_lo, rr_hi = katz(20, 100, 15, 150)
    assert black["rate_ratio"] == pytest.approx(2.0)
    assert black["rate_ratio_lower_95"] == pytest.approx(rr_lo, rel=1e-12)
    assert black["rate_ratio_upper_95"] == pytest.approx(rr_hi, rel=1e-12)
    d, d_lo, d_hi = newcombe(20, 100, 15, 150)
    assert black["rate_difference"] == pytest.approx(100.0)
    assert black["rate_difference_lower_95"] == pytest.approx(1000 * d_lo, rel=1e-12)
    assert black["rate_difference_upper_95"] == pytest.approx(1000 * d_hi, rel=1e-12)
    assert black["excess_events"] == pytest.approx(20 - 100 * 15 / 150)  # 10
    # interval 1.08 to 3.7 excludes 1; PPH: higher is worse
    assert rr_lo > 1 and black["gap_assessment"] == "worse"
    assert black["reference_group"] == "White"
    assert (black["n_months"], black["months_flagged"], black["meets_completeness_threshold"]) == (1, 0, True)
    # completeness of the site-month-measure: every denominator given (H's too), Z unknown: 290 of 320
    assert black["completeness"] == pytest.approx(290 / 320) and black["flagged_share"] == 0.0


def test_reference_row(one_month: pd.DataFrame) -> None:
    white = pick(one_month, site_code="S1", period_type="month", ethnic_group="White")
    assert white["gap_assessment"] == "reference" and bool(white["is_reference"])
    assert (white["numerator"], white["denominator"]) == (15, 150)
    assert white["rate"] == pytest.approx(100.0)
    assert white["rate_ratio"] == 1.0 and white["rate_difference"] == 0.0 and white["excess_events"] == 0.0
    for column in (
        "rate_ratio_lower_95",
        "rate_ratio_upper_95",
        "rate_difference_lower_95",
        "rate_difference_upper_95",
    ):
        assert np.isnan(white[column]), column  # a self-comparison has no interval (documented)
    assert np.isfinite([white["rate_lower_95"], white["rate_upper_95"]]).all()


def test_unknown_and_null_rows_are_excluded(one_month: pd.DataFrame) -> None:
    asian = pick(one_month, site_code="S1", period_type="month", ethnic_group="Asian or Asian British")
    other = pick(one_month, site_code="S1", period_type="month", ethnic_group="Any other ethnic group")
    assert (asian["numerator"], asian["denominator"]) == (0, 0)
    assert (other["numerator"], other["denominator"]) == (0, 0)
    assert set(one_month["ethnic_group"]) == set(KNOWN_GROUPS)  # no "Not stated" / "Not known"


def test_zero_counts_are_not_calculable_without_inf(one_month: pd.DataFrame) -> None:
    asian_s2 = pick(one_month, site_code="S2", period_type="month", ethnic_group="Asian or Asian British")
    assert (asian_s2["numerator"], asian_s2["denominator"]) == (0, 25)
    assert asian_s2["rate"] == 0.0 and asian_s2["rate_lower_95"] == 0.0
    assert asian_s2["rate_upper_95"] == pytest.approx(1000 * wilson(0, 25)[1])
    assert asian_s2["gap_assessment"] == "not calculable"
    assert np.isnan(asian_s2["rate_ratio"])
    for column in (
        "rate_ratio_lower_95",
        "rate_ratio_upper_95",
        "rate_difference_lower_95",
        "rate_difference_upper_95",
    ):
        assert np.isnan(asian_s2[column])
    assert asian_s2["rate_difference"] == pytest.approx(0 - 1000 * 3 / 60)  # both rates exist
    assert asian_s2["excess_events"] == pytest.approx(0 - 25 * 3 / 60)
    empty = pick(one_month, site_code="S1", period_type="month", ethnic_group="Asian or Asian British")
    assert empty["gap_assessment"] == "not calculable"
    assert np.isnan(empty["rate"]) and np.isnan(empty["rate_difference"])
    assert empty["excess_events"] == 0.0  # 0 - 0 x reference proportion
    assert_no_inf(one_month)


def test_empty_group_has_a_row_everywhere(one_month: pd.DataFrame) -> None:
    keys = ["geography_level", "site_code", "measure_code", "period_type", "period_label"]
    per_key = one_month.groupby(keys)["ethnic_group"].agg(lambda s: sorted(s))
    assert all(groups == sorted(KNOWN_GROUPS) for groups in per_key)
    mixed = one_month[one_month["ethnic_group"] == "Mixed"]
    assert len(mixed) == len(per_key) and (mixed["denominator"] == 0).all()
    assert (mixed["gap_assessment"] == "not calculable").all()


def test_lan_row_hand_computed(one_month: pd.DataFrame) -> None:
    lan = one_month[one_month["geography_level"] == "lan"]
    assert set(lan["site_code"]) == {"LAN"}
    black = pick(lan, period_type="month", ethnic_group="Black or Black British")
    assert (black["numerator"], black["denominator"]) == (29, 140)
    assert (black["reference_numerator"], black["reference_denominator"]) == (18, 210)
    rr, lo, hi = katz(29, 140, 18, 210)
    assert black["rate_ratio"] == pytest.approx(rr) and black["rate_ratio_lower_95"] == pytest.approx(lo)
    asian = pick(lan, period_type="month", ethnic_group="Asian or Asian British")
    assert (asian["numerator"], asian["denominator"]) == (0, 25)


def test_period_types_for_one_month(one_month: pd.DataFrame) -> None:
    # one month of data: no complete quarter, no 12-month window; March 2024 is in the intervention phase
    assert set(one_month["period_type"]) == {"month", "programme_phase"}
    phase = pick(one_month, site_code="S1", period_type="programme_phase", ethnic_group="White")
    assert phase["period_label"] == "intervention"
    assert (phase["period_start"], phase["period_end"]) == (date(2024, 3, 1), date(2024, 3, 1))


# ------------------------------------------------------------------------------------------
# Direction
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "black, expected",
    [
        ((100, 1000), {"PPH": "worse", "BOOK": "better", "DIAG": "higher"}),  # 10 % vs 2 %
        ((2, 1000), {"PPH": "better", "BOOK": "worse", "DIAG": "lower"}),  # 0.2 % vs 2 %
        ((22, 1000), {"PPH": "no clear difference", "BOOK": "no clear difference", "DIAG": "no clear difference"}),
    ],
)
def test_direction_reading(black, expected) -> None:
    facts = []
    for measure, _, _ in MEASURES:
        facts += [("S1", "2024-02", measure, "A", 20, 1000), ("S1", "2024-02", measure, "M", *black)]
    frame = build_gap_metrics(warehouse(facts))
    for measure, assessment in expected.items():
        row = pick(
            frame,
            geography_level="site",
            measure_code=measure,
            period_type="month",
            ethnic_group="Black or Black British",
        )
        assert row["gap_assessment"] == assessment, measure
        rr, lo, hi = katz(black[0], black[1], 20, 1000)
        assert row["rate_ratio_lower_95"] == pytest.approx(lo) and row["rate_ratio_upper_95"] == pytest.approx(hi)
    hib = frame.drop_duplicates("measure_code").set_index("measure_code")["higher_is_better"]
    assert hib["PPH"] is not pd.NA and not hib["PPH"]
    assert hib["BOOK"] is not pd.NA and hib["BOOK"]
    assert pd.isna(hib["DIAG"])


# ------------------------------------------------------------------------------------------
# Periods over 18 months: rolling windows, quarters, phases, completeness flags
# ------------------------------------------------------------------------------------------
SPAN = months_between("2023-01", "2024-06")  # 18 months


def _long_facts() -> list[tuple]:
    facts = []
    for i, ym in enumerate(SPAN):
        # S1 every month: White (A) i+1 of 100, Black (N) 2i+1 of 50
        facts.append(("S1", ym, "BOOK", "A", i + 1, 100, ym != "2023-05"))
        facts.append(("S1", ym, "BOOK", "N", 2 * i + 1, 50, ym != "2023-05"))
        # S2 only from 2023-07, odd months of the year skipped
        if ym >= "2023-07" and int(ym[5:]) % 2 == 0:
            facts.append(("S2", ym, "BOOK", "A", 5, 40, ym != "2024-04"))
            facts.append(("S2", ym, "BOOK", "N", 1, 10, ym != "2024-04"))
    return facts


@pytest.fixture(scope="module")
def long_frame() -> pd.DataFrame:
    return build_gap_metrics(warehouse(_long_facts()))


def _sum(facts, site, code, months_in):
    num = sum(f[4] for f in facts if (site is None or f[0] == site) and f[3] == code and f[1] in months_in)
    den = sum(f[5] for f in facts if (site is None or f[0] == site) and f[3] == code and f[1] in months_in)
    return num, den


def test_rolling_12_month_windows(long_frame: pd.DataFrame) -> None:
    facts = _long_facts()
    rolling = long_frame[long_frame["period_type"] == "rolling_12_months"]
    # first possible end = 12th month of data (2023-12); last = 2024-06 -> 7 windows
    assert sorted(set(rolling["period_label"])) == months_between("2023-12", "2024-06")
    for end in months_between("2023-12", "2024-06"):
        window = SPAN[SPAN.index(end) - 11 : SPAN.index(end) + 1]
        assert len(window) == 12
        for site in ("S1", "S2", None):
            geo = {"site_code": site} if site else {"geography_level": "lan"}
            black = pick(rolling, period_label=end, ethnic_group="Black or Black British", **geo)
            white = pick(rolling, period_label=end, ethnic_group="White", **geo)
            assert (black["numerator"], black["denominator"]) == _sum(facts, site, "N", window)
            assert (white["numerator"], white["denominator"]) == _sum(facts, site, "A", window)
            assert (black["reference_numerator"], black["reference_denominator"]) == _sum(facts, site, "A", window)
            assert black["period_start"] == month(window[0]) and black["period_end"] == month(end)
    w = pick(rolling, site_code="S1", period_label="2024-03", ethnic_group="White")
    assert (w["period_start"], w["period_end"]) == (date(2023, 4, 1), date(2024, 3, 1))
    assert w["numerator"] == sum(range(4, 16))  # months 2023-04 (i=3) .. 2024-03 (i=14): i+1 = 4..15
    assert w["n_months"] == 12 and w["months_flagged"] == 1  # 2023-05
    # one flagged month does not flag the window: its own completeness (all known) meets the threshold
    assert w["meets_completeness_threshold"] and w["completeness"] == 1.0
    assert w["flagged_share"] == pytest.approx(150 / (12 * 150))
    w = pick(rolling, site_code="S1", period_label="2024-06", ethnic_group="White")
    assert w["months_flagged"] == 0 and w["meets_completeness_threshold"]
    s2 = pick(rolling, site_code="S2", period_label="2023-12", ethnic_group="White")
    assert s2["n_months"] == 3  # 2023-08, -10, -12


def test_quarter_labels_and_completeness(long_frame: pd.DataFrame) -> None:
    quarters = long_frame[
        (long_frame["period_type"] == "quarter")
        & (long_frame["site_code"] == "S1")
        & (long_frame["ethnic_group"] == "White")
    ]
    # 2022/23 Q4 = Jan-Mar 2023 is complete; Apr-Jun 2024 = 2024/25 Q1 is complete
    assert list(quarters["period_label"]) == [
        "2022/23 Q4",
        "2023/24 Q1",
        "2023/24 Q2",
        "2023/24 Q3",
        "2023/24 Q4",
        "2024/25 Q1",
    ]
    q4 = pick(quarters, period_label="2023/24 Q4")  # January 2024 is 2023/24 Q4
    assert (q4["period_start"], q4["period_end"]) == (date(2024, 1, 1), date(2024, 3, 1))
    assert q4["numerator"] == 13 + 14 + 15  # i = 12, 13, 14
    q1 = pick(quarters, period_label="2023/24 Q1")
    assert (q1["period_start"], q1["period_end"]) == (date(2023, 4, 1), date(2023, 6, 1))
    assert q1["months_flagged"] == 1 and q1["meets_completeness_threshold"]  # 2023-05 flagged, the quarter not
    assert q1["flagged_share"] == pytest.approx(1 / 3)
    q3 = pick(quarters, period_label="2023/24 Q3")
    assert (q3["period_start"], q3["period_end"]) == (date(2023, 10, 1), date(2023, 12, 1))
    # S2 has no data before 2023-07: its first quarter is 2023/24 Q2 (only August), n_months 1
    s2 = long_frame[
        (long_frame["period_type"] == "quarter")
        & (long_frame["site_code"] == "S2")
        & (long_frame["ethnic_group"] == "White")
    ]
    assert list(s2["period_label"]) == ["2023/24 Q2", "2023/24 Q3", "2023/24 Q4", "2024/25 Q1"]
    assert list(s2["n_months"]) == [1, 2, 1, 2]
    lan = pick(
        long_frame, geography_level="lan", period_type="quarter", period_label="2024/25 Q1", ethnic_group="White"
    )
    assert lan["months_flagged"] == 1 and lan["n_months"] == 3  # S2's April 2024


def test_quarter_labels_partial_data_range() -> None:
    # data Feb 2024 .. Jul 2024: 2023/24 Q4 (Jan-Mar) and 2024/25 Q2 (Jul-Sep) are incomplete
    facts = [("S1", ym, "PPH", "A", 1, 10) for ym in months_between("2024-02", "2024-07")]
    frame = build_gap_metrics(warehouse(facts))
    assert set(frame.loc[frame["period_type"] == "quarter", "period_label"]) == {"2024/25 Q1"}
    labels = dict(
        zip(
            frame.loc[frame["period_type"] == "month", "period_label"],
            frame.loc[frame["period_type"] == "month", "period_start"],
        )
    )
    assert labels["2024-02"] == date(2024, 2, 1)
    facts = [("S1", ym, "PPH", "A", 1, 10) for ym in months_between("2023-12", "2024-03")]
    frame = build_gap_metrics(warehouse(facts))
    assert set(frame.loc[frame["period_type"] == "quarter", "period_label"]) == {"2023/24 Q4"}


def test_programme_phase(long_frame: pd.DataFrame) -> None:
    facts = _long_facts()
    phases = long_frame[
        (long_frame["period_type"] == "programme_phase")
        & (long_frame["site_code"] == "S1")
        & (long_frame["ethnic_group"] == "Black or Black British")
    ]
    assert list(phases["period_label"]) == ["baseline", "intervention"]
    base = pick(phases, period_label="baseline")
    assert (base["period_start"], base["period_end"]) == (date(2023, 1, 1), date(2023, 12, 1))
    assert (base["numerator"], base["denominator"]) == _sum(facts, "S1", "N", SPAN[:12])
    assert base["n_months"] == 12
    inter = pick(phases, period_label="intervention")
    assert (inter["period_start"], inter["period_end"]) == (date(2024, 1, 1), date(2024, 6, 1))
    assert (inter["numerator"], inter["denominator"]) == _sum(facts, "S1", "N", SPAN[12:])
    # a configurable start, given mid-month: the month it falls in is intervention
    other = build_gap_metrics(warehouse(facts), programme_start=date(2023, 7, 15))
    base = pick(other, site_code="S1", period_type="programme_phase", period_label="baseline", ethnic_group="White")
    assert (base["period_start"], base["period_end"]) == (date(2023, 1, 1), date(2023, 6, 1))
    assert base["numerator"] == sum(range(1, 7))
    # a start after the data: baseline only
    late = build_gap_metrics(warehouse(facts), programme_start=date(2030, 1, 1))
    assert set(late.loc[late["period_type"] == "programme_phase", "period_label"]) == {"baseline"}


def test_month_rows_and_flags(long_frame: pd.DataFrame) -> None:
    months = long_frame[long_frame["period_type"] == "month"]
    assert sorted(set(months.loc[months["site_code"] == "S1", "period_label"])) == SPAN
    # S2 months without data have no rows at all
    assert sorted(set(months.loc[months["site_code"] == "S2", "period_label"])) == [
        "2023-08",
        "2023-10",
        "2023-12",
        "2024-02",
        "2024-04",
        "2024-06",
    ]
    may = pick(months, site_code="S1", period_label="2023-05", ethnic_group="Mixed")
    assert (may["months_flagged"], may["meets_completeness_threshold"]) == (1, False)
    lan_apr = pick(months, geography_level="lan", period_label="2024-04", ethnic_group="White")
    assert (lan_apr["months_flagged"], lan_apr["n_months"]) == (1, 1)
    # the LAN month aggregates two site-months, one flagged: its own completeness governs
    assert lan_apr["meets_completeness_threshold"] and lan_apr["flagged_share"] == pytest.approx(50 / 200)
    assert_no_inf(long_frame)


# ------------------------------------------------------------------------------------------
# LAN = sum of sites, on a random warehouse
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def random_facts() -> list[tuple]:
    rng = np.random.default_rng(20240301)
    facts = []
    for site in ("S1", "S2", "S3", "S4"):
        for ym in months_between("2022-11", "2024-08"):
            for measure, _, _ in MEASURES:
                if rng.random() < 0.15:
                    continue  # site-month-measure not submitted
                ok = bool(rng.random() > 0.1)
                for code, *_ in ETHNIC:
                    if rng.random() < 0.2:
                        continue
                    den = int(rng.integers(0, 60))
                    num = int(rng.integers(0, den + 1))
                    if rng.random() < 0.03:
                        num = None
                    facts.append((site, ym, measure, code, num, den, ok))
    return facts


def test_lan_totals_equal_sum_of_sites(random_facts) -> None:
    frame = build_gap_metrics(warehouse(random_facts))
    keys = ["measure_code", "period_type", "period_label", "ethnic_group"]
    sites = frame[frame["geography_level"] == "site"]
    lan = frame[frame["geography_level"] == "lan"].set_index(keys)
    summed = sites.groupby(keys)[
        ["numerator", "denominator", "reference_numerator", "reference_denominator", "months_flagged"]
    ].sum()
    assert len(lan) == len(summed)
    pd.testing.assert_frame_equal(lan[summed.columns].sort_index(), summed.sort_index(), check_dtype=False)
    # an aggregate's flag is its own completeness against the threshold; a site-month keeps its own flag
    own = lan["completeness"].isna() | (lan["completeness"] >= 0.9)
    assert (lan["meets_completeness_threshold"] == own).all()
    site_months = sites[sites["period_type"] == "month"]
    assert (site_months["meets_completeness_threshold"] == (site_months["months_flagged"] == 0)).all()
    # n_months: distinct months over sites, at most the period length
    assert (
        lan["n_months"]
        <= lan.index.get_level_values("period_type").map(
            {"month": 1, "quarter": 3, "rolling_12_months": 12, "programme_phase": 999}
        )
    ).all()
    assert_no_inf(frame)
    # one LAN month by brute force from the raw facts
    use = [f for f in random_facts if f[4] is not None and f[5] is not None]
    row = pick(
        frame,
        geography_level="lan",
        measure_code="BOOK",
        period_type="month",
        period_label="2024-02",
        ethnic_group="Black or Black British",
    )
    assert row["numerator"] == sum(f[4] for f in use if f[1] == "2024-02" and f[2] == "BOOK" and f[3] in "MN")
    assert row["denominator"] == sum(f[5] for f in use if f[1] == "2024-02" and f[2] == "BOOK" and f[3] in "MN")
    assert row["reference_denominator"] == sum(
        f[5] for f in use if f[1] == "2024-02" and f[2] == "BOOK" and f[3] in ("A", "B")
    )
    # every group present for every (geography, measure, period)
    counts = frame.groupby(["geography_level", "site_code", "measure_code", "period_type", "period_label"]).size()
    assert (counts == len(KNOWN_GROUPS)).all()


def test_category_level(random_facts) -> None:
    con = warehouse(random_facts)
    groups = build_gap_metrics(con)
    cats = build_gap_metrics(con, level="category")
    assert list(cats.columns) == GAP_CATEGORY_COLUMNS
    assert set(cats["ethnic_code"]) == set(KNOWN_CODES)
    assert "reference" not in set(cats["gap_assessment"])
    assert not cats["is_reference"].any()
    keys = ["geography_level", "site_code", "measure_code", "period_type", "period_label"]
    # category counts add up to group counts; the reference is the White GROUP's total
    by_group = cats.groupby(keys + ["ethnic_group"])[["numerator", "denominator"]].sum()
    g = groups.set_index(keys + ["ethnic_group"])
    pd.testing.assert_frame_equal(
        by_group.sort_index(), g[["numerator", "denominator"]].sort_index(), check_dtype=False
    )
    white = groups[groups["ethnic_group"] == "White"].set_index(keys)
    a_rows = cats[cats["ethnic_code"] == "A"].set_index(keys)
    assert (a_rows["reference_numerator"] == white["numerator"].reindex(a_rows.index)).all()
    assert (a_rows["reference_denominator"] == white["denominator"].reindex(a_rows.index)).all()
    assert (
        pick(
            cats,
            ethnic_code="N",
            geography_level="lan",
            measure_code="PPH",
            period_type="month",
            period_label="2024-01",
        )["ethnic_label"]
        == "Black or Black British - African"
    )
    assert_no_inf(cats)


def test_other_reference_group_and_validation(random_facts) -> None:
    con = warehouse(random_facts)
    frame = build_gap_metrics(con, reference_group="Black or Black British")
    refs = frame[frame["gap_assessment"] == "reference"]
    assert set(refs["ethnic_group"]) == {"Black or Black British"}
    assert (frame["reference_group"] == "Black or Black British").all()
    # the dbt test gap_reference_group_is_known refuses a group that is not of known ethnicity
    assert reference_group_problems(con, "Black or Black British") == 0
    assert reference_group_problems(con, "Not stated") == 1
    assert reference_group_problems(con, "Purple") == 1


def test_every_gap_period_is_a_contiguous_run_of_months(random_facts) -> None:
    """int_gap_category_periods sums a period as the difference of two running totals: the dbt test
    gap_periods_are_contiguous holds int_gap_period_months to what that needs, and refuses each way to break it."""
    con = warehouse(random_facts)
    build_gap_metrics(con)
    assert data_test_rows(con, "gap_periods_are_contiguous") == 0
    periods = "intermediate.int_gap_period_months"
    con.execute(f"create table intact as select * from {periods}")
    quarter = "period_type = 'quarter' and period_label = '2023/24 Q1'"
    breaks = {
        "a month missing in the middle": f"delete from {periods} where {quarter} and month_start_date = '2023-05-01'",
        "a month listed twice": f"insert into {periods} select * from {periods} where {quarter} limit 1",
        "a month outside the period": f"update {periods} set month_start_date = '2023-03-01' where {quarter} "
        "and month_start_date = '2023-04-01'",
    }
    for why, change in breaks.items():
        con.execute(f"create or replace table {periods} as select * from intact")
        con.execute(change)
        assert data_test_rows(con, "gap_periods_are_contiguous") == 1, why


def test_empty_warehouse() -> None:
    frame = build_gap_metrics(warehouse([]))
    assert frame.empty and list(frame.columns) == GAP_COLUMNS


def test_unknown_only_month_still_has_rows() -> None:
    frame = build_gap_metrics(warehouse([("S1", "2024-05", "PPH", "Z", 3, 30), ("S1", "2024-05", "PPH", "99", 1, 5)]))
    month_rows = frame[(frame["period_type"] == "month") & (frame["geography_level"] == "site")]
    assert len(month_rows) == len(KNOWN_GROUPS)
    assert (month_rows["denominator"] == 0).all()
    assert (month_rows.loc[~month_rows["is_reference"], "gap_assessment"] == "not calculable").all()


def test_measure_missing_from_dim_measure_is_an_error() -> None:
    frame = build_gap_metrics(warehouse([("S1", "2024-05", "NOPE", "A", 3, 30)]))
    assert frame["multiplier"].isna().all()  # and the model's not_null test on multiplier fails the build
    multiplier = next(c for c in _yml_columns("gap_metrics") if c["name"] == "multiplier")
    assert "not_null" in multiplier["data_tests"]


def test_scale_one_million_rows() -> None:
    """About 1M fact rows (130 sites x 60 months x 7 measures x 18 codes): seconds, with dim_month and completeness."""
    import time

    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    # 16 known codes spread over the 5 groups, plus 2 unknown: 18 codes as in the reference list
    codes = [(f"K{i:02d}", f"label {i}", KNOWN_GROUPS[i % 5], True) for i in range(16)]
    codes += [("Z", "Not stated", "Not stated", False), ("99", "Not known", "Not known", False)]
    con.execute(
        """CREATE TABLE marts.dim_ethnic_category AS SELECT * FROM (VALUES """
        + ", ".join(f"('{c}', '{lab}', '{g}', {str(k).lower()})" for c, lab, g, k in codes)
        + ") t(ethnic_code, ethnic_label, ethnic_group, is_known)"
    )
    con.execute("""CREATE TABLE marts.dim_measure AS SELECT 'M' || i AS measure_code, 100 AS multiplier,
                   CASE i % 3 WHEN 0 THEN true WHEN 1 THEN false END AS higher_is_better
                   FROM range(7) t(i)""")
    con.execute("""CREATE TABLE marts.fct_measure_monthly AS
        SELECT 'S' || s AS site_code, CAST(DATE '2020-01-01' + to_months(m) AS DATE) AS month_start_date,
               'M' || i AS measure_code, e.ethnic_code,
               CAST(hash(s, m, i, e.ethnic_code) % 20 AS BIGINT) AS numerator,
               CAST(20 + hash(m, s, i, e.ethnic_code) % 200 AS BIGINT) AS denominator,
               'x' AS submission_id, hash(s, m, i) % 10 > 0 AS meets_completeness_threshold
        FROM range(130) a(s), range(60) b(m), range(7) c(i),
             (SELECT ethnic_code FROM marts.dim_ethnic_category) e""")
    assert con.execute("SELECT count(*) FROM marts.fct_measure_monthly").fetchone()[0] == 982_800
    add_calendar_and_completeness(con)
    started = time.perf_counter()
    frame = build_gap_metrics(con)
    elapsed = time.perf_counter() - started
    print(f"gap models on 982,800 fact rows: {len(frame):,} rows in {elapsed:.2f} s")
    assert len(frame) == 131 * 7 * (60 + 20 + 49 + 2) * 5
    assert_no_inf(frame)


def _brute_force(facts: list[tuple], programme_start: date) -> pd.DataFrame:
    """Counts per (geography, measure, period, group), the slow and obvious way, in plain Python."""
    group_of = {code: group for code, _, group, known in ETHNIC if known}
    use = [f for f in facts if f[4] is not None and f[5] is not None]
    all_months = sorted({f[1] for f in use})
    span = months_between(all_months[0], all_months[-1])

    def fq(ym: str) -> tuple[int, int]:
        y, m = int(ym[:4]), int(ym[5:])
        return (y if m >= 4 else y - 1), ((m + 8) % 12) // 3 + 1

    periods: list[tuple[str, str, list[str]]] = [("month", ym, [ym]) for ym in span]
    for ym in span:
        fy, q = fq(ym)
        members = [m for m in span if fq(m) == (fy, q)]
        if len(members) == 3 and members[0] == ym:
            periods.append(("quarter", f"{fy}/{(fy + 1) % 100:02d} Q{q}", members))
    for i in range(11, len(span)):
        periods.append(("rolling_12_months", span[i], span[i - 11 : i + 1]))
    start = programme_start.strftime("%Y-%m")
    periods.append(("programme_phase", "baseline", [m for m in span if m < start]))
    periods.append(("programme_phase", "intervention", [m for m in span if m >= start]))

    rows = []
    sites = sorted({f[0] for f in use})
    for geo in sites + [None]:
        for measure in sorted({f[2] for f in use}):
            mine = [f for f in use if (geo is None or f[0] == geo) and f[2] == measure]
            for ptype, label, members in periods:
                inside = [f for f in mine if f[1] in members]
                if not inside:
                    continue
                behind = {(f[0], f[1]) for f in inside}
                flagged = {(f[0], f[1]) for f in inside if not f[6]}
                given = [f for f in facts if f[2] == measure and (f[0], f[1]) in behind and f[5] is not None]
                total = sum(f[5] for f in given)
                known = sum(f[5] for f in given if f[3] in group_of)
                completeness = known / total if total else float("nan")
                flagged_share = sum(f[5] for f in given if (f[0], f[1]) in flagged) / total if total else float("nan")
                single = geo is not None and ptype == "month"
                meets = not flagged if single else (not total or completeness >= 0.9)
                ref = [f for f in inside if group_of.get(f[3]) == "White"]
                for group in KNOWN_GROUPS:
                    cells = [f for f in inside if group_of.get(f[3]) == group]
                    rows.append(
                        {
                            "site_code": geo or "LAN",
                            "measure_code": measure,
                            "period_type": ptype,
                            "period_label": label,
                            "ethnic_group": group,
                            "numerator": sum(f[4] for f in cells),
                            "denominator": sum(f[5] for f in cells),
                            "reference_numerator": sum(f[4] for f in ref),
                            "reference_denominator": sum(f[5] for f in ref),
                            "n_months": len({f[1] for f in inside}),
                            "months_flagged": len(flagged),
                            "meets_completeness_threshold": meets,
                            "completeness": completeness,
                            "flagged_share": flagged_share,
                            "period_start": month(members[0]),
                            "period_end": month(members[-1]),
                        }
                    )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("programme_start", [date(2024, 1, 1), date(2023, 2, 1)])
def test_matches_brute_force(random_facts, programme_start) -> None:
    frame = build_gap_metrics(warehouse(random_facts), programme_start=programme_start)
    expected = _brute_force(random_facts, programme_start)
    keys = ["site_code", "measure_code", "period_type", "period_label", "ethnic_group"]
    got = frame.set_index(keys)[expected.columns.drop(keys)].sort_index()
    want = expected.set_index(keys).sort_index()
    assert got.index.equals(want.index)
    got = got.assign(period_start=[d for d in got["period_start"]], period_end=[d for d in got["period_end"]])
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-12)
