{{ config(materialized='table', tags=['release']) }}
-- gap_metrics as the release computes it: each count's working value under the disclosure rule beside the
-- statistics recomputed from those values. Two released tables need them (release_gap_metrics shows the
-- statistics; release_gap_change runs gap_change_rows over the working counts), so they are computed once, here,
-- in a table: the folder's default view would be recomputed by each reader. The true counts stay for
-- release_gap_metrics, whose disclosure_shown_count and disclosure_hidden take the true count (under hes a
-- working null is a hidden count or a missing one). Not in schema release, where every model is a released file;
-- tagged release all the same, so that `dbt build --select tag:release` (the release from the marts) builds it.
with

gap_metrics as (

    select * from {{ ref('gap_metrics') }}

),

-- the counts the statistics are computed from: rounded, a count from 1 to 7 taken as 5 (msds) or null (hes)
working as (

    select
        *,
        {{ disclosure_count('numerator') }} as working_numerator,
        {{ disclosure_count('denominator') }} as working_denominator,
        {{ disclosure_count('reference_numerator') }} as working_reference_numerator,
        {{ disclosure_count('reference_denominator') }} as working_reference_denominator
    from gap_metrics

),

parts as (

    select
        *,
        {{ gap_statistic_parts(
            'working_numerator', 'working_denominator',
            'working_reference_numerator', 'working_reference_denominator'
        ) }}
    from working

),

recomputed as (

    select
        *,
        {{ gap_statistics('multiplier', 'higher_is_better', 'is_reference', prefix='released_') }}
    from parts

),

final as (

    select
        geography_level,
        site_code,
        measure_code,
        period_type,
        period_label,
        period_start,
        period_end,
        ethnic_group,
        reference_group,
        numerator,
        denominator,
        reference_numerator,
        reference_denominator,
        working_numerator,
        working_denominator,
        working_reference_numerator,
        working_reference_denominator,
        released_rate as rate,
        released_rate_lower_95 as rate_lower_95,
        released_rate_upper_95 as rate_upper_95,
        released_reference_rate as reference_rate,
        released_rate_ratio as rate_ratio,
        released_rate_ratio_lower_95 as rate_ratio_lower_95,
        released_rate_ratio_upper_95 as rate_ratio_upper_95,
        released_rate_difference as rate_difference,
        released_rate_difference_lower_95 as rate_difference_lower_95,
        released_rate_difference_upper_95 as rate_difference_upper_95,
        released_excess_events as excess_events,
        released_gap_assessment as gap_assessment,
        meets_completeness_threshold,
        months_flagged,
        n_months,
        multiplier,
        higher_is_better,
        is_reference
    from recomputed

)

select * from final
