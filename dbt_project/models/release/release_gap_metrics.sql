{{ config(alias='gap_metrics') }}

with

-- the counts' working values and the statistics recomputed from them, computed once for both gap release models
gap_metrics_rounded as (

    select * from {{ ref('int_gap_metrics_rounded') }}

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
        rate,
        rate_lower_95,
        rate_upper_95,
        reference_group,
        {{ disclosure_shown_count('reference_numerator') }} as reference_numerator,
        {{ disclosure_shown_count('reference_denominator') }} as reference_denominator,
        reference_rate,
        rate_ratio,
        rate_ratio_lower_95,
        rate_ratio_upper_95,
        rate_difference,
        rate_difference_lower_95,
        rate_difference_upper_95,
        -- no false precision, and no value from 1 to 7 but 5 (a difference of events, not a count of anyone)
        {{ round_to_five('excess_events') }} as excess_events,
        gap_assessment,
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
    from gap_metrics_rounded

)

select * from final
