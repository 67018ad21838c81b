"""Publish: run charts and the quality report (the copies, dbt docs and releases: assets/release.py)."""

import base64

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from orchestration.assets.transform import model_key
from orchestration.resources import LanHome
from publish.charts import write_site_pages
from publish.run_chart_series import series_from_gap_metrics
from publish.run_charts import build_run_chart_points
from publish.warehouse_tables import replace_table

RUN_CHART_KEY = ["geography_level", "site_code", "measure_code", "series_type", "ethnic_group", "month_start_date"]


def _write(warehouse: DuckDBResource, table: str, frame: pd.DataFrame, key: list[str]) -> int:
    with warehouse.get_connection() as con:
        return replace_table(con, table, frame, key)


@dg.asset(deps=[model_key("gap_metrics"), model_key("dim_measure")], group_name="publish", compute_kind="python")
def run_chart_points(lan: LanHome, warehouse: DuckDBResource) -> dg.MaterializeResult:
    """marts.run_chart_points: every monthly series (site or LAN x measure x ethnic group, and each group's gap
    to the reference) with its centre line, Anhoej runs analysis, IHI rules and XmR (Making Data Count) signals."""
    settings = lan.settings
    with warehouse.get_connection() as con:
        series = series_from_gap_metrics(con)
    points = build_run_chart_points(series, baseline_end=settings.programme_start)
    rows = _write(warehouse, "marts.run_chart_points", points, RUN_CHART_KEY)
    return dg.MaterializeResult(metadata={"rows": rows, "series": int(points.groupby(RUN_CHART_KEY[:-1]).ngroups)})


@dg.asset(deps=[run_chart_points], group_name="publish", compute_kind="matplotlib")
def run_charts(lan: LanHome, warehouse: DuckDBResource) -> dg.MaterializeResult:
    """Run charts by ethnic group, one PNG per site and measure, and an HTML page per site, in publish/charts/.
    Only charts whose data changed since they were drawn are drawn again (publish.charts)."""
    settings = lan.settings
    with warehouse.get_connection() as con:
        points = con.execute("select * from marts.run_chart_points").df()
        measures = con.execute("select * from marts.dim_measure").df()
    dest = settings.publish / "charts"
    drawn: dict = {}
    written = write_site_pages(points, measures, dest, settings.programme_start, stats=drawn)
    pngs = sorted(p for p in written if p.suffix == ".png")
    newest = pngs[0] if pngs else None
    metadata: dict = {
        "pages": len([p for p in written if p.suffix == ".html"]),
        "charts": len(pngs),
        "charts_drawn": drawn.get("charts_drawn", len(pngs)),
        "index": dg.MetadataValue.path(str(dest / "index.html")),
    }
    if newest is not None:
        encoded = base64.b64encode(newest.read_bytes()).decode()
        metadata["example_chart"] = dg.MetadataValue.md(f"![{newest.stem}](data:image/png;base64,{encoded})")
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    deps=[model_key("fct_data_quality_results"), model_key("fct_ethnicity_completeness")],
    group_name="publish",
    compute_kind="great_expectations",
)
def quality_report(lan: LanHome, warehouse: DuckDBResource) -> dg.MaterializeResult:
    """Great Expectations Data Docs (offline) and a one-page completeness summary per site, in publish/quality/."""
    from expectations.data_docs import write_quality_report

    settings = lan.settings
    with warehouse.get_connection() as con:
        results = con.execute("select * from marts.fct_data_quality_results where is_current_submission").df()
    index = write_quality_report(results, settings.publish / "quality", settings.completeness_threshold)
    return dg.MaterializeResult(metadata={"index": dg.MetadataValue.path(str(index)), "results": len(results)})
