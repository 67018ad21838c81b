{{ config(alias='gap_change') }}

-- Did the gap narrow? in the evaluation release: gap_change computed by the same macro (gap_change_rows) from
-- gap_metrics' counts rounded by the disclosure rule, so every statistic, the site-adjusted (Mantel-Haenszel)
-- ones included, comes from rounded counts; the counts shown are gap_change's own, rounded. (The macro's line
-- carries "noqa: PRS", as in marts.gap_change.)
with

gap_metrics as (

    select * from {{ ref('gap_metrics') }}

),

gap_change as (

    select * from {{ ref('gap_change') }}

),

-- gap_metrics with each count replaced by its working value under the rule (1 to 7: 5 for msds, null for hes)
working as (

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
        is_reference,
        meets_completeness_threshold,
        multiplier,
        higher_is_better,
        {{ disclosure_count('numerator') }} as numerator,
        {{ disclosure_count('denominator') }} as denominator,
        {{ disclosure_count('reference_numerator') }} as reference_numerator,
        {{ disclosure_count('reference_denominator') }} as reference_denominator
    from gap_metrics

),

rounded_gap_metrics as (

    select
        *,
        {{ gap_statistics(
            'numerator', 'denominator', 'reference_numerator', 'reference_denominator',
            'multiplier', 'higher_is_better', 'is_reference'
        ) }}
    from working

),

recomputed as (

    {{ gap_change_rows('rounded_gap_metrics') }}  -- noqa: PRS

),

final as (

    select
        recomputed.* replace (
            {{ disclosure_shown_count('gap_change.baseline_numerator') }} as baseline_numerator,
            {{ disclosure_shown_count('gap_change.baseline_denominator') }} as baseline_denominator,
            {{ disclosure_shown_count('gap_change.baseline_reference_numerator') }} as baseline_reference_numerator,
            {{ disclosure_shown_count('gap_change.baseline_reference_denominator') }}
                as baseline_reference_denominator,
            {{ disclosure_shown_count('gap_change.comparison_numerator') }} as comparison_numerator,
            {{ disclosure_shown_count('gap_change.comparison_denominator') }} as comparison_denominator,
            {{ disclosure_shown_count('gap_change.comparison_reference_numerator') }}
                as comparison_reference_numerator,
            {{ disclosure_shown_count('gap_change.comparison_reference_denominator') }}
                as comparison_reference_denominator
        ),
        {{ disclosure_hidden('gap_change.baseline_numerator') }} as baseline_numerator_hidden,
        {{ disclosure_hidden('gap_change.baseline_denominator') }} as baseline_denominator_hidden,
        {{ disclosure_hidden('gap_change.baseline_reference_numerator') }} as baseline_reference_numerator_hidden,
        {{ disclosure_hidden('gap_change.baseline_reference_denominator') }}
            as baseline_reference_denominator_hidden,
        {{ disclosure_hidden('gap_change.comparison_numerator') }} as comparison_numerator_hidden,
        {{ disclosure_hidden('gap_change.comparison_denominator') }} as comparison_denominator_hidden,
        {{ disclosure_hidden('gap_change.comparison_reference_numerator') }} as comparison_reference_numerator_hidden,
        {{ disclosure_hidden('gap_change.comparison_reference_denominator') }}
            as comparison_reference_denominator_hidden
    from recomputed
    inner join gap_change
        on
            recomputed.geography_level = gap_change.geography_level
            and recomputed.site_code = gap_change.site_code
            and recomputed.measure_code = gap_change.measure_code
            and recomputed.ethnic_group = gap_change.ethnic_group
            and recomputed.comparison = gap_change.comparison

)

select * from final
