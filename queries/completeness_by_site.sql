-- Question: how complete is ethnicity recording at each site, for each measure, over the latest
--   12 months, and which months fell below the threshold?
--
-- Returns: one row per site (every site of marts.dim_site, even one that sent nothing) and measure:
--   window_start / window_end: the 12 months ending at the latest month in
--     marts.fct_ethnicity_completeness (the same window for every site);
--   months_reported: months of the window with data for the site and measure;
--   denominator_total, denominator_known: summed over the window; completeness = known / total
--     (0 to 1; null when nothing was reported);
--   lowest_monthly_completeness and its month;
--   completeness_threshold (LAN_COMPLETENESS_THRESHOLD, default 0.9);
--   months_flagged: how many months Great Expectations judged below the threshold,
--     flagged_months: those months as 'YYYY-MM', comma-separated (null when none).
--   Differential completeness (one group or one measure much emptier than the others) is not
--   here: see marts.fct_data_quality_results (suite and rule) for those checks.
--   Rows are ordered by site and measure; months_flagged > 0 marks the ones to look at.
--
-- Run it (read-only, on the published copy, never on warehouse/lan.duckdb):
--   duckdb -readonly publish/warehouse.duckdb < queries/completeness_by_site.sql
--   python: duckdb.connect("publish/warehouse.duckdb", read_only=True).sql(open("queries/completeness_by_site.sql").read()).df()
-- Works with DuckDB 1.1 or later (the tests run it with DuckDB 1.4 and 2.0).

with window_end as (
    select max(month_start_date) as window_end
    from marts.fct_ethnicity_completeness
),

bounds as (
    select
        cast(w.window_end - interval 11 month as date) as window_start,
        w.window_end,
        (select max(completeness_threshold) from marts.fct_ethnicity_completeness) as completeness_threshold
    from window_end as w
),

monthly as (
    select c.*
    from marts.fct_ethnicity_completeness as c, bounds as b
    where c.month_start_date between b.window_start and b.window_end
),

per_site_measure as (
    select
        site_code,
        measure_code,
        count(*) as months_reported,
        cast(sum(denominator_total) as bigint) as denominator_total,
        cast(sum(denominator_known) as bigint) as denominator_known,
        min(completeness) as lowest_monthly_completeness,
        arg_min(month_start_date, completeness) as lowest_month,
        count(*) filter (where not meets_completeness_threshold) as months_flagged,
        string_agg(strftime(month_start_date, '%Y-%m'), ', ' order by month_start_date)
            filter (where not meets_completeness_threshold) as flagged_months
    from monthly
    group by site_code, measure_code
)

select
    s.site_code,
    s.team_name,
    m.measure_code,
    m.measure_name,
    b.window_start,
    b.window_end,
    coalesce(p.months_reported, 0) as months_reported,
    p.denominator_total,
    p.denominator_known,
    case when p.denominator_total > 0 then cast(p.denominator_known as double) / p.denominator_total end
        as completeness,
    p.lowest_monthly_completeness,
    strftime(p.lowest_month, '%Y-%m') as lowest_month,
    b.completeness_threshold,
    coalesce(p.months_flagged, 0) as months_flagged,
    p.flagged_months
from marts.dim_site as s
cross join marts.dim_measure as m
cross join bounds as b
left join per_site_measure as p
  on p.site_code = s.site_code
 and p.measure_code = m.measure_code
order by s.site_code, m.measure_code;
