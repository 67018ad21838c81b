"""Asset checks on the dbt gap tables: a row for every expected key, no NaN or infinity, and a readable summary.

The expected keys are derived from the facts and dim_month here, independently of the dbt models that build
the tables: for each site and the LAN, each measure and each period with contributing data (a month; a complete
NHS financial quarter; a rolling 12 months ending from the 12th month of the data range; a programme phase), one
row per known ethnic group (gap_metrics) or known ethnic category (gap_metrics_by_ethnic_category).
"""

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from orchestration.assets.transform import model_key
from orchestration.markdown import markdown_table
from publish.warehouse_tables import non_finite_counts

# The expected (geography, measure, period, unit) keys; {unit} is ethnic_group or ethnic_code.
_EXPECTED_KEYS = """
with facts as (
    select site_code, month_start_date, measure_code
    from marts.fct_measure_monthly
    where numerator is not null and denominator is not null
),
data_range as (select min(month_start_date) as lo, max(month_start_date) as hi from facts),
months as (
    select m.month_start_date, m.month_label, m.quarter_label, m.programme_phase,
           count(*) over (partition by m.quarter_label) = 3 as complete_quarter, r.lo
    from marts.dim_month m join data_range r on m.month_start_date between r.lo and r.hi
),
geography_months as (
    select distinct 'site' as geography_level, site_code, measure_code, month_start_date from facts
    union
    select distinct 'lan', 'LAN', measure_code, month_start_date from facts
),
periods as (
    select g.geography_level, g.site_code, g.measure_code, p.period_type, p.period_label
    from geography_months g
    join (
        select month_start_date, 'month' as period_type, month_label as period_label from months
        union all
        select month_start_date, 'quarter', quarter_label from months where complete_quarter
        union all
        select member.month_start_date, 'rolling_12_months', window_end.month_label
        from months window_end join months member
          on member.month_start_date between window_end.month_start_date - interval 11 month
                                         and window_end.month_start_date
        where window_end.month_start_date >= window_end.lo + interval 11 month
        union all
        select month_start_date, 'programme_phase', programme_phase from months
    ) p using (month_start_date)
    group by all
),
units as (select distinct {unit} as unit from marts.dim_ethnic_category where is_known)
select periods.*, units.unit from periods cross join units
"""
_KEY = ["geography_level", "site_code", "measure_code", "period_type", "period_label"]


def _missing_keys(con, table: str, unit: str) -> pd.DataFrame:
    keys = ", ".join(_KEY)
    return con.execute(
        f"select * from ({_EXPECTED_KEYS.format(unit=unit)}) "
        f"except select {keys}, {unit} from marts.{table} order by all"
    ).df()


def _lan_gaps_worse_by_phase(con) -> pd.DataFrame:
    return con.execute(
        """
        select measure_code as measure, period_label as phase, ethnic_group as "ethnic group",
               round(rate_ratio, 2) as "rate ratio",
               round(rate_ratio_lower_95, 2) || ' to ' || round(rate_ratio_upper_95, 2) as "95 % interval",
               numerator as events, denominator
        from marts.gap_metrics
        where geography_level = 'lan' and period_type = 'programme_phase' and gap_assessment = 'worse'
        order by measure_code, period_start, ethnic_group
        """
    ).df()


def _rows_check(table: str, unit: str):
    @dg.asset_check(
        asset=model_key(table),
        name=f"{table}_has_every_expected_row",
        description=f"marts.{table} has a row for every site and the LAN x measure x period with data x known "
        f"{unit.replace('_', ' ')} (periods from dim_month: months, complete quarters, rolling 12 months, phases).",
    )
    def _check(warehouse: DuckDBResource) -> dg.AssetCheckResult:
        with warehouse.get_connection() as con:
            missing = _missing_keys(con, table, unit)
            rows = con.execute(f"select count(*) from marts.{table}").fetchone()[0]
            metadata: dict = {"rows": int(rows), "missing_rows": len(missing)}
            if len(missing):
                metadata["first_missing"] = dg.MetadataValue.md(markdown_table(missing.head(20)))
            if table == "gap_metrics":
                metadata["lan_gaps_worse_by_phase"] = dg.MetadataValue.md(markdown_table(_lan_gaps_worse_by_phase(con)))
        return dg.AssetCheckResult(passed=missing.empty, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata)

    return _check


def _finite_check(table: str):
    @dg.asset_check(
        asset=model_key(table),
        name=f"{table}_has_no_nan_or_infinity",
        description=f"No DOUBLE column of marts.{table} holds NaN or an infinity (not calculable is NULL).",
    )
    def _check(warehouse: DuckDBResource) -> dg.AssetCheckResult:
        with warehouse.get_connection() as con:
            counts = non_finite_counts(con, f"marts.{table}")
        bad = {c: n for c, n in counts.items() if n}
        return dg.AssetCheckResult(
            passed=not bad,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"double_columns": len(counts), "non_finite_values": dg.MetadataValue.json(bad)},
        )

    return _check


gap_metrics_has_every_expected_row = _rows_check("gap_metrics", "ethnic_group")
gap_metrics_by_ethnic_category_has_every_expected_row = _rows_check("gap_metrics_by_ethnic_category", "ethnic_code")
gap_metrics_has_no_nan_or_infinity = _finite_check("gap_metrics")
gap_metrics_by_ethnic_category_has_no_nan_or_infinity = _finite_check("gap_metrics_by_ethnic_category")
