{{ config(alias='gap_change') }}

-- Did the gap narrow? in the evaluation release: gap_change computed by the same macro (gap_change_rows) from the
-- released gap_metrics' rounded counts and the period statistics already recomputed from them
-- (int_gap_metrics_rounded, which release_gap_metrics shows); so every statistic, the site-adjusted
-- (Mantel-Haenszel) ones included, comes from rounded counts. The counts shown are gap_change's own, rounded.
-- (The macro's line carries "noqa: PRS", as in marts.gap_change.)
with

gap_metrics_rounded as (

    select * from {{ ref('int_gap_metrics_rounded') }}

),

gap_change as (

    select * from {{ ref('gap_change') }}

),

-- under gap_metrics' column names, which gap_change_rows reads: each count as the period statistics used it (1 to
-- 7: 5 for msds, null for hes), not as shown, so that the site-adjusted (Mantel-Haenszel) sums use the same values
rounded_gap_metrics as (

    select
        * replace (
            working_numerator as numerator,
            working_denominator as denominator,
            working_reference_numerator as reference_numerator,
            working_reference_denominator as reference_denominator
        )
    from gap_metrics_rounded

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
