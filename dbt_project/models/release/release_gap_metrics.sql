{{ config(alias='gap_metrics') }}

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
        {{ disclosure_shown_count('numerator') }} as numerator,
        {{ disclosure_shown_count('denominator') }} as denominator,
        released_rate as rate,
        released_rate_lower_95 as rate_lower_95,
        released_rate_upper_95 as rate_upper_95,
        reference_group,
        {{ disclosure_shown_count('reference_numerator') }} as reference_numerator,
        {{ disclosure_shown_count('reference_denominator') }} as reference_denominator,
        released_reference_rate as reference_rate,
        released_rate_ratio as rate_ratio,
        released_rate_ratio_lower_95 as rate_ratio_lower_95,
        released_rate_ratio_upper_95 as rate_ratio_upper_95,
        released_rate_difference as rate_difference,
        released_rate_difference_lower_95 as rate_difference_lower_95,
        released_rate_difference_upper_95 as rate_difference_upper_95,
        -- no false precision, and no value from 1 to 7 but 5 (a difference of events, not a count of anyone)
        {{ round_to_five('released_excess_events') }} as excess_events,
        released_gap_assessment as gap_assessment,
        meets_completeness_threshold,
        months_flagged,
        n_months,
        cast(multiplier as integer) as multiplier,
        higher_is_better,
        is_reference,
        {{ disclosure_hidden('numerator') }} as numerator_hidden,
        {{ disclosure_hidden('denominator') }} as denominator_hidden,
        {{ disclosure_hidden('reference_numerator') }} as reference_numerator_hidden,
        {{ disclosure_hidden('reference_denominator') }} as reference_denominator_hidden
    from recomputed

)

select * from final
