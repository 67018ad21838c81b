"""Run charts on the sample, really built: analysis.run_chart_points republished by dbt, the sparse-series rule on
the sample's UHL series, the asset checks passing and failing, and the charts index and site pages."""

from __future__ import annotations

import html
import re
import shutil

import duckdb
import pytest
from dagster_duckdb import DuckDBResource

pytestmark = pytest.mark.e2e


def test_uhl_any_other_group_pph_raises_no_runs_signal(published):
    rows = published("""
        select runs_signal, ihi_shift, ptd_special_cause_rule, signal_note, centre_line, chart_type,
               numerator, denominator
        from marts.run_chart_points
        where site_code = 'UHL' and measure_code = 'PPH1500' and series_type = 'group_rate'
          and ethnic_group = 'Any other ethnic group'""")
    assert len(rows) == 24
    assert max(r[7] for r in rows) < 40 and max(r[6] for r in rows) <= 2  # about 20 births, 0 to 2 events a month
    assert not any(r[0] or r[1] for r in rows)
    assert not any(r[2] == "seven_point_one_side" for r in rows)
    assert all(r[3] and r[3].startswith("Baseline median is 0") for r in rows)
    assert {r[5] for r in rows} == {"p"}


def test_run_chart_points_is_the_dbt_model_of_the_analysis_table(built_home, published):
    con = duckdb.connect(str(built_home / "warehouse" / "lan.duckdb"), read_only=True)
    try:
        analysis = con.execute("select count(*) from analysis.run_chart_points").fetchone()[0]
        kinds = dict(
            con.execute(
                "select table_schema, table_type from information_schema.tables where table_name = 'run_chart_points'"
            ).fetchall()
        )
    finally:
        con.close()
    assert kinds == {"analysis": "BASE TABLE", "marts": "BASE TABLE"}
    assert published("select count(*) from marts.run_chart_points") == [(analysis,)]
    columns = {
        r[0]
        for r in published("select column_name from information_schema.columns where table_name = 'run_chart_points'")
    }
    assert {
        "numerator",
        "denominator",
        "chart_type",
        "centre_line",
        "lower_limit",
        "upper_limit",
        "signal_note",
    } <= columns
    # p charts for rates, XmR for gaps; every filled limit finite
    assert set(published("select distinct series_type, chart_type from marts.run_chart_points")) == {
        ("group_rate", "p"),
        ("gap_vs_reference", "xmr"),
    }
    assert published("select count(*) from marts.run_chart_points where isnan(lower_limit) or isinf(upper_limit)") == [
        (0,)
    ]


@pytest.fixture()
def warehouse_copy(built_home, tmp_path):
    path = tmp_path / "lan.duckdb"
    shutil.copyfile(built_home / "warehouse" / "lan.duckdb", path)
    return path


def test_run_chart_checks_pass_on_the_build_and_fail_on_bad_rows(warehouse_copy):
    # Imported here: the code location needs the dbt manifest, which the built LAN_HOME's run has parsed.
    from orchestration.assets.charts import run_chart_limits_are_finite, run_chart_points_cover_every_series_month

    resource = DuckDBResource(database=str(warehouse_copy))
    assert run_chart_points_cover_every_series_month(warehouse=resource).passed
    assert run_chart_limits_are_finite(warehouse=resource).passed
    con = duckdb.connect(str(warehouse_copy))
    con.execute("""delete from analysis.run_chart_points where site_code = 'UHL' and measure_code = 'PPH1500'
                   and series_type = 'gap_vs_reference' and month_start_date = date '2024-06-01'""")
    con.execute("update analysis.run_chart_points set upper_limit = 'inf'::double where site_code = 'BARTS'")
    con.close()
    missing = run_chart_points_cover_every_series_month(warehouse=resource)
    assert not missing.passed and missing.metadata["missing_series_months"].value == 4
    assert "| UHL |" in missing.metadata["first_missing"].value
    assert not run_chart_limits_are_finite(warehouse=resource).passed


def test_charts_index_and_site_pages(built_home, published):
    charts = built_home / "publish" / "charts"
    index = (charts / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'<tr><td><a href="([^"]+)\.html">', index)
    assert links[0] == "LAN" and sorted(links[1:]) == links[1:] and len(links) == 11
    for code, team in published("select site_code, team_name from marts.dim_site"):
        assert f"{code}.html" in index and html.escape(team) in index
    assert "Jan 2023 to Dec 2024" in index
    page = (charts / "UHL.html").read_text(encoding="utf-8")
    assert "@media print" in page and 'id="reports"' in page and 'id="status"' in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    for src in re.findall(r'<img src="([^"]+)"', page):
        assert (charts / src).is_file()
    assert len(re.findall(r'<img src="UHL/', page)) == 7
    assert "not computed: Baseline median is 0" in page  # the sparse series, in the chart's summary table
