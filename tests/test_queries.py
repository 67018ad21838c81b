"""queries/: the questions the evaluation partner asks first, each run against the published copy of a real
build (read-only, as a BI tool would), with DuckDB 2.0 here and DuckDB 1.4 (a BI driver's) in its own
virtualenv; plus a few facts the sample data are known to hold."""

from __future__ import annotations

import math
import re
from datetime import date
from pathlib import Path

import duckdb
import pytest

from ingest.sample_data import LOW_COMPLETENESS_SITE_MONTH
from tests.conftest import REPO_ROOT
from tests.test_published_copy import ensure_duckdb1_venv, read_here, read_with

QUERIES = REPO_ROOT / "queries"
Z95 = 1.959963984540054

EXPECTED_COLUMNS = {
    "gap_by_group_before_after": [
        "measure_code",
        "measure_name",
        "unit",
        "ethnic_group",
        "reference_group",
        *(
            f"{phase}_{c}"
            for phase in ("baseline", "intervention")
            for c in (
                "numerator",
                "denominator",
                "rate",
                "reference_rate",
                "rate_ratio",
                "rate_ratio_lower_95",
                "rate_ratio_upper_95",
                "rate_difference",
                "rate_difference_lower_95",
                "rate_difference_upper_95",
                "assessment",
                "months_flagged",
            )
        ),
        "ratio_change",
        "ratio_change_lower_95",
        "ratio_change_upper_95",
        "difference_change",
        "difference_change_lower_95",
        "difference_change_upper_95",
        "gap_change",
    ],
    "completeness_by_site": [
        "site_code",
        "team_name",
        "measure_code",
        "measure_name",
        "window_start",
        "window_end",
        "months_reported",
        "denominator_total",
        "denominator_known",
        "completeness",
        "lowest_monthly_completeness",
        "lowest_month",
        "completeness_threshold",
        "months_flagged",
        "flagged_months",
    ],
    "sites_with_signals_latest_month": [
        "latest_month",
        "geography_level",
        "site_code",
        "team_name",
        "measure_code",
        "measure_name",
        "series_type",
        "ethnic_group",
        "value",
        "centre_line",
        "improvement_direction",
        "runs_signal",
        "ihi_shift",
        "ihi_trend",
        "ihi_astronomical",
        "ptd_special_cause",
        "ptd_special_cause_rule",
        "point_type",
        "n_point_signals",
        "signals",
    ],
    "gap_change_summary": [
        "geography_level",
        "site_code",
        "team_name",
        "measure_code",
        "measure_name",
        "ethnic_group",
        "reference_group",
        "comparison",
        "comparison_start",
        "comparison_end",
        "estimate",
        "baseline_rate_ratio",
        "comparison_rate_ratio",
        "ratio_of_rate_ratios",
        "ratio_of_rate_ratios_lower_95",
        "ratio_of_rate_ratios_upper_95",
        "p_value",
        "assessment",
        "difference_in_rate_differences",
        "difference_in_rate_differences_lower_95",
        "difference_in_rate_differences_upper_95",
        "unit",
        "meets_completeness_threshold",
        "change_note",
    ],
    "submission_status_latest": [
        "site_code",
        "team_name",
        "month_start_date",
        "month_label",
        "status",
        "needs_attention",
        "file_name",
        "received_at",
        "problems",
    ],
}

QUERY_FILES = sorted(QUERIES.glob("*.sql"))


def sql_of(name: str) -> str:
    return (QUERIES / f"{name}.sql").read_text(encoding="utf-8")


def run_query(path: Path, name: str) -> list[dict]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rel = con.execute(sql_of(name))
        columns = [d[0] for d in rel.description]
        return [dict(zip(columns, row)) for row in rel.fetchall()]
    finally:
        con.close()


@pytest.fixture(scope="module")
def answers(built_home) -> dict[str, list[dict]]:
    """Every query's rows (as dicts) from the published copy of the sample build."""
    path = built_home / "publish" / "warehouse.duckdb"
    return {name: run_query(path, name) for name in EXPECTED_COLUMNS}


def test_the_folder_holds_the_expected_queries():
    assert {p.stem for p in QUERY_FILES} == set(EXPECTED_COLUMNS), "add a new query's columns to EXPECTED_COLUMNS"


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda p: p.stem)
def test_each_query_says_what_it_answers_and_how_to_run_it(path):
    text = path.read_text(encoding="utf-8")
    header = "\n".join(line for line in text.splitlines() if line.startswith("--"))
    assert text.startswith("-- Question:")
    assert "-- Returns:" in header
    assert f"duckdb -readonly publish/warehouse.duckdb < queries/{path.name}" in header
    assert "warehouse/lan.duckdb" not in text.replace("never on warehouse/lan.duckdb", "")
    # one read-only statement: a BI tool pastes it as it is
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    assert body.strip().endswith(";") and body.count(";") == 1
    assert not re.search(r"\b(insert|update|delete|create|drop|alter|copy|attach|set)\b", body, re.I)


@pytest.mark.e2e
@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda p: p.stem)
def test_each_query_runs_read_only_on_the_published_copy(built_home, path):
    con = duckdb.connect(str(built_home / "publish" / "warehouse.duckdb"), read_only=True)
    try:
        rel = con.execute(path.read_text(encoding="utf-8"))
        columns = [d[0] for d in rel.description]
        rows = rel.fetchall()
    finally:
        con.close()
    assert columns == EXPECTED_COLUMNS[path.stem]
    assert rows, f"{path.name} returned no rows on the sample build"


@pytest.mark.e2e
def test_duckdb_1x_gives_the_same_answers(built_home):
    """BI drivers bundle DuckDB 1.x: every query runs there too and gives the same rows."""
    queries = {p.stem: p.read_text(encoding="utf-8") for p in QUERY_FILES}
    path = built_home / "publish" / "warehouse.duckdb"
    old = read_with(ensure_duckdb1_venv(), path, queries, tables=False)
    assert "error" not in old, old.get("error")
    new = read_here(path, queries, tables=False)
    for name in queries:
        assert old["queries"][name]["columns"] == new["queries"][name]["columns"], name
        assert len(old["queries"][name]["rows"]) == len(new["queries"][name]["rows"]), name
        for left, right in zip(old["queries"][name]["rows"], new["queries"][name]["rows"]):
            assert len(left) == len(right) and all(map(_same, left, right)), (name, left, right)


def _same(left, right) -> bool:
    """Equal, floats to 1e-12 (two builds of DuckDB may round ln and exp differently in the last bit)."""
    if isinstance(left, float) and isinstance(right, float):
        return math.isclose(left, right, rel_tol=1e-12, abs_tol=1e-12)
    return type(left) is type(right) and left == right


# ----------------------------------------------------------------------------------------------------
# What the sample data are known to hold
# ----------------------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_gap_before_and_after_on_the_sample_data(answers, published):
    rows = answers["gap_by_group_before_after"]
    groups = {r["ethnic_group"] for r in rows}
    assert groups == {"Asian or Asian British", "Black or Black British", "Mixed", "Any other ethnic group"}
    assert len(rows) == 7 * 4 and {r["reference_group"] for r in rows} == {"White"}
    black_pph = next(
        r for r in rows if r["measure_code"] == "PPH1500" and r["ethnic_group"] == "Black or Black British"
    )
    # Black women's PPH rate is ~1.4x White women's in the synthetic model: clearly above 1 in the baseline
    assert black_pph["baseline_rate_ratio"] > 1 and black_pph["baseline_rate_ratio_lower_95"] > 1
    assert black_pph["baseline_assessment"] == "worse" and black_pph["unit"]
    # the phases' figures are gap_metrics' own
    [(ratio, lower, upper, difference)] = published("""
        select rate_ratio, rate_ratio_lower_95, rate_ratio_upper_95, rate_difference from marts.gap_metrics
        where geography_level = 'lan' and period_type = 'programme_phase' and period_label = 'intervention'
          and measure_code = 'PPH1500' and ethnic_group = 'Black or Black British'""")
    assert (
        black_pph["intervention_rate_ratio"],
        black_pph["intervention_rate_ratio_lower_95"],
        black_pph["intervention_rate_ratio_upper_95"],
        black_pph["intervention_rate_difference"],
    ) == (ratio, lower, upper, difference)
    for r in rows:
        assert r["gap_change"] in {"narrower", "wider", "no clear change", "not calculable"}
        if r["gap_change"] == "not calculable":
            continue
        # the change and its interval, recomputed here from the two phases' intervals
        assert r["ratio_change"] == pytest.approx(r["intervention_rate_ratio"] / r["baseline_rate_ratio"])
        se = math.hypot(
            *(
                (math.log(r[f"{p}_rate_ratio_upper_95"]) - math.log(r[f"{p}_rate_ratio_lower_95"])) / (2 * Z95)
                for p in ("baseline", "intervention")
            )
        )
        assert r["ratio_change_lower_95"] == pytest.approx(r["ratio_change"] * math.exp(-Z95 * se))
        assert r["ratio_change_upper_95"] == pytest.approx(r["ratio_change"] * math.exp(Z95 * se))
        assert r["difference_change"] == pytest.approx(
            r["intervention_rate_difference"] - r["baseline_rate_difference"]
        )
        assert r["difference_change_lower_95"] < r["difference_change"] < r["difference_change_upper_95"]
        excludes_one = r["ratio_change_lower_95"] > 1 or r["ratio_change_upper_95"] < 1
        assert (r["gap_change"] != "no clear change") == excludes_one, r
        if r["gap_change"] == "narrower":
            assert abs(math.log(r["intervention_rate_ratio"])) < abs(math.log(r["baseline_rate_ratio"]))
    # the baseline is complete; the intervention year holds UHL 2024-06, below the threshold
    assert {r["baseline_months_flagged"] for r in rows} == {0}
    assert {r["intervention_months_flagged"] for r in rows} == {1}


@pytest.mark.e2e
def test_completeness_by_site_on_the_sample_data(answers, published):
    rows = answers["completeness_by_site"]
    sites = [s for (s,) in published("select site_code from marts.dim_site order by 1")]
    measures = [m for (m,) in published("select measure_code from marts.dim_measure order by 1")]
    assert [(r["site_code"], r["measure_code"]) for r in rows] == [(s, m) for s in sites for m in measures]
    assert {(r["window_start"], r["window_end"]) for r in rows} == {(date(2024, 1, 1), date(2024, 12, 1))}
    assert {r["months_reported"] for r in rows} == {12}
    assert all(0.9 < r["completeness"] <= 1 for r in rows)  # even UHL, over twelve months
    low_site, low_month = LOW_COMPLETENESS_SITE_MONTH
    for r in rows:
        if r["site_code"] == low_site:
            assert r["months_flagged"] == 1 and r["flagged_months"] == low_month.strftime("%Y-%m"), r
            assert r["lowest_month"] == "2024-06" and r["lowest_monthly_completeness"] < r["completeness_threshold"]
        else:
            assert r["months_flagged"] == 0 and r["flagged_months"] is None, r
            assert r["lowest_monthly_completeness"] >= r["completeness_threshold"] == 0.9
    # the totals are fct_ethnicity_completeness's
    [(total, known)] = published("""
        select sum(denominator_total), sum(denominator_known) from marts.fct_ethnicity_completeness
        where site_code = 'UHL' and measure_code = 'PPH1500' and month_start_date >= date '2024-01-01'""")
    uhl = next(r for r in rows if (r["site_code"], r["measure_code"]) == ("UHL", "PPH1500"))
    assert (uhl["denominator_total"], uhl["denominator_known"]) == (total, known)


@pytest.mark.e2e
def test_sites_with_signals_on_the_sample_data(answers, published):
    rows = answers["sites_with_signals_latest_month"]
    assert {r["latest_month"] for r in rows} == {date(2024, 12, 1)}
    flags = ("runs_signal", "ihi_shift", "ihi_trend", "ihi_astronomical", "ptd_special_cause")
    for r in rows:
        assert any(r[f] for f in flags) and r["signals"], r
        assert r["n_point_signals"] == sum(bool(r[f]) for f in flags[1:])
        assert (r["site_code"] == "LAN") == (r["geography_level"] == "lan")
        if r["ptd_special_cause"]:
            assert r["ptd_special_cause_rule"] in r["signals"]
    # exactly the series that signal at their latest point, counted independently
    [(expected,)] = published("""
        select count(*) from marts.run_chart_points
        where month_start_date = date '2024-12-01'
          and (runs_signal or ihi_shift or ihi_trend or ihi_astronomical or ptd_special_cause)""")
    assert len(rows) == expected
    assert len({r["site_code"] for r in rows}) > 1
    keys = [(r["site_code"], r["measure_code"], r["series_type"], r["ethnic_group"]) for r in rows]
    assert len(set(keys)) == len(keys)


@pytest.mark.e2e
def test_submission_status_on_the_sample_data(answers):
    rows = answers["submission_status_latest"]
    months = {date(2024, 10, 1), date(2024, 11, 1), date(2024, 12, 1)}
    assert {r["month_start_date"] for r in rows} == months and len(rows) == 10 * 3
    # every sample site sent every one of the last three months, and none is flagged there
    assert {r["status"] for r in rows} == {"loaded"} and not any(r["needs_attention"] for r in rows)
    assert all(r["file_name"] and r["received_at"] for r in rows)


def test_submission_status_finds_missing_quarantined_and_flagged_months(tmp_path):
    """The query's logic on a hand-made copy: which rows need attention, and the window of 3 months."""
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema marts")
        con.execute(
            "create table marts.dim_site as select * from (values ('AAA', 'Site A'), ('BBB', 'Site B'), "
            "('CCC', 'Site C'), ('NEW', 'New site')) as t(site_code, team_name)"
        )
        con.execute("""create table marts.fct_submission_status as select * from (values
            ('AAA', date '2024-09-01', 'flagged', 'AAA_2024-09.csv', timestamp '2024-10-10 09:00:00', 'old'),
            ('AAA', date '2024-10-01', 'loaded', 'AAA_2024-10.csv', timestamp '2024-11-10 09:00:00', null),
            ('AAA', date '2024-11-01', 'flagged', 'AAA_2024-11.csv', timestamp '2024-12-10 09:00:00', 'below 90%'),
            ('AAA', date '2024-12-01', 'loaded', 'AAA_2024-12.csv', timestamp '2025-01-10 09:00:00', null),
            ('BBB', date '2024-10-01', 'loaded', 'BBB_2024-10.csv', timestamp '2024-11-10 09:00:00', 'refused fix'),
            ('BBB', date '2024-11-01', 'missing', null, null, null),
            ('BBB', date '2024-12-01', 'quarantined', 'BBB_2024-12.csv', timestamp '2025-01-10 09:00:00', 'bad'),
            ('CCC', date '2024-10-01', 'loaded', 'CCC_2024-10.csv', timestamp '2024-11-10 09:00:00', null),
            ('CCC', date '2024-11-01', 'loaded', 'CCC_2024-11.csv', timestamp '2024-12-10 09:00:00', null),
            ('CCC', date '2024-12-01', 'loaded', 'CCC_2024-12.csv', timestamp '2025-01-10 09:00:00', null)
            ) as t(site_code, month_start_date, status, file_name, received_at, problems)""")
    finally:
        con.close()
    rows = run_query(path, "submission_status_latest")
    assert len(rows) == 4 * 3
    attention = [(r["site_code"], r["month_label"], r["status"]) for r in rows if r["needs_attention"]]
    assert attention == [
        ("BBB", "2024-12", "quarantined"),
        ("NEW", "2024-12", "missing"),
        ("AAA", "2024-11", "flagged"),
        ("BBB", "2024-11", "missing"),
        ("NEW", "2024-11", "missing"),
        ("NEW", "2024-10", "missing"),
    ]
    assert all(r["needs_attention"] for r in rows[: len(attention)])  # they come first
    refused_fix = next(r for r in rows if (r["site_code"], r["month_label"]) == ("BBB", "2024-10"))
    assert refused_fix["status"] == "loaded" and refused_fix["problems"] == "refused fix"


# ----------------------------------------------------------------------------------------------------
# The queries the evaluation partner asks, on the partner's own copy
# ----------------------------------------------------------------------------------------------------

PARTNER_LINE = "duckdb -readonly publish/partner/warehouse.duckdb < queries/{}"
PARTNER_QUERIES = [p for p in QUERY_FILES if PARTNER_LINE.format(p.name) in p.read_text(encoding="utf-8")]


def _tables_of(path: Path) -> set[str]:
    return set(re.findall(r"\bmarts\.([a-z_]+)", path.read_text(encoding="utf-8")))


def test_the_partner_is_pointed_at_every_query_its_copy_can_answer():
    # one release model per released table, named release_<table> (tests/test_release.py holds them to that)
    released = {p.stem.removeprefix("release_") for p in (REPO_ROOT / "dbt_project/models/release").glob("*.sql")}
    assert "gap_by_group_before_after" in [p.stem for p in PARTNER_QUERIES]
    for path in QUERY_FILES:
        answerable = _tables_of(path) <= released and "problems" not in path.read_text(encoding="utf-8")
        assert (path in PARTNER_QUERIES) == answerable, path.name


@pytest.mark.e2e
@pytest.mark.parametrize("path", PARTNER_QUERIES, ids=lambda p: p.stem)
def test_each_partner_query_runs_on_the_partner_copy(built_home, path):
    partner = run_query(built_home / "publish" / "partner" / "warehouse.duckdb", path.stem)
    full = run_query(built_home / "publish" / "warehouse.duckdb", path.stem)
    assert partner and list(partner[0]) == EXPECTED_COLUMNS[path.stem]
    assert len(partner) == len(full)
    for row in partner:  # counts as the partner may see them
        for column, value in row.items():
            if column.endswith(("numerator", "denominator")) and value is not None:
                assert value % 5 == 0 and not 1 <= value <= 7, (column, value)
