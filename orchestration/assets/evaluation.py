"""Evaluation: did the gap narrow? The gap_trend model fits (schema analysis), the checks on marts.gap_change and
marts.gap_trend (dbt models), and the "Did the gap narrow?" page."""

from __future__ import annotations

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from orchestration.assets.transform import model_key
from orchestration.markdown import markdown_table
from orchestration.resources import LanHome
from publish.warehouse_tables import non_finite_counts, replace_table

GAP_TREND_FITS = dg.AssetKey(["analysis", "gap_trend_fits"])
GAP_METRICS = model_key("gap_metrics")
CHANGE_KEY = ["geography_level", "site_code", "measure_code", "ethnic_group", "comparison"]

MONTHLY_COUNTS = """
    select site_code, measure_code, period_start as month, ethnic_group, numerator, denominator
    from marts.gap_metrics
    where geography_level = 'site' and period_type = 'month'
    order by site_code, measure_code, month, ethnic_group
"""

# Every geography x measure x group other than the reference that gap_metrics holds; gap_change has each for
# every comparison (the latest 12 months once they lie wholly in the intervention phase).
EXPECTED_CHANGE_ROWS = """
    with pairs as (
        select distinct geography_level, site_code, measure_code, ethnic_group
        from marts.gap_metrics
        where period_type = 'programme_phase' and ethnic_group != reference_group
    ),
    latest as (
        select arg_max(period_start, period_end) as period_start
        from marts.gap_metrics where period_type = 'rolling_12_months'
    ),
    comparisons as (
        select 'intervention_vs_baseline' as comparison
        union all
        select 'last_12_months_vs_baseline' from latest where period_start >= cast(? as date)
    )
    select pairs.*, comparisons.comparison from pairs cross join comparisons
"""
EXPECTED_TREND_ROWS = """
    select distinct geography_level, site_code, measure_code, ethnic_group
    from marts.gap_metrics
    where period_type = 'month' and ethnic_group != reference_group
"""


def lan_changes(con) -> pd.DataFrame:
    """The LAN's gap_change rows that narrowed or widened (crude or site-adjusted), with their intervals."""
    return con.execute(
        """
        select measure_code, ethnic_group, comparison, change_assessment,
               ratio_of_rate_ratios as ratio, ratio_of_rate_ratios_lower_95 as lower_95,
               ratio_of_rate_ratios_upper_95 as upper_95, adjusted_change_assessment,
               adjusted_ratio_of_rate_ratios as adjusted_ratio,
               adjusted_ratio_of_rate_ratios_lower_95 as adjusted_lower_95,
               adjusted_ratio_of_rate_ratios_upper_95 as adjusted_upper_95
        from marts.gap_change
        where geography_level = 'lan'
          and (change_assessment in ('narrowed', 'widened') or adjusted_change_assessment in ('narrowed', 'widened'))
        order by measure_code, ethnic_group, comparison
        """
    ).df()


@dg.asset(key=GAP_TREND_FITS, deps=[GAP_METRICS], group_name="evaluation", compute_kind="statsmodels")
def gap_trend_fits(lan: LanHome, warehouse: DuckDBResource) -> dg.MaterializeResult:
    """analysis.gap_trend_fits: the comparative segmented quasi-Poisson regression of every site and the LAN x
    measure x ethnic group against the reference group (publish/gap_trend.py), from gap_metrics' monthly counts;
    dbt republishes it as marts.gap_trend."""
    from publish.gap_trend import KEY_COLUMNS, fit_gap_trends  # lazily: see orchestration/assets/__init__.py

    settings = lan.settings
    with warehouse.get_connection() as con:
        monthly = con.execute(MONTHLY_COUNTS).df()
        previous = _previous_fits(con)
    fits = fit_gap_trends(monthly, settings.programme_start.strftime("%Y-%m"), settings.reference_group, previous)
    reused = _reused(fits, previous)
    with warehouse.get_connection() as con:
        rows = replace_table(con, "analysis.gap_trend_fits", fits, KEY_COLUMNS)
    lan_rows = fits[fits["geography_level"] == "lan"]
    summary = lan_rows[
        ["measure_code", "ethnic_group", "gap_level_change", "gap_level_change_lower_95", "gap_level_change_upper_95"]
        + ["gap_slope_change_per_year", "dispersion", "fit_note"]
    ]
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "fitted": int(fits["fit_note"].isna().sum()),
            "fits_reused": reused,  # unchanged inputs since the last run: taken as they were, not fitted again
            "fits_computed": len(fits) - reused,
            "not_fitted": int(fits["fit_note"].notna().sum()),
            "lan_fits": dg.MetadataValue.md(markdown_table(summary)),
        }
    )


def _previous_fits(con) -> pd.DataFrame | None:
    """The fits of the last run (with their input hashes), or None before the first."""
    found = con.execute(
        "select count(*) from information_schema.columns "
        "where table_schema = 'analysis' and table_name = 'gap_trend_fits' and column_name = 'input_hash'"
    ).fetchone()[0]
    return con.execute("select * from analysis.gap_trend_fits").df() if found else None


def _reused(fits: pd.DataFrame, previous: pd.DataFrame | None) -> int:
    if previous is None:
        return 0
    return int(fits["input_hash"].isin(set(previous["input_hash"])).sum())


def _missing(con, expected_sql: str, table: str, key: list[str], params: list | None = None) -> pd.DataFrame:
    on = " and ".join(f"e.{c} = t.{c}" for c in key)
    return con.execute(
        f"select e.* from ({expected_sql}) e where not exists (select 1 from {table} t where {on})", params or []
    ).df()


@dg.asset_check(asset=model_key("gap_change"), description="Every geography x measure x group x comparison exists.")
def gap_change_rows_complete(lan: LanHome, warehouse: DuckDBResource) -> dg.AssetCheckResult:
    start = lan.settings.programme_start.replace(day=1).isoformat()
    with warehouse.get_connection() as con:
        missing = _missing(con, EXPECTED_CHANGE_ROWS, "marts.gap_change", CHANGE_KEY, [start])
        summary = lan_changes(con)
    return dg.AssetCheckResult(
        passed=missing.empty,
        metadata={
            "missing_rows": len(missing),
            "missing_examples": dg.MetadataValue.md(markdown_table(missing.head(20))),
            "lan_narrowed_or_widened": dg.MetadataValue.md(markdown_table(summary)),
        },
    )


@dg.asset_check(asset=model_key("gap_change"), description="Every estimate is finite or empty (no NaN, no inf).")
def gap_change_estimates_finite(warehouse: DuckDBResource) -> dg.AssetCheckResult:
    with warehouse.get_connection() as con:
        bad = {c: n for c, n in non_finite_counts(con, "marts.gap_change").items() if n}
    return dg.AssetCheckResult(passed=not bad, metadata={"non_finite_by_column": dg.MetadataValue.json(bad)})


@dg.asset_check(asset=model_key("gap_trend"), description="Every geography x measure x group has a fit row.")
def gap_trend_rows_complete(warehouse: DuckDBResource) -> dg.AssetCheckResult:
    from publish.gap_trend import KEY_COLUMNS  # lazily: see orchestration/assets/__init__.py

    with warehouse.get_connection() as con:
        missing = _missing(con, EXPECTED_TREND_ROWS, "marts.gap_trend", KEY_COLUMNS)
        notes = con.execute(
            "select fit_note, count(*) as n from marts.gap_trend where fit_note is not null group by 1 order by 2 desc"
        ).df()
    return dg.AssetCheckResult(
        passed=missing.empty,
        metadata={
            "missing_rows": len(missing),
            "missing_examples": dg.MetadataValue.md(markdown_table(missing.head(20))),
            "not_fitted_because": dg.MetadataValue.md(markdown_table(notes)),
        },
    )


@dg.asset_check(asset=model_key("gap_trend"), description="Every estimate is finite or empty (no NaN, no inf).")
def gap_trend_estimates_finite(warehouse: DuckDBResource) -> dg.AssetCheckResult:
    with warehouse.get_connection() as con:
        bad = {c: n for c, n in non_finite_counts(con, "marts.gap_trend").items() if n}
        unexplained = con.execute(
            "select count(*) from marts.gap_trend where gap_level_change is null and fit_note is null"
        ).fetchone()[0]
    return dg.AssetCheckResult(
        passed=not bad and unexplained == 0,
        metadata={
            "non_finite_by_column": dg.MetadataValue.json(bad),
            "empty_without_fit_note": int(unexplained),
        },
    )


@dg.asset(
    deps=[model_key("gap_change"), model_key("gap_trend"), GAP_METRICS],
    group_name="evaluation",
    compute_kind="matplotlib",
)
def gap_change_page(lan: LanHome, warehouse: DuckDBResource) -> dg.MaterializeResult:
    """publish/charts/did-the-gap-narrow.html: per measure a forest plot of the ratio of rate ratios (each site,
    the LAN crude and site-adjusted) and the LAN's monthly gap with its fitted segmented trend. Offline; redrawn
    only when its data change."""
    from publish.gap_change_page import write_gap_change_page  # lazily: see orchestration/assets/__init__.py

    settings = lan.settings
    with warehouse.get_connection() as con:
        change = con.execute("select * from marts.gap_change").df()
        trend = con.execute("select * from marts.gap_trend where geography_level = 'lan'").df()
        monthly = con.execute(
            "select measure_code, period_start as month, ethnic_group, rate_ratio, rate_ratio_lower_95, "
            "rate_ratio_upper_95 from marts.gap_metrics where geography_level = 'lan' and period_type = 'month' "
            "and ethnic_group != reference_group order by measure_code, ethnic_group, month"
        ).df()
        measures = con.execute("select measure_code, measure_name from marts.dim_measure").df()
        summary = lan_changes(con)
    result = write_gap_change_page(
        change, trend, monthly, measures, settings.publish / "charts", settings.programme_start
    )
    return dg.MaterializeResult(
        metadata={
            "page": dg.MetadataValue.path(str(result.page)),
            "redrawn": result.redrawn,
            "charts": len(result.images),
            "lan_narrowed_or_widened": dg.MetadataValue.md(markdown_table(summary)),
        }
    )
