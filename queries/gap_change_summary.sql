-- Question: which gaps between each ethnic group and the reference group (White by default) narrowed, widened
--   or did not clearly change after the programme started, for the LAN adjusted for site mix and for each site,
--   with intervals?
--
-- Returns: one row per geography (the LAN first, then each site), measure, ethnic group and comparison
--   (intervention_vs_baseline; last_12_months_vs_baseline once the latest 12 months lie wholly in the
--   intervention phase), from marts.gap_change:
--   * estimate: for the LAN the Mantel-Haenszel rate ratios adjusted for site mix, for a site its own (crude);
--   * baseline_rate_ratio, comparison_rate_ratio: the group's rate / the reference group's rate in each period;
--   * ratio_of_rate_ratios = comparison / baseline (below 1: the group's rate fell relative to the reference
--     group's), with its 95 % interval and two-sided p value (Altman and Bland, BMJ 2003;326:219);
--   * assessment: narrowed or widened (the gap moved towards or away from no difference, and the interval
--     excludes 1), no clear change, or not calculable (a zero count, or no data in a period: see change_note);
--   * difference_in_rate_differences: the change in the rate difference (in the measure's unit), 95 % MOVER
--     interval (crude, also for the LAN);
--   * meets_completeness_threshold: both periods' ethnicity completeness met the threshold.
--   Sorted: the LAN first; then narrowed, widened, no clear change, not calculable.
--
-- Run it (read-only, on the published copy, never on warehouse/lan.duckdb):
--   duckdb -readonly publish/warehouse.duckdb < queries/gap_change_summary.sql
--   The evaluation partner runs it on its own copy (rounded counts, statistics from the rounded counts):
--   duckdb -readonly publish/partner/warehouse.duckdb < queries/gap_change_summary.sql
--   python: duckdb.connect("publish/warehouse.duckdb", read_only=True).sql(open("queries/gap_change_summary.sql").read()).df()
-- Works with DuckDB 1.1 or later (the tests run it with DuckDB 1.4 and 2.0).

with change as (
    select
        c.*,
        c.geography_level = 'lan' as is_lan
    from marts.gap_change as c
)

select
    c.geography_level,
    c.site_code,
    coalesce(s.team_name, 'Learning and Action Network') as team_name,
    c.measure_code,
    m.measure_name,
    c.ethnic_group,
    c.reference_group,
    c.comparison,
    c.comparison_start,
    c.comparison_end,
    case when c.is_lan then 'adjusted for site mix (Mantel-Haenszel)' else 'site (crude)' end as estimate,
    case when c.is_lan then c.adjusted_baseline_rate_ratio else c.baseline_rate_ratio end as baseline_rate_ratio,
    case when c.is_lan then c.adjusted_comparison_rate_ratio else c.comparison_rate_ratio end
        as comparison_rate_ratio,
    case when c.is_lan then c.adjusted_ratio_of_rate_ratios else c.ratio_of_rate_ratios end as ratio_of_rate_ratios,
    case when c.is_lan then c.adjusted_ratio_of_rate_ratios_lower_95 else c.ratio_of_rate_ratios_lower_95 end
        as ratio_of_rate_ratios_lower_95,
    case when c.is_lan then c.adjusted_ratio_of_rate_ratios_upper_95 else c.ratio_of_rate_ratios_upper_95 end
        as ratio_of_rate_ratios_upper_95,
    case when c.is_lan then c.adjusted_ratio_of_rate_ratios_p_value else c.ratio_of_rate_ratios_p_value end
        as p_value,
    case when c.is_lan then c.adjusted_change_assessment else c.change_assessment end as assessment,
    c.difference_in_rate_differences,
    c.difference_in_rate_differences_lower_95,
    c.difference_in_rate_differences_upper_95,
    m.unit,
    c.meets_completeness_threshold,
    c.change_note
from change as c
left join marts.dim_measure as m on m.measure_code = c.measure_code
left join marts.dim_site as s on s.site_code = c.site_code
order by
    c.is_lan desc,
    case (case when c.is_lan then c.adjusted_change_assessment else c.change_assessment end)
        when 'narrowed' then 1 when 'widened' then 2 when 'no clear change' then 3 else 4 end,
    c.measure_code, c.ethnic_group, c.site_code, c.comparison;
