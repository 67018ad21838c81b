-- Question: across the whole LAN, how big is the gap between each ethnic group and the reference
--   group (White by default) for each measure, before the programme started (baseline) and after
--   (intervention), and did it change?
--
-- Returns: one row per measure and ethnic group (the reference group itself is left out):
--   * for each phase (baseline_*, intervention_*): the group's numerator, denominator and rate (per
--     the measure's multiplier, e.g. per 1,000), the reference rate, the rate ratio and the rate
--     difference with their 95 % intervals (log method; Newcombe), the assessment (worse, better,
--     higher, lower, no clear difference, not calculable) and the number of months in the phase
--     below the ethnicity completeness threshold (read the phase with care when it is not 0);
--   * the change between phases:
--       ratio_change = intervention ratio / baseline ratio (below 1: the group's rate fell relative
--         to the reference rate), with a 95 % interval from the two phases' log-ratio standard errors,
--         which treats the phases as independent (different months, different women); Altman and
--         Bland, BMJ 2003;326:219;
--       difference_change = intervention difference - baseline difference (in rate units), with an
--         approximate 95 % interval from the half-widths of the two (asymmetric) Newcombe intervals;
--       gap_change: 'narrower' or 'wider' when the ratio_change interval excludes 1 and the
--         intervention ratio is nearer to 1 (or further from 1) than the baseline ratio on the log
--         scale, 'no clear change' otherwise, 'not calculable' when a phase has no ratio.
--   Empty (null) where a statistic is not calculable (a zero count).
--   The phases come from marts.gap_metrics (period_type 'programme_phase'); the programme start is
--   LAN_PROGRAMME_START (default 2024-01).
--
-- Run it (read-only, on the published copy, never on warehouse/lan.duckdb):
--   duckdb -readonly publish/warehouse.duckdb < queries/gap_by_group_before_after.sql
--   The evaluation partner runs it on its own copy (rounded counts, statistics from the rounded counts):
--   duckdb -readonly publish/partner/warehouse.duckdb < queries/gap_by_group_before_after.sql
--   python: duckdb.connect("publish/warehouse.duckdb", read_only=True).sql(open("queries/gap_by_group_before_after.sql").read()).df()
-- Works with DuckDB 1.1 or later (the tests run it with DuckDB 1.4 and 2.0).

with phase as (
    select
        g.measure_code,
        g.ethnic_group,
        g.reference_group,
        g.period_label as phase,
        g.numerator,
        g.denominator,
        g.rate,
        g.reference_rate,
        g.rate_ratio,
        g.rate_ratio_lower_95,
        g.rate_ratio_upper_95,
        g.rate_difference,
        g.rate_difference_lower_95,
        g.rate_difference_upper_95,
        g.gap_assessment,
        g.months_flagged,
        -- standard errors recovered from the published 95 % intervals
        case when g.rate_ratio_lower_95 > 0 and g.rate_ratio_upper_95 > 0
             then (ln(g.rate_ratio_upper_95) - ln(g.rate_ratio_lower_95)) / (2 * 1.959963984540054)
        end as log_ratio_se,
        (g.rate_difference_upper_95 - g.rate_difference_lower_95) / (2 * 1.959963984540054) as difference_se
    from marts.gap_metrics as g
    where g.geography_level = 'lan'
      and g.period_type = 'programme_phase'
      and not g.is_reference
),

paired as (
    select
        b.measure_code,
        b.ethnic_group,
        b.reference_group,
        b.numerator as baseline_numerator,
        b.denominator as baseline_denominator,
        b.rate as baseline_rate,
        b.reference_rate as baseline_reference_rate,
        b.rate_ratio as baseline_rate_ratio,
        b.rate_ratio_lower_95 as baseline_rate_ratio_lower_95,
        b.rate_ratio_upper_95 as baseline_rate_ratio_upper_95,
        b.rate_difference as baseline_rate_difference,
        b.rate_difference_lower_95 as baseline_rate_difference_lower_95,
        b.rate_difference_upper_95 as baseline_rate_difference_upper_95,
        b.gap_assessment as baseline_assessment,
        b.months_flagged as baseline_months_flagged,
        i.numerator as intervention_numerator,
        i.denominator as intervention_denominator,
        i.rate as intervention_rate,
        i.reference_rate as intervention_reference_rate,
        i.rate_ratio as intervention_rate_ratio,
        i.rate_ratio_lower_95 as intervention_rate_ratio_lower_95,
        i.rate_ratio_upper_95 as intervention_rate_ratio_upper_95,
        i.rate_difference as intervention_rate_difference,
        i.rate_difference_lower_95 as intervention_rate_difference_lower_95,
        i.rate_difference_upper_95 as intervention_rate_difference_upper_95,
        i.gap_assessment as intervention_assessment,
        i.months_flagged as intervention_months_flagged,
        case when b.rate_ratio > 0 and i.rate_ratio > 0 then ln(i.rate_ratio) - ln(b.rate_ratio) end as log_ratio_change,
        sqrt(b.log_ratio_se * b.log_ratio_se + i.log_ratio_se * i.log_ratio_se) as log_ratio_change_se,
        case when b.rate_ratio > 0 and i.rate_ratio > 0 then abs(ln(i.rate_ratio)) - abs(ln(b.rate_ratio)) end
            as distance_from_parity_change,
        i.rate_difference - b.rate_difference as difference_change,
        sqrt(b.difference_se * b.difference_se + i.difference_se * i.difference_se) as difference_change_se
    from phase as b
    join phase as i
      on i.measure_code = b.measure_code
     and i.ethnic_group = b.ethnic_group
     and i.phase = 'intervention'
    where b.phase = 'baseline'
)

select
    p.measure_code,
    m.measure_name,
    m.unit,
    p.ethnic_group,
    p.reference_group,
    p.baseline_numerator,
    p.baseline_denominator,
    p.baseline_rate,
    p.baseline_reference_rate,
    p.baseline_rate_ratio,
    p.baseline_rate_ratio_lower_95,
    p.baseline_rate_ratio_upper_95,
    p.baseline_rate_difference,
    p.baseline_rate_difference_lower_95,
    p.baseline_rate_difference_upper_95,
    p.baseline_assessment,
    p.baseline_months_flagged,
    p.intervention_numerator,
    p.intervention_denominator,
    p.intervention_rate,
    p.intervention_reference_rate,
    p.intervention_rate_ratio,
    p.intervention_rate_ratio_lower_95,
    p.intervention_rate_ratio_upper_95,
    p.intervention_rate_difference,
    p.intervention_rate_difference_lower_95,
    p.intervention_rate_difference_upper_95,
    p.intervention_assessment,
    p.intervention_months_flagged,
    exp(p.log_ratio_change) as ratio_change,
    exp(p.log_ratio_change - 1.959963984540054 * p.log_ratio_change_se) as ratio_change_lower_95,
    exp(p.log_ratio_change + 1.959963984540054 * p.log_ratio_change_se) as ratio_change_upper_95,
    p.difference_change,
    p.difference_change - 1.959963984540054 * p.difference_change_se as difference_change_lower_95,
    p.difference_change + 1.959963984540054 * p.difference_change_se as difference_change_upper_95,
    case
        when p.log_ratio_change is null or p.log_ratio_change_se is null then 'not calculable'
        when abs(p.log_ratio_change) <= 1.959963984540054 * p.log_ratio_change_se then 'no clear change'
        when p.distance_from_parity_change < 0 then 'narrower'
        when p.distance_from_parity_change > 0 then 'wider'
        else 'no clear change'
    end as gap_change
from paired as p
join marts.dim_measure as m using (measure_code)
order by p.measure_code, p.ethnic_group;
