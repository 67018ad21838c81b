"""The `gap_metrics` table: each ethnic group compared with a reference group.

See ``../shared/spec/warehouse-interface.md`` (section ``gap_metrics``) for what is published.
The statistics themselves are in :mod:`publish.statistics`.

Two entry points
----------------
``add_statistics(frame)`` computes every rate, interval, ratio, difference, excess and assessment
from these columns and nothing else: numerator, denominator, reference_numerator,
reference_denominator, multiplier, higher_is_better (True / False / <NA>) and is_reference. The
evaluation-extract writer reuses it to recompute everything from disclosure-rounded counts.

``build_gap_metrics(con)`` aggregates the warehouse in one DuckDB query and calls
``add_statistics`` on the result.

Decisions (each a choice the spec left open)
--------------------------------------------
Statistics (add_statistics)
* rate = numerator / denominator x multiplier. Its interval is the Wilson interval times the
  multiplier (PHE ``phe_proportion``). The rate is NULL (NaN) when the denominator is 0 or missing.
* reference_rate = reference_numerator / reference_denominator x multiplier.
* rate_ratio and its interval use the Katz log method on the proportions (the multiplier cancels).
* rate_difference = rate - reference_rate. Its interval is the Newcombe hybrid-score interval on the
  proportions, times the multiplier.
* excess_events = numerator - denominator x reference proportion. It is NULL when the reference
  denominator is 0.
* "not calculable" applies where a count or a denominator on either side is 0 or missing. Then
  rate_ratio and all ratio and difference intervals are NULL, and no inf is ever produced.
  rate_difference itself is kept whenever both denominators are > 0, because it is then simply
  rate - reference_rate.
* The reference group's own row: assessment ``reference``, rate_ratio 1, rate_difference 0 and
  excess_events 0 (when its denominator is > 0, otherwise NULL). The ratio and difference
  intervals are NULL. A group compared with itself has no sampling uncertainty, and an interval
  of (1, 1) would suggest a measured precision that does not exist. A NULL also leaves the
  reference point without whiskers in a forest plot.
* Direction: where the ratio's interval lies wholly above 1, the group's rate is higher.
  Where higher_is_better is True that is ``better``, where it is False ``worse``, and where it
  is NA ``higher``. Likewise below 1 for ``worse`` / ``better`` / ``lower``. Otherwise the
  assessment is ``no clear difference``, which includes a collapsed interval of exactly (1, 1).
* Interval column names carry the confidence: ``_95`` at 0.95, ``_99_8`` at 0.998.

Aggregation (build_gap_metrics)
* A fact row contributes when both its numerator and its denominator are non-null. Only
  contributing rows are summed, counted or used for the data range.
* Geographies: each site (geography_level ``site``), and the whole network (``lan``,
  site_code ``LAN``). LAN counts are the sums over the sites.
* Groups: ``level='group'`` gives one row per known ethnic_group (is_known). ``level='category'``
  gives one row per known ethnic_code, with ethnic_label and ethnic_group. In both cases the
  reference is the reference GROUP's total (for example, all White categories together). At
  the category level no row is a ``reference`` row. The White categories are compared with a
  total that includes themselves, so those intervals assume independence that does not hold,
  and they are conservative.
* A (geography, measure, period) appears when it has at least one contributing fact row, of
  any ethnic code including unknown ones. Every known group then has a row, with counts of 0
  if it has no data, so it is never missing.
* The data range is the first to the last month with a contributing row anywhere in the fact
  table. This global range keeps period labels the same across sites and measures.
* Periods:
  - ``month``: label ``YYYY-MM``. period_start = period_end = that month.
  - ``quarter``: the NHS financial quarter (Apr-Jun = Q1, Jan-Mar = Q4), labelled ``2024/25 Q1``
    (January 2024 is ``2023/24 Q4``). Only COMPLETE quarters are published: all three
    months must lie within the data range. This matches the rolling-12-month rule and
    quarterly NHS publications, and keeps a one-month "quarter" from being compared with
    full ones. period_start and period_end are the first and the last month of the quarter.
  - ``rolling_12_months``: labelled with the end month ``YYYY-MM``. The ends run from the 12th
    month of the data range to its last month. period_start = end - 11 months.
  - ``programme_phase``: ``baseline`` for the months before programme_start, ``intervention``
    from it on. programme_start is moved to the first of its month, so the month it falls in
    is intervention. The periods are clipped to the data range: baseline is data start to
    programme_start - 1 month, and intervention is programme_start (or data start, if later)
    to data end. A phase with no month in the data range is not published. The phase is
    computed from ``programme_start`` and not read from dim_month.programme_phase, so that
    the parameter governs. Quarter labels are likewise computed from month_start_date, so
    that a month missing from dim_month cannot drop data. dim_month is not read.
* meets_completeness_threshold is True when every contributing site-month-measure in the
  (geography, measure, period) met the threshold. A NULL flag in the fact table counts as
  not met. months_flagged is the number of contributing site-month-measures below the
  threshold, so for LAN it can exceed n_months. n_months is the number of distinct months
  with contributing data. The same values go on every group's row.
* Extra columns after the spec's list: multiplier, higher_is_better and is_reference. The
  table then holds everything ``add_statistics`` needs, and the extract writer needs no join.
* Dates are pandas ``date32[pyarrow]``, which DuckDB and Parquet read back as DATE (a plain
  datetime64 column would become TIMESTAMP).
* Rows are ordered by geography (sites in code order, then LAN), measure, period type (month,
  quarter, rolling, phase), period, and group (the order of its first ethnic code: White,
  Mixed, Asian, Black, Other). At the category level the order is by ethnic code.

How the query works (one DuckDB statement, read-only, with no temporary tables)
* Contributing fact rows are summed to site x month x measure x unit, and to the LAN with
  GROUPING SETS. The reference group's counts, the completeness flags and "has data" are
  computed per geography x measure x month.
* Both levels are made dense over every month of the data range. This zero-fills empty
  groups and lets a rolling window be a difference of running totals (cum[t] - cum[t-12]),
  with no 12x expansion of the rows. Quarters and phases are plain GROUP BYs over the dense
  rows.
* Periods are keyed by integers (series id, period type, month index), so the final join and
  the ORDER BY never compare strings.
* About 1M fact rows (130 sites x 60 months x 7 measures x 18 codes) take roughly 1-2 s at the
  group level on two cores, numpy statistics included.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from publish import statistics as st

__all__ = [
    "GAP_COLUMNS",
    "GAP_CATEGORY_COLUMNS",
    "INPUT_COLUMNS",
    "add_statistics",
    "build_gap_metrics",
    "gap_columns",
    "interval_suffix",
]

#: Columns add_statistics reads (and the only ones it depends on).
INPUT_COLUMNS = [
    "numerator",
    "denominator",
    "reference_numerator",
    "reference_denominator",
    "multiplier",
    "higher_is_better",
    "is_reference",
]

_STAT_COLUMNS = [
    "rate",
    "rate_lower_95",
    "rate_upper_95",
    "reference_group",
    "reference_numerator",
    "reference_denominator",
    "reference_rate",
    "rate_ratio",
    "rate_ratio_lower_95",
    "rate_ratio_upper_95",
    "rate_difference",
    "rate_difference_lower_95",
    "rate_difference_upper_95",
    "excess_events",
    "gap_assessment",
    "meets_completeness_threshold",
    "months_flagged",
    "n_months",
    "multiplier",
    "higher_is_better",
    "is_reference",
]
_KEY_COLUMNS = [
    "geography_level",
    "site_code",
    "measure_code",
    "period_type",
    "period_label",
    "period_start",
    "period_end",
]

#: Output column order of build_gap_metrics(level="group").
GAP_COLUMNS: list[str] = _KEY_COLUMNS + ["ethnic_group", "numerator", "denominator"] + _STAT_COLUMNS
#: Output column order of build_gap_metrics(level="category").
GAP_CATEGORY_COLUMNS: list[str] = (
    _KEY_COLUMNS + ["ethnic_code", "ethnic_label", "ethnic_group", "numerator", "denominator"] + _STAT_COLUMNS
)

PERIOD_TYPES = ["month", "quarter", "rolling_12_months", "programme_phase"]
ASSESSMENTS = ["reference", "not calculable", "worse", "better", "higher", "lower", "no clear difference"]


def gap_columns(level: Literal["group", "category"] = "group") -> list[str]:
    return list(GAP_COLUMNS if level == "group" else GAP_CATEGORY_COLUMNS)


def interval_suffix(confidence: float) -> str:
    """Column suffix for a confidence level: 0.95 -> '95', 0.998 -> '99_8'."""
    text = f"{confidence * 100:.10f}".rstrip("0").rstrip(".")
    return text.replace(".", "_")


def _float(frame: pd.DataFrame, column: str) -> np.ndarray:
    return st.as_float_array(frame[column])


def add_statistics(frame: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Return a copy of ``frame`` with the rate, ratio, difference, excess and assessment columns.

    It reads only the columns in :data:`INPUT_COLUMNS`. Any column it writes is replaced. Missing
    counts (NA) make the statistics that need them NULL, and make the comparison
    ``not calculable``.
    """
    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise KeyError(f"add_statistics needs columns {missing}")
    sfx = interval_suffix(confidence)
    out = frame.copy(deep=False)  # copy-on-write (pandas 3): the caller's frame is never modified

    x1, n1 = _float(frame, "numerator"), _float(frame, "denominator")
    x2, n2 = _float(frame, "reference_numerator"), _float(frame, "reference_denominator")
    mult = _float(frame, "multiplier")
    hib = frame["higher_is_better"].astype("boolean")
    is_ref = frame["is_reference"].astype("boolean").fillna(False).to_numpy(dtype=bool)

    w1_lo, w1_hi = st.wilson_interval(x1, n1, confidence)
    w2_lo, w2_hi = st.wilson_interval(x2, n2, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1 = np.where(np.isfinite(w1_lo), x1 / n1, np.nan)
        p2 = np.where(np.isfinite(w2_lo), x2 / n2, np.nan)
        excess = np.where(n2 > 0, x1 - n1 * p2, np.nan)
    rate, rate_lo, rate_hi = p1 * mult, w1_lo * mult, w1_hi * mult
    ref_rate = p2 * mult
    ratio, ratio_lo, ratio_hi = st.risk_ratio_log_interval(x1, n1, x2, n2, confidence)
    diff, diff_lo, diff_hi = st.newcombe_combine(p1, w1_lo, w1_hi, p2, w2_lo, w2_hi)

    counts = np.stack([x1, n1, x2, n2])
    calculable = (np.isfinite(counts) & (counts > 0)).all(axis=0) & np.isfinite(ratio_lo) & np.isfinite(ratio_hi)
    # Not calculable: no ratio, no intervals. The difference estimate stays where both rates exist.
    ratio = np.where(calculable, ratio, np.nan)
    ratio_lo = np.where(calculable, ratio_lo, np.nan)
    ratio_hi = np.where(calculable, ratio_hi, np.nan)
    diff_lo = np.where(calculable, diff_lo, np.nan)
    diff_hi = np.where(calculable, diff_hi, np.nan)
    diff = diff * mult

    # The reference group's own row.
    own = is_ref & np.isfinite(rate)
    ratio = np.where(is_ref, np.where(own, 1.0, np.nan), ratio)
    diff = np.where(is_ref, np.where(own, 0.0, np.nan), diff)
    excess = np.where(is_ref, np.where(own, 0.0, np.nan), excess)
    for arr in (ratio_lo, ratio_hi, diff_lo, diff_hi):
        arr[is_ref] = np.nan

    above = calculable & (ratio_lo > 1.0)
    below = calculable & (ratio_hi < 1.0)
    hib_true = hib.fillna(False).to_numpy(dtype=bool)
    hib_false = (~hib).fillna(False).to_numpy(dtype=bool)
    hib_na = hib.isna().to_numpy(dtype=bool)
    code = np.select(
        [
            is_ref,
            ~calculable,
            (above & hib_false) | (below & hib_true),
            (above & hib_true) | (below & hib_false),
            above & hib_na,
            below & hib_na,
        ],
        [ASSESSMENTS.index(a) for a in ("reference", "not calculable", "worse", "better", "higher", "lower")],
        default=ASSESSMENTS.index("no clear difference"),
    ).astype(np.int8)
    assessment = pa.DictionaryArray.from_arrays(pa.array(code), pa.array(ASSESSMENTS)).cast(pa.string())

    out["rate"] = rate
    out[f"rate_lower_{sfx}"] = rate_lo
    out[f"rate_upper_{sfx}"] = rate_hi
    out["reference_rate"] = ref_rate
    out["rate_ratio"] = ratio
    out[f"rate_ratio_lower_{sfx}"] = ratio_lo
    out[f"rate_ratio_upper_{sfx}"] = ratio_hi
    out["rate_difference"] = diff
    out[f"rate_difference_lower_{sfx}"] = diff_lo * mult
    out[f"rate_difference_upper_{sfx}"] = diff_hi * mult
    out["excess_events"] = excess
    out["gap_assessment"] = pd.Series(assessment.to_pandas(), index=frame.index).astype("str")
    return out


_SQL = """
WITH
known AS (
    SELECT ethnic_code, ethnic_label, ethnic_group
    FROM marts.dim_ethnic_category
    WHERE is_known
),
units AS (          -- the output's ethnic unit (group or code), numbered in output order
    SELECT *, CAST(row_number() OVER (ORDER BY sort_key) AS INTEGER) AS uid
    FROM ({units_sql})
),
facts AS (          -- contributing rows: numerator and denominator both present
    SELECT site_code, CAST(month_start_date AS DATE) AS month, measure_code, ethnic_code,
           CAST(numerator AS BIGINT) AS numerator, CAST(denominator AS BIGINT) AS denominator,
           coalesce(meets_completeness_threshold, false) AS ok
    FROM marts.fct_measure_monthly
    WHERE numerator IS NOT NULL AND denominator IS NOT NULL
),
bounds AS (         -- the data range
    SELECT min(month) AS lo, max(month) AS hi FROM facts
),
smm AS (            -- one row per contributing site-month-measure, with the reference group's counts
    SELECT f.site_code, f.month, f.measure_code,
           bool_and(f.ok) AS ok,
           coalesce(sum(f.numerator) FILTER (WHERE k.ethnic_group = $reference_group), 0) AS ref_n,
           coalesce(sum(f.denominator) FILTER (WHERE k.ethnic_group = $reference_group), 0) AS ref_d
    FROM facts f LEFT JOIN known k USING (ethnic_code)
    GROUP BY f.site_code, f.month, f.measure_code
),
geo_month AS (      -- per geography (each site, and LAN) x measure x month with data
    SELECT grouping(site_code) AS is_lan,
           CASE WHEN grouping(site_code) = 1 THEN 'LAN' ELSE site_code END AS site_code,
           measure_code, month,
           sum(ref_n) AS ref_n, sum(ref_d) AS ref_d,
           count(*) FILTER (WHERE NOT ok) AS flagged
    FROM smm
    GROUP BY GROUPING SETS ((site_code, measure_code, month), (measure_code, month))
),
series AS (         -- geography x measure, numbered in output order
    SELECT is_lan, site_code, measure_code,
           CAST(row_number() OVER (ORDER BY is_lan, site_code, measure_code) AS INTEGER) AS sid
    FROM (SELECT DISTINCT is_lan, site_code, measure_code FROM geo_month)
),
unit_month AS (     -- known-ethnicity counts per series x month x unit
    SELECT s.sid, c.month, k.uid, c.n, c.d
    FROM (
        SELECT grouping(f.site_code) AS is_lan,
               CASE WHEN grouping(f.site_code) = 1 THEN 'LAN' ELSE f.site_code END AS site_code,
               f.measure_code, f.month, k.{unit_column} AS unit,
               sum(f.numerator) AS n, sum(f.denominator) AS d
        FROM facts f JOIN known k USING (ethnic_code)
        GROUP BY GROUPING SETS ((f.site_code, f.measure_code, f.month, k.{unit_column}),
                                (f.measure_code, f.month, k.{unit_column}))
    ) c
    JOIN series s ON s.is_lan = c.is_lan AND s.site_code = c.site_code AND s.measure_code = c.measure_code
    JOIN units k ON k.unit = c.unit
),
calendar AS (       -- every month of the data range, with its financial quarter and phase
    SELECT month, fy, q, mi,
           CAST(make_date(fy, 4, 1) + to_months(3 * (q - 1)) AS DATE) AS quarter_start,
           month < $programme_start AS is_baseline
    FROM (
        SELECT CAST(t.m AS DATE) AS month,
               CASE WHEN month(t.m) >= 4 THEN year(t.m) ELSE year(t.m) - 1 END AS fy,
               ((month(t.m) + 8) % 12) // 3 + 1 AS q,
               CAST(year(t.m) * 12 + month(t.m) - 1 AS INTEGER) AS mi
        FROM bounds, unnest(range(CAST(lo AS TIMESTAMP), CAST(hi + INTERVAL 1 MONTH AS TIMESTAMP),
                                  INTERVAL 1 MONTH)) AS t(m)
        WHERE lo IS NOT NULL
    )
),
geo_dense AS (      -- every series x month of the range
    SELECT s.sid, c.month, c.mi, c.fy, c.q, c.quarter_start, c.is_baseline,
           g.month IS NOT NULL AS has_data,
           coalesce(g.ref_n, 0) AS ref_n, coalesce(g.ref_d, 0) AS ref_d, coalesce(g.flagged, 0) AS flagged
    FROM series s CROSS JOIN calendar c
    LEFT JOIN geo_month g
      ON g.is_lan = s.is_lan AND g.site_code = s.site_code AND g.measure_code = s.measure_code
     AND g.month = c.month
),
unit_dense AS (     -- every series x month of the range x unit, zero-filled
    SELECT s.sid, c.month, c.mi, c.quarter_start, c.is_baseline, k.uid,
           coalesce(u.n, 0) AS n, coalesce(u.d, 0) AS d
    FROM series s CROSS JOIN calendar c CROSS JOIN units k
    LEFT JOIN unit_month u ON u.sid = s.sid AND u.month = c.month AND u.uid = k.uid
),
-- Periods. (type_order, pkey) identifies a period within a series: pkey is the month index of the
-- month, the quarter's first month or the rolling window's end month; for a phase 0 = baseline.
geo_periods AS (
    SELECT sid, 1 AS type_order, mi AS pkey, 'month' AS period_type, strftime(month, '%Y-%m') AS period_label,
           month AS period_start, month AS period_end, ref_n, ref_d, flagged, 1 AS n_months
    FROM geo_dense
    WHERE has_data
    UNION ALL
    SELECT sid, 2, min(mi), 'quarter',
           fy::VARCHAR || '/' || lpad(((fy + 1) % 100)::VARCHAR, 2, '0') || ' Q' || q::VARCHAR,
           quarter_start, CAST(quarter_start + INTERVAL 2 MONTH AS DATE),
           sum(ref_n), sum(ref_d), sum(flagged), count(*) FILTER (WHERE has_data)
    FROM geo_dense, bounds
    WHERE quarter_start >= lo AND CAST(quarter_start + INTERVAL 2 MONTH AS DATE) <= hi
    GROUP BY sid, fy, q, quarter_start
    HAVING bool_or(has_data)
    UNION ALL
    SELECT sid, 3, mi, 'rolling_12_months', strftime(month, '%Y-%m'),
           CAST(month - INTERVAL 11 MONTH AS DATE), month, ref_n, ref_d, flagged, n_months
    FROM (
        SELECT sid, month, mi,
               sum(ref_n) OVER w AS ref_n, sum(ref_d) OVER w AS ref_d, sum(flagged) OVER w AS flagged,
               sum(CAST(has_data AS INTEGER)) OVER w AS n_months
        FROM geo_dense
        WINDOW w AS (PARTITION BY sid ORDER BY month ROWS BETWEEN 11 PRECEDING AND CURRENT ROW)
    ), bounds
    WHERE month >= CAST(lo + INTERVAL 11 MONTH AS DATE) AND n_months > 0
    UNION ALL
    SELECT sid, 4, CASE WHEN is_baseline THEN 0 ELSE 1 END, 'programme_phase',
           CASE WHEN is_baseline THEN 'baseline' ELSE 'intervention' END,
           CASE WHEN is_baseline THEN lo ELSE greatest(lo, $programme_start) END,
           CASE WHEN is_baseline THEN least(hi, CAST($programme_start - INTERVAL 1 MONTH AS DATE)) ELSE hi END,
           sum(ref_n), sum(ref_d), sum(flagged), count(*) FILTER (WHERE has_data)
    FROM geo_dense, bounds
    GROUP BY sid, is_baseline, lo, hi
    HAVING bool_or(has_data)
),
unit_running AS (   -- running totals per series x unit, for the rolling windows
    SELECT sid, uid, mi, n, d,
           sum(n) OVER w AS cum_n, sum(d) OVER w AS cum_d
    FROM unit_dense
    WINDOW w AS (PARTITION BY sid, uid ORDER BY mi ROWS UNBOUNDED PRECEDING)
),
unit_periods AS (
    SELECT sid, uid, 1 AS type_order, mi AS pkey, n, d FROM unit_dense
    UNION ALL
    SELECT sid, uid, 2, min(mi), sum(n), sum(d) FROM unit_dense GROUP BY sid, uid, quarter_start
    UNION ALL
    SELECT r.sid, r.uid, 3, r.mi, r.cum_n - coalesce(e.cum_n, 0), r.cum_d - coalesce(e.cum_d, 0)
    FROM unit_running r
    LEFT JOIN unit_running e ON e.sid = r.sid AND e.uid = r.uid AND e.mi = r.mi - 12
    UNION ALL
    SELECT sid, uid, 4, CASE WHEN is_baseline THEN 0 ELSE 1 END, sum(n), sum(d)
    FROM unit_dense GROUP BY sid, uid, is_baseline
)
SELECT CASE WHEN s.is_lan = 1 THEN 'lan' ELSE 'site' END AS geography_level,
       s.site_code, s.measure_code, g.period_type, g.period_label, g.period_start, g.period_end,
       {unit_select},
       CAST(u.n AS BIGINT) AS numerator,
       CAST(u.d AS BIGINT) AS denominator,
       $reference_group AS reference_group,
       CAST(g.ref_n AS BIGINT) AS reference_numerator,
       CAST(g.ref_d AS BIGINT) AS reference_denominator,
       g.flagged = 0 AS meets_completeness_threshold,
       CAST(g.flagged AS BIGINT) AS months_flagged,
       CAST(g.n_months AS BIGINT) AS n_months,
       m.multiplier, m.higher_is_better
FROM geo_periods g
JOIN unit_periods u ON u.sid = g.sid AND u.type_order = g.type_order AND u.pkey = g.pkey
JOIN series s ON s.sid = g.sid
JOIN units k ON k.uid = u.uid
LEFT JOIN marts.dim_measure m ON m.measure_code = s.measure_code
ORDER BY g.sid, g.type_order, g.pkey, u.uid
"""

_LEVELS = {
    "group": dict(
        unit_column="ethnic_group",
        units_sql="SELECT ethnic_group AS unit, min(ethnic_code) AS sort_key FROM known GROUP BY ethnic_group",
        unit_select="k.unit AS ethnic_group",
    ),
    "category": dict(
        unit_column="ethnic_code",
        units_sql="SELECT ethnic_code AS unit, ethnic_code AS sort_key, ethnic_label, ethnic_group FROM known",
        unit_select="k.unit AS ethnic_code, k.ethnic_label, k.ethnic_group",
    ),
}

_DATE = pd.ArrowDtype(pa.date32())


def build_gap_metrics(
    con: duckdb.DuckDBPyConnection,
    reference_group: str = "White",
    programme_start: date = date(2024, 1, 1),
    level: Literal["group", "category"] = "group",
) -> pd.DataFrame:
    """Compute ``gap_metrics`` from the ``marts`` tables of ``con``. It only reads; nothing is written.

    Columns are :data:`GAP_COLUMNS` (``level='group'``) or :data:`GAP_CATEGORY_COLUMNS`
    (``level='category'``). The decisions are in the module docstring.
    """
    if level not in _LEVELS:
        raise ValueError(f"level must be 'group' or 'category', got {level!r}")
    groups = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT ethnic_group FROM marts.dim_ethnic_category WHERE is_known ORDER BY 1"
        ).fetchall()
    ]
    if reference_group not in groups:
        raise ValueError(f"reference_group {reference_group!r} is not a known ethnic group; known: {groups}")
    start = date(programme_start.year, programme_start.month, 1)

    sql = _SQL.format(**_LEVELS[level])
    params = {"reference_group": reference_group, "programme_start": start}
    table = con.sql(sql, params=params).to_arrow_table()
    frame = table.to_pandas(types_mapper={pa.date32(): _DATE}.get)

    unknown_measures = frame.loc[frame["multiplier"].isna(), "measure_code"].unique()
    if len(unknown_measures):
        raise ValueError(f"measures missing from marts.dim_measure (or without multiplier): {sorted(unknown_measures)}")

    for column in (
        "numerator",
        "denominator",
        "reference_numerator",
        "reference_denominator",
        "months_flagged",
        "n_months",
        "multiplier",
    ):
        frame[column] = frame[column].astype("int64")
    frame["meets_completeness_threshold"] = frame["meets_completeness_threshold"].astype(bool)
    frame["higher_is_better"] = frame["higher_is_better"].astype("boolean")
    frame["is_reference"] = (frame["ethnic_group"] == reference_group) if level == "group" else False
    frame["is_reference"] = frame["is_reference"].astype(bool)

    frame = add_statistics(frame)
    return frame[gap_columns(level)].reset_index(drop=True)
