"""The submission status page: a site x month grid in publish/status/, and the same grid in the Dagster UI."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration.assets.transform import model_key
from orchestration.resources import LanHome
from publish.status_page import counts, read_status, status_markdown, write_status_page


@dg.asset(deps=[model_key("fct_submission_status")], group_name="publish", compute_kind="html")
def submission_status_page(
    context: dg.AssetExecutionContext, lan: LanHome, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """publish/status/index.html: every site and month, loaded, flagged, quarantined or missing, overdue or not,
    monthly report received or not, with the problems a click away; one offline file, redrawn only when the
    status changes. The same grid is this asset's `grid` metadata."""
    with warehouse.get_connection() as con:
        status = read_status(con)
    page = write_status_page(status, lan.settings.publish / "status")
    context.log.info(f"Status page {'redrawn' if page.redrawn else 'unchanged'}: {page.path}")
    return dg.MaterializeResult(
        metadata={
            "index": dg.MetadataValue.path(str(page.path)),
            "redrawn": page.redrawn,
            **counts(status),
            "grid": dg.MetadataValue.md(status_markdown(status)),
        },
        data_version=dg.DataVersion(page.data_hash[:16]),
    )
