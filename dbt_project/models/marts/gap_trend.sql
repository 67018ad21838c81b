-- The gap's trend: the comparative segmented quasi-Poisson regression fitted by the gap_trend_fits asset
-- (publish/gap_trend.py), republished in marts as fitted (../shared/spec/warehouse-interface.md, "gap_trend").
with

fits as (

    select * from {{ ref('stg_analysis__gap_trend_fits') }}

),

final as (

    select
        geography_level,
        site_code,
        measure_code,
        ethnic_group,
        reference_group,
        first_month,
        n_observations,
        months_before,
        months_after,
        dispersion,
        baseline_gap_level,
        baseline_gap_level_lower_95,
        baseline_gap_level_upper_95,
        baseline_gap_trend_per_year,
        baseline_gap_trend_per_year_lower_95,
        baseline_gap_trend_per_year_upper_95,
        gap_level_change,
        gap_level_change_lower_95,
        gap_level_change_upper_95,
        gap_slope_change_per_year,
        gap_slope_change_per_year_lower_95,
        gap_slope_change_per_year_upper_95,
        converged,
        fit_note
    from fits

)

select * from final
