"""Publish: quality report, the published copy, docs and evaluation releases."""

import shutil
import subprocess
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource

from ingest.settings import REPO_ROOT
from orchestration.assets.transform import marts_model_keys, model_key
from orchestration.project import dbt_project
from orchestration.resources import LanHome
from publish.dictionary import describe_tables, load_manifest
from publish.published_copy import publish_copy
from publish.release import RELEASE_TABLES, build_release, rule_from_name


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


@dg.asset(
    deps=marts_model_keys(),
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
