{# Did the gap narrow? Every gap_change row (../shared/spec/warehouse-interface.md, "gap_change") computed from
   `gap_metrics`, the name of a relation or CTE with gap_metrics' columns: the marts model itself (marts.gap_change),
   or its counts rounded by the release's disclosure rule with the period statistics recomputed from them
   (release gap_change). One formula per macro in macros/statistics/; this composes them. #}
{% macro gap_change_rows(gap_metrics) %}
with

-- The comparisons: all intervention months, and the latest 12 months with data once they all lie in the
-- intervention phase (the latest rolling 12 months of gap_metrics, whose start is on or after the start).
latest_rolling as (

    select
        arg_max(period_label, period_end) as period_label,
        arg_max(period_start, period_end) as period_start
    from {{ gap_metrics }}
    where period_type = 'rolling_12_months'

),

comparisons as (

    select
        'intervention_vs_baseline' as comparison,
        'programme_phase' as period_type,
        'intervention' as period_label
    union all
    select
        'last_12_months_vs_baseline' as comparison,
        'rolling_12_months' as period_type,
        period_label
    from latest_rolling
    where period_start >= {{ month_var('programme_start') }}

),

-- Every geography x measure x group other than the reference: a row even when a period has no data.
pairs as (

    select distinct
        geography_level,
        site_code,
        measure_code,
        ethnic_group,
        reference_group,
        multiplier,
        higher_is_better
    from {{ gap_metrics }}
    where period_type = 'programme_phase' and ethnic_group != reference_group

),

periods as (

    select
        *,
        {{ rate_ratio_log_se('numerator', 'denominator', 'reference_numerator', 'reference_denominator') }}
            as rate_ratio_log_se
    from {{ gap_metrics }}
    where ethnic_group != reference_group

),

-- Site-mix adjustment of the LAN's rate ratio: Mantel-Haenszel over the sites with both denominators > 0.
adjusted as (

    select
        measure_code,
        period_type,
        period_label,
        ethnic_group,
        {{ mantel_haenszel_rate_ratio('numerator', 'denominator', 'reference_numerator', 'reference_denominator') }}
            as rate_ratio,
        {{ greenland_robins_log_se('numerator', 'denominator', 'reference_numerator', 'reference_denominator') }}
            as log_se
    from periods
    where geography_level = 'site' and denominator > 0 and reference_denominator > 0
    group by measure_code, period_type, period_label, ethnic_group

),

joined as (

    select
        pairs.geography_level,
        pairs.site_code,
        pairs.measure_code,
        pairs.ethnic_group,
        pairs.reference_group,
        comparisons.comparison,
        baseline.period_start as baseline_start,
        baseline.period_end as baseline_end,
        comparison.period_start as comparison_start,
        comparison.period_end as comparison_end,
        baseline.numerator as baseline_numerator,
        baseline.denominator as baseline_denominator,
        baseline.reference_numerator as baseline_reference_numerator,
        baseline.reference_denominator as baseline_reference_denominator,
        baseline.rate_ratio as baseline_rate_ratio,
        baseline.rate_ratio_lower_95 as baseline_rate_ratio_lower_95,
        baseline.rate_ratio_upper_95 as baseline_rate_ratio_upper_95,
        baseline.rate_difference as baseline_rate_difference,
        baseline.rate_difference_lower_95 as baseline_rate_difference_lower_95,
        baseline.rate_difference_upper_95 as baseline_rate_difference_upper_95,
        comparison.numerator as comparison_numerator,
        comparison.denominator as comparison_denominator,
        comparison.reference_numerator as comparison_reference_numerator,
        comparison.reference_denominator as comparison_reference_denominator,
        comparison.rate_ratio as comparison_rate_ratio,
        comparison.rate_ratio_lower_95 as comparison_rate_ratio_lower_95,
        comparison.rate_ratio_upper_95 as comparison_rate_ratio_upper_95,
        comparison.rate_difference as comparison_rate_difference,
        comparison.rate_difference_lower_95 as comparison_rate_difference_lower_95,
        comparison.rate_difference_upper_95 as comparison_rate_difference_upper_95,
        case when baseline.rate_ratio is not null then baseline.rate_ratio_log_se end as baseline_log_se,
        case when comparison.rate_ratio is not null then comparison.rate_ratio_log_se end as comparison_log_se,
        adjusted_baseline.rate_ratio as adjusted_baseline_rate_ratio,
        adjusted_baseline.log_se as adjusted_baseline_log_se,
        adjusted_comparison.rate_ratio as adjusted_comparison_rate_ratio,
        adjusted_comparison.log_se as adjusted_comparison_log_se,
        coalesce(baseline.meets_completeness_threshold and comparison.meets_completeness_threshold, false)
            as meets_completeness_threshold,
        case
            when baseline.geography_level is null then 'no baseline: no month with data before the programme start'
            when comparison.geography_level is null then 'no month with data in the comparison period'
            when baseline.rate_ratio is null or comparison.rate_ratio is null
                then 'a count or denominator is 0 in a period: no rate ratio'
        end as change_note,
        pairs.multiplier,
        pairs.higher_is_better
    from pairs
    cross join comparisons
    left join periods as baseline
        on
            pairs.geography_level = baseline.geography_level
            and pairs.site_code = baseline.site_code
            and pairs.measure_code = baseline.measure_code
            and pairs.ethnic_group = baseline.ethnic_group
            and baseline.period_type = 'programme_phase'
            and baseline.period_label = 'baseline'
    left join periods as comparison
        on
            pairs.geography_level = comparison.geography_level
            and pairs.site_code = comparison.site_code
            and pairs.measure_code = comparison.measure_code
            and pairs.ethnic_group = comparison.ethnic_group
            and comparisons.period_type = comparison.period_type
            and comparisons.period_label = comparison.period_label
    left join adjusted as adjusted_baseline
        on
            pairs.geography_level = 'lan'
            and pairs.measure_code = adjusted_baseline.measure_code
            and pairs.ethnic_group = adjusted_baseline.ethnic_group
            and adjusted_baseline.period_type = 'programme_phase'
            and adjusted_baseline.period_label = 'baseline'
    left join adjusted as adjusted_comparison
        on
            pairs.geography_level = 'lan'
            and pairs.measure_code = adjusted_comparison.measure_code
            and pairs.ethnic_group = adjusted_comparison.ethnic_group
            and comparisons.period_type = adjusted_comparison.period_type
            and comparisons.period_label = adjusted_comparison.period_label

),

ratios as (

    select
        *,
        {{ ratio_of_rate_ratios('comparison_rate_ratio', 'baseline_rate_ratio') }} as ratio_of_rate_ratios,
        {{ log_ratio_of_ratios_se('comparison_log_se', 'baseline_log_se') }} as ratio_log_se,
        {{ ratio_of_rate_ratios('adjusted_comparison_rate_ratio', 'adjusted_baseline_rate_ratio') }}
            as adjusted_ratio_of_rate_ratios,
        {{ log_ratio_of_ratios_se('adjusted_comparison_log_se', 'adjusted_baseline_log_se') }}
            as adjusted_ratio_log_se
    from joined

),

statistics as (

    select
        *,
        {{ log_scale_bound('ratio_of_rate_ratios', 'ratio_log_se', 'lower') }} as ratio_of_rate_ratios_lower_95,
        {{ log_scale_bound('ratio_of_rate_ratios', 'ratio_log_se', 'upper') }} as ratio_of_rate_ratios_upper_95,
        {{ log_scale_z('ratio_of_rate_ratios', 'ratio_log_se') }} as ratio_z,
        {{ log_scale_bound('adjusted_baseline_rate_ratio', 'adjusted_baseline_log_se', 'lower') }}
            as adjusted_baseline_rate_ratio_lower_95,
        {{ log_scale_bound('adjusted_baseline_rate_ratio', 'adjusted_baseline_log_se', 'upper') }}
            as adjusted_baseline_rate_ratio_upper_95,
        {{ log_scale_bound('adjusted_comparison_rate_ratio', 'adjusted_comparison_log_se', 'lower') }}
            as adjusted_comparison_rate_ratio_lower_95,
        {{ log_scale_bound('adjusted_comparison_rate_ratio', 'adjusted_comparison_log_se', 'upper') }}
            as adjusted_comparison_rate_ratio_upper_95,
        {{ log_scale_bound('adjusted_ratio_of_rate_ratios', 'adjusted_ratio_log_se', 'lower') }}
            as adjusted_ratio_of_rate_ratios_lower_95,
        {{ log_scale_bound('adjusted_ratio_of_rate_ratios', 'adjusted_ratio_log_se', 'upper') }}
            as adjusted_ratio_of_rate_ratios_upper_95,
        {{ log_scale_z('adjusted_ratio_of_rate_ratios', 'adjusted_ratio_log_se') }} as adjusted_ratio_z,
        comparison_rate_difference - baseline_rate_difference as difference_in_rate_differences,
        {{ mover_difference_lower(
            'comparison_rate_difference', 'comparison_rate_difference_lower_95',
            'baseline_rate_difference', 'baseline_rate_difference_upper_95'
        ) }} as difference_in_rate_differences_lower_95,
        {{ mover_difference_upper(
            'comparison_rate_difference', 'comparison_rate_difference_upper_95',
            'baseline_rate_difference', 'baseline_rate_difference_lower_95'
        ) }} as difference_in_rate_differences_upper_95
    from ratios

),

final as (

    select
        geography_level,
        site_code,
        measure_code,
        ethnic_group,
        reference_group,
        comparison,
        baseline_start,
        baseline_end,
        comparison_start,
        comparison_end,
        cast(baseline_numerator as bigint) as baseline_numerator,
        cast(baseline_denominator as bigint) as baseline_denominator,
        cast(baseline_reference_numerator as bigint) as baseline_reference_numerator,
        cast(baseline_reference_denominator as bigint) as baseline_reference_denominator,
        baseline_rate_ratio,
        baseline_rate_ratio_lower_95,
        baseline_rate_ratio_upper_95,
        baseline_rate_difference,
        baseline_rate_difference_lower_95,
        baseline_rate_difference_upper_95,
        cast(comparison_numerator as bigint) as comparison_numerator,
        cast(comparison_denominator as bigint) as comparison_denominator,
        cast(comparison_reference_numerator as bigint) as comparison_reference_numerator,
        cast(comparison_reference_denominator as bigint) as comparison_reference_denominator,
        comparison_rate_ratio,
        comparison_rate_ratio_lower_95,
        comparison_rate_ratio_upper_95,
        comparison_rate_difference,
        comparison_rate_difference_lower_95,
        comparison_rate_difference_upper_95,
        ratio_of_rate_ratios,
        ratio_of_rate_ratios_lower_95,
        ratio_of_rate_ratios_upper_95,
        {{ normal_two_sided_p_value('ratio_z') }} as ratio_of_rate_ratios_p_value,  -- noqa: PRS
        difference_in_rate_differences,
        difference_in_rate_differences_lower_95,
        difference_in_rate_differences_upper_95,
        {{ change_assessment(
            'comparison_rate_ratio', 'baseline_rate_ratio',
            'ratio_of_rate_ratios_lower_95', 'ratio_of_rate_ratios_upper_95'
        ) }} as change_assessment,
        adjusted_baseline_rate_ratio,
        adjusted_baseline_rate_ratio_lower_95,
        adjusted_baseline_rate_ratio_upper_95,
        adjusted_comparison_rate_ratio,
        adjusted_comparison_rate_ratio_lower_95,
        adjusted_comparison_rate_ratio_upper_95,
        adjusted_ratio_of_rate_ratios,
        adjusted_ratio_of_rate_ratios_lower_95,
        adjusted_ratio_of_rate_ratios_upper_95,
        {{ normal_two_sided_p_value('adjusted_ratio_z') }} as adjusted_ratio_of_rate_ratios_p_value,  -- noqa: PRS
        case when geography_level = 'lan' then {{ change_assessment(
            'adjusted_comparison_rate_ratio', 'adjusted_baseline_rate_ratio',
            'adjusted_ratio_of_rate_ratios_lower_95', 'adjusted_ratio_of_rate_ratios_upper_95'
        ) }} end as adjusted_change_assessment,
        meets_completeness_threshold,
        change_note,
        cast(multiplier as integer) as multiplier,
        higher_is_better
    from statistics

)

select * from final
{% endmacro %}
