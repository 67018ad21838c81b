"""The monthly series that get run charts, read from marts.gap_metrics (its monthly rows)."""

from __future__ import annotations

import duckdb
import pandas as pd

# A group's rate is a proportion with its own denominator each month: a p chart. A gap (rate difference to the
# reference group) has no denominator of its own: an XmR chart.
SERIES_SQL = """
with monthly as (
    select g.*, m.higher_is_better as measure_higher_is_better
    from marts.gap_metrics as g
    inner join marts.dim_measure as m on g.measure_code = m.measure_code
    where g.period_type = 'month'
)
select geography_level, site_code, measure_code, 'group_rate' as series_type, ethnic_group,
       period_start as month_start_date, rate as value, numerator, denominator, multiplier,
       'p' as chart_type, measure_higher_is_better as higher_is_better
from monthly
union all
select geography_level, site_code, measure_code, 'gap_vs_reference' as series_type, ethnic_group,
       period_start as month_start_date, rate_difference as value, numerator, denominator, multiplier,
       'xmr' as chart_type,
       null::boolean as higher_is_better  -- a gap improves towards 0, not in one direction
from monthly
where gap_assessment <> 'reference'
order by geography_level, site_code, measure_code, series_type, ethnic_group, month_start_date
"""


def series_from_gap_metrics(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per series and month: each group's rate (p chart) and its rate difference to the reference (XmR)."""
    frame = con.execute(SERIES_SQL).df()
    frame["month_start_date"] = pd.to_datetime(frame["month_start_date"]).dt.date
    return frame
