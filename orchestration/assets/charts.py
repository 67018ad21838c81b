"""Charts: run-chart rules as an analysis table (republished by dbt as marts.run_chart_points), then the pictures,
site pages and the charts index in publish/charts/."""

from __future__ import annotations

import base64

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration.assets.transform import model_key
from orchestration.markdown import markdown_table
from orchestration.resources import LanHome
from publish.run_chart_series import series_from_gap_metrics
from publish.run_charts import SERIES_KEYS, build_run_chart_points
from publish.warehouse_tables import replace_table

RUN_CHART_POINTS_KEY = dg.AssetKey(["analysis", "run_chart_points"])
ANALYSIS_TABLE = "analysis.run_chart_points"
RUN_CHART_KEY = [*SERIES_KEYS, "month_start_date"]
GAP_METRICS_KEY = model_key("gap_metrics")
GAP_CHANGE_PAGE_KEY = dg.AssetKey(["gap_change_page"])
LIMIT_COLUMNS = ["centre_line", "control_centre_line", "lower_limit", "upper_limit"]


@dg.asset(
    key=RUN_CHART_POINTS_KEY,
    deps=[GAP_METRICS_KEY, model_key("dim_measure")],
    group_name="charts",
    compute_kind="python",
)
def run_chart_points(lan: LanHome, warehouse: DuckDBResource) -> dg.MaterializeResult:
    """analysis.run_chart_points: every monthly series (site or LAN x measure x ethnic group, and each group's gap
    to the reference) with its baseline median, Anhoej runs analysis, IHI rules and control limits (p chart for a
    group's rate, XmR for a gap), and why a sparse series raises no runs signal. dbt republishes it as
    marts.run_chart_points."""
    settings = lan.settings
    with warehouse.get_connection() as con:
        series = series_from_gap_metrics(con)
        points = build_run_chart_points(series, baseline_end=settings.programme_start)
        rows = replace_table(con, ANALYSIS_TABLE, points, RUN_CHART_KEY)
    group = points[points["series_type"] == "group_rate"].drop_duplicates(SERIES_KEYS)
    by_type = (
        points.drop_duplicates(SERIES_KEYS)
        .groupby(["series_type", "chart_type"], as_index=False)
        .agg(series=("site_code", "size"), runs_signals=("runs_signal", "sum"), too_sparse=("signal_note", "count"))
    )
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "series": int(points.groupby(SERIES_KEYS, dropna=False).ngroups),
            "series_by_chart_type": dg.MetadataValue.md(markdown_table(by_type)),
            "group_series_too_sparse_for_runs_rules": int(group["signal_note"].notna().sum()),
        }
    )


EXPECTED_SERIES_MONTHS = """
with monthly as (
    select geography_level, site_code, measure_code, ethnic_group, period_start as month_start_date, gap_assessment
    from marts.gap_metrics
    where period_type = 'month'
),
expected as (
    select geography_level, site_code, measure_code, 'group_rate' as series_type, ethnic_group, month_start_date
    from monthly
    union all
    select geography_level, site_code, measure_code, 'gap_vs_reference', ethnic_group, month_start_date
    from monthly
    where gap_assessment <> 'reference'
)
select e.geography_level, e.site_code, e.measure_code, e.series_type, e.ethnic_group,
       strftime(e.month_start_date, '%Y-%m') as month
from expected as e
anti join analysis.run_chart_points as p
    using (geography_level, site_code, measure_code, series_type, ethnic_group, month_start_date)
order by all
"""


@dg.asset_check(asset=RUN_CHART_POINTS_KEY, blocking=True)
def run_chart_points_cover_every_series_month(warehouse: DuckDBResource) -> dg.AssetCheckResult:
    """A row for every series-month the monthly gap metrics imply (each group's rate; each non-reference gap)."""
    with warehouse.get_connection() as con:
        missing = con.execute(EXPECTED_SERIES_MONTHS).df()
        rows = con.execute(f"select count(*) from {ANALYSIS_TABLE}").fetchone()[0]
    return dg.AssetCheckResult(
        passed=missing.empty,
        metadata={
            "rows": rows,
            "missing_series_months": len(missing),
            "first_missing": dg.MetadataValue.md(markdown_table(missing.head(20))),
        },
    )


@dg.asset_check(asset=RUN_CHART_POINTS_KEY, blocking=True)
def run_chart_limits_are_finite(warehouse: DuckDBResource) -> dg.AssetCheckResult:
    """No NaN or infinity in the centre lines and limits that are published (an empty value is allowed)."""
    tests = " union all ".join(
        f"select '{c}' as column_name, count(*) filter (where isnan({c}) or isinf({c})) as not_finite, "
        f"count({c}) as filled from {ANALYSIS_TABLE}"
        for c in LIMIT_COLUMNS
    )
    with warehouse.get_connection() as con:
        counts = con.execute(tests).df()
    return dg.AssetCheckResult(
        passed=bool((counts["not_finite"] == 0).all()),
        metadata={"by_column": dg.MetadataValue.md(markdown_table(counts))},
    )


@dg.asset(
    deps=[
        model_key("run_chart_points"),
        model_key("dim_measure"),
        model_key("dim_site"),
        model_key("fct_submission_status"),
        GAP_METRICS_KEY,
        model_key("fct_site_report"),
        GAP_CHANGE_PAGE_KEY,  # site pages and the index link its page
    ],
    group_name="charts",
    compute_kind="matplotlib",
)
def run_charts(lan: LanHome, warehouse: DuckDBResource) -> dg.MaterializeResult:
    """Small-multiple run charts (one panel per ethnic group, and the gap to the reference group) for each site and
    the LAN and each measure, annotated with the sites' reported changes; a printable page per site with its
    reports and submission status; and the charts index, in publish/charts/. Only charts whose data or reports
    changed are drawn again."""
    from publish.charts import POINT_COLUMNS, write_site_pages  # lazily: see orchestration/assets/__init__.py

    settings = lan.settings
    with warehouse.get_connection() as con:
        points = con.execute(f"select {', '.join(POINT_COLUMNS)} from marts.run_chart_points").df()
        measures = con.execute("select * from marts.dim_measure").df()
        sites = con.execute("select site_code, team_name from marts.dim_site").df()
        ratios = con.execute(
            "select geography_level, site_code, measure_code, ethnic_group, period_start as month_start_date, "
            "rate_ratio, rate_ratio_lower_95, rate_ratio_upper_95 from marts.gap_metrics "
            "where period_type = 'month' and not is_reference"
        ).df()
        status = con.execute(
            "select * exclude (problems), coalesce(problems, '') as problems from marts.fct_submission_status"
        ).df()
        reports = con.execute(
            "select site_code, month_start_date, measure_code, change_idea, pdsa_stage, narrative, submission_id "
            "from marts.fct_site_report"
        ).df()
    dest = settings.publish / "charts"
    drawn: dict = {}
    written = write_site_pages(
        points,
        measures,
        dest,
        settings.programme_start,
        sites=sites,
        ratios=ratios,
        reports=reports,
        status=status,
        stats=drawn,
    )
    pngs = sorted(p for p in written if p.suffix == ".png")
    metadata: dict = {
        "pages": len([p for p in written if p.suffix == ".html"]),
        "charts": len(pngs),
        "charts_drawn": drawn.get("charts_drawn", len(pngs)),
        "reports_annotated": 0 if reports is None else len(reports),
        "index": dg.MetadataValue.path(str(dest / "index.html")),
    }
    example = dest / "LAN" / "PPH1500.png"
    example = example if example.exists() else (pngs[0] if pngs else None)
    if example is not None:
        encoded = base64.b64encode(example.read_bytes()).decode()
        metadata["example_chart"] = dg.MetadataValue.md(f"![{example.stem}](data:image/png;base64,{encoded})")
    return dg.MaterializeResult(metadata=metadata)
