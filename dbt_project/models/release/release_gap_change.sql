{{ config(alias='gap_change') }}

-- Did the gap narrow? in the evaluation release: gap_change computed by the same macro (gap_change_rows) from the
-- released gap_metrics, whose period statistics are already computed from the rounded counts; so every statistic,
-- the site-adjusted (Mantel-Haenszel) ones included, comes from rounded counts. The counts shown are gap_change's
-- own, rounded. (The macro's line carries "noqa: PRS", as in marts.gap_change.)
with

release_gap_metrics as (

    select * from {{ ref('release_gap_metrics') }}

),

gap_metrics as (

    select * from {{ ref('gap_metrics') }}

),

gap_change as (

    select * from {{ ref('gap_change') }}

),

-- the released rows with each count as the statistics used it (1 to 7: 5 for msds, null for hes), not as shown
rounded_gap_metrics as (

    select
        release_gap_metrics.* replace (
            {{ disclosure_count('gap_metrics.numerator') }} as numerator,
            {{ disclosure_count('gap_metrics.denominator') }} as denominator,
            {{ disclosure_count('gap_metrics.reference_numerator') }} as reference_numerator,
            {{ disclosure_count('gap_metrics.reference_denominator') }} as reference_denominator
        )
    from release_gap_metrics
    inner join gap_metrics
        on
            release_gap_metrics.geography_level = gap_metrics.geography_level
            and release_gap_metrics.site_code = gap_metrics.site_code
            and release_gap_metrics.measure_code = gap_metrics.measure_code
            and release_gap_metrics.period_type = gap_metrics.period_type
            and release_gap_metrics.period_label = gap_metrics.period_label
            and release_gap_metrics.ethnic_group = gap_metrics.ethnic_group

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
