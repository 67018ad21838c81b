-- Question: in the latest month, which sites (and the LAN as a whole) show a run-chart signal, for
--   which measure and ethnic group?
--
-- Returns: one row per run-chart series with at least one signal at its latest-month point, from
--   marts.run_chart_points. The latest month is the latest month_start_date in the table, the same
--   for every site (a site that has not sent that month has an empty value there).
--   A series is a site (or site_code 'LAN') x measure x ethnic group, either
--   the group's rate (series_type 'group_rate') or its gap to the reference group
--   (series_type 'gap_vs_reference', in the measure's units).
--   Signals (true / false columns, and all of them listed in `signals`):
--     runs_signal        Anhøj runs analysis (longest run or number of crossings) over the series:
--                        the whole series is non-random, so every point of it carries the flag;
--     ihi_shift          this point belongs to a run of 6 or more on one side of the centre line;
--     ihi_trend          this point belongs to 5 or more points all going up or all going down;
--     ihi_astronomical   this point is beyond the baseline mean +/- 3 SD;
--     ptd_special_cause  Making Data Count (XmR) special cause at this point, with its rule
--                        (ptd_special_cause_rule) and point_type (improvement, concern, neutral).
--   value, centre_line (median of the baseline), improvement_direction, and how many of the
--   point-level signals fired (n_point_signals; runs_signal not counted) to sort by.
--   Rows: sites first by code, then the LAN, then measure, series type and group.
--
-- Run it (read-only, on the published copy, never on warehouse/lan.duckdb):
--   duckdb -readonly publish/warehouse.duckdb < queries/sites_with_signals_latest_month.sql
--   python: duckdb.connect("publish/warehouse.duckdb", read_only=True).sql(open("queries/sites_with_signals_latest_month.sql").read()).df()
-- Works with DuckDB 1.1 or later (the tests run it with DuckDB 1.4 and 2.0).

with latest as (
    select max(month_start_date) as latest_month
    from marts.run_chart_points
),

points as (
    select
        r.*,
        coalesce(r.runs_signal, false) as has_runs_signal,
        coalesce(r.ihi_shift, false) as has_ihi_shift,
        coalesce(r.ihi_trend, false) as has_ihi_trend,
        coalesce(r.ihi_astronomical, false) as has_ihi_astronomical,
        coalesce(r.ptd_special_cause, false) as has_ptd_special_cause
    from marts.run_chart_points as r
    join latest as l on r.month_start_date = l.latest_month
)

select
    p.month_start_date as latest_month,
    p.geography_level,
    p.site_code,
    coalesce(s.team_name, 'Whole LAN') as team_name,
    p.measure_code,
    m.measure_name,
    p.series_type,
    p.ethnic_group,
    p.value,
    p.centre_line,
    p.improvement_direction,
    p.has_runs_signal as runs_signal,
    p.has_ihi_shift as ihi_shift,
    p.has_ihi_trend as ihi_trend,
    p.has_ihi_astronomical as ihi_astronomical,
    p.has_ptd_special_cause as ptd_special_cause,
    p.ptd_special_cause_rule,
    p.point_type,
    cast(p.has_ihi_shift as integer) + cast(p.has_ihi_trend as integer)
        + cast(p.has_ihi_astronomical as integer) + cast(p.has_ptd_special_cause as integer) as n_point_signals,
    concat_ws(', ',
        case when p.has_runs_signal then 'Anhøj runs' end,
        case when p.has_ihi_shift then 'IHI shift' end,
        case when p.has_ihi_trend then 'IHI trend' end,
        case when p.has_ihi_astronomical then 'IHI astronomical point' end,
        case when p.has_ptd_special_cause then 'special cause (' || coalesce(p.ptd_special_cause_rule, '?') || ')' end
    ) as signals
from points as p
join marts.dim_measure as m using (measure_code)
left join marts.dim_site as s using (site_code)
where p.has_runs_signal or p.has_ihi_shift or p.has_ihi_trend or p.has_ihi_astronomical or p.has_ptd_special_cause
order by p.geography_level = 'lan', p.site_code, p.measure_code, p.series_type, p.ethnic_group;
