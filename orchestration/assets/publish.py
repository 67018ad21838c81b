"""Publish: run charts, quality report, the published copy, docs and evaluation releases."""

import base64
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource

from ingest.settings import REPO_ROOT
from orchestration.assets.transform import model_key
from orchestration.project import dbt_project
from orchestration.resources import LanHome
from publish.charts import write_site_pages
from publish.dictionary import describe_tables, load_manifest
from publish.published_copy import publish_copy
from publish.release import RELEASE_TABLES, build_release, rule_from_name
from publish.run_chart_series import series_from_gap_metrics
from publish.run_charts import build_run_chart_points
from publish.warehouse_tables import replace_table

RUN_CHART_KEY = ["geography_level", "site_code", "measure_code", "series_type", "ethnic_group", "month_start_date"]
MARTS = [
    "dim_site",
    "dim_ethnic_category",
    "dim_condition",
    "dim_measure",
    "dim_month",
    "dim_submission",
    "fct_measure_monthly",
    "fct_ethnicity_completeness",
    "fct_submission_status",
    "fct_data_quality_results",
    "gap_metrics",
    "gap_metrics_by_ethnic_category",
    "gap_change",
    "gap_trend",
]


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


@dg.asset(
    deps=[*(model_key(m) for m in MARTS), run_chart_points],
    group_name="publish",
    compute_kind="duckdb",
)
def published_warehouse(lan: LanHome) -> dg.MaterializeResult:
    """publish/warehouse.duckdb: every marts table, replaced whole and atomically, readable by DuckDB 1.x."""
    settings = lan.settings
    counts = publish_copy(settings.warehouse, settings.published_warehouse)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(settings.published_warehouse)),
            "row_counts": dg.MetadataValue.json(counts),
        }
    )


@dg.asset(deps=[published_warehouse], group_name="publish", compute_kind="dbt")
def dbt_docs(lan: LanHome, dbt: DbtCliResource) -> dg.MaterializeResult:
    """dbt's documentation site (models, columns, lineage) as one offline page in publish/docs/."""
    invocation = dbt.cli(
        ["docs", "generate", "--static"],
        manifest=dbt_project.manifest_path,
        target_path=lan.settings.lan_home / "dbt" / "docs",
        raise_on_error=True,
    ).wait()
    target = Path(invocation.target_path)
    dest = lan.settings.publish / "docs"
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(target / "static_index.html", dest / "index.html")
    return dg.MaterializeResult(metadata={"index": dg.MetadataValue.path(str(dest / "index.html"))})


def code_version() -> str:
    """The git commit the code was built from (with -dirty when changed), or the package version."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        return described or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@dg.asset(deps=[published_warehouse], group_name="publish", compute_kind="parquet")
def evaluation_release(context: dg.AssetExecutionContext, lan: LanHome) -> dg.MaterializeResult:
    """A new release folder in publish/evaluation/ (Parquet + CSV, dictionary, manifest, README) with disclosure
    control applied; not published if it fails its own checks, not repeated if nothing changed."""
    settings = lan.settings
    dictionary = describe_tables(load_manifest(dbt_project.manifest_path), RELEASE_TABLES)
    con = duckdb.connect(str(settings.published_warehouse), read_only=True)
    try:
        submissions = con.execute(
            "select submission_id, site_code, month_start_date, file_name, checksum, received_at "
            "from marts.dim_submission where is_current order by submission_id"
        ).df()
    finally:
        con.close()
    release = build_release(
        settings.published_warehouse,
        settings.evaluation,
        dictionary=dictionary,
        submissions=submissions,
        rule=rule_from_name(settings.disclosure_rule),
        code_version=code_version(),
        synthetic=settings.sample_marker.exists(),
    )
    context.log.info(f"Evaluation release: {release}")
    return dg.MaterializeResult(metadata={"release": dg.MetadataValue.path(str(release))})
