"""Warning checks on the submission status: overdue returns (issue 13) and numbers sent without a monthly report
(issue 12). Both run after every dbt build and list the site-months as a markdown table."""

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from orchestration.assets.transform import model_key
from orchestration.markdown import markdown_table
from orchestration.resources import LanHome


def overdue_site_months(warehouse: DuckDBResource) -> pd.DataFrame:
    with warehouse.get_connection() as con:
        return con.execute("""
            select site_code, strftime(month_start_date, '%Y-%m') as month, status,
                   strftime(due_date, '%Y-%m-%d') as due_date
            from marts.fct_submission_status where is_overdue order by month_start_date, site_code""").df()


def site_months_without_report(warehouse: DuckDBResource, programme_start) -> pd.DataFrame:
    with warehouse.get_connection() as con:
        return con.execute(
            """
            select site_code, strftime(month_start_date, '%Y-%m') as month, status
            from marts.fct_submission_status
            where status in ('loaded', 'flagged') and not report_received and month_start_date >= ?
            order by month_start_date, site_code""",
            [programme_start],
        ).df()


@dg.asset_check(
    asset=model_key("fct_submission_status"),
    description="No site-month's return is overdue: every month past its due date (day LAN_DUE_DAY of the next "
    "month) has an accepted submission. Lists the overdue site-months.",
)
def no_overdue_returns(warehouse: DuckDBResource) -> dg.AssetCheckResult:
    overdue = overdue_site_months(warehouse)
    return dg.AssetCheckResult(
        passed=overdue.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "overdue_site_months": len(overdue),
            "sites_overdue": int(overdue["site_code"].nunique()) if not overdue.empty else 0,
            "overdue": dg.MetadataValue.md(markdown_table(overdue)),
        },
    )


@dg.asset_check(
    asset=model_key("fct_site_report"),
    additional_deps=[model_key("fct_submission_status")],
    description="Every site-month with numbers (loaded or flagged) from the programme start (LAN_PROGRAMME_START) "
    "on also has an accepted monthly report. Lists those without one.",
)
def every_site_month_with_numbers_has_a_report(lan: LanHome, warehouse: DuckDBResource) -> dg.AssetCheckResult:
    missing = site_months_without_report(warehouse, lan.settings.programme_start)
    return dg.AssetCheckResult(
        passed=missing.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "site_months_without_report": len(missing),
            "without_report": dg.MetadataValue.md(markdown_table(missing)),
        },
    )
