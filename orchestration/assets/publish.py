"""Publish: the quality report (the copies, dbt docs and releases: assets/release.py; charts: assets/charts.py)."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration.assets.transform import model_key
from orchestration.resources import LanHome


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
    report = write_quality_report(results, settings.publish / "quality", settings.completeness_threshold)
    return dg.MaterializeResult(
        metadata={
            "index": dg.MetadataValue.path(str(report.index)),
            "results": len(results),
            "rebuilt": report.rebuilt,  # False: the stored results were unchanged, so were the pages
            "site_pages_written": report.site_pages_written,
        }
    )
