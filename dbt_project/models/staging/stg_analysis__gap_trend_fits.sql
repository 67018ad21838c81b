with

source as (

    select * from {{ source('analysis', 'gap_trend_fits') }}

),

final as (

    select
        cast(geography_level as varchar) as geography_level,
        cast(site_code as varchar) as site_code,
        cast(measure_code as varchar) as measure_code,
        cast(ethnic_group as varchar) as ethnic_group,
        cast(reference_group as varchar) as reference_group,
        cast(first_month as date) as first_month,
        cast(n_observations as bigint) as n_observations,
        cast(months_before as bigint) as months_before,
        cast(months_after as bigint) as months_after,
        cast(dispersion as double) as dispersion,
        cast(baseline_gap_level as double) as baseline_gap_level,
        cast(baseline_gap_level_lower_95 as double) as baseline_gap_level_lower_95,
        cast(baseline_gap_level_upper_95 as double) as baseline_gap_level_upper_95,
        cast(baseline_gap_trend_per_year as double) as baseline_gap_trend_per_year,
        cast(baseline_gap_trend_per_year_lower_95 as double) as baseline_gap_trend_per_year_lower_95,
        cast(baseline_gap_trend_per_year_upper_95 as double) as baseline_gap_trend_per_year_upper_95,
        cast(gap_level_change as double) as gap_level_change,
        cast(gap_level_change_lower_95 as double) as gap_level_change_lower_95,
        cast(gap_level_change_upper_95 as double) as gap_level_change_upper_95,
        cast(gap_slope_change_per_year as double) as gap_slope_change_per_year,
        cast(gap_slope_change_per_year_lower_95 as double) as gap_slope_change_per_year_lower_95,
        cast(gap_slope_change_per_year_upper_95 as double) as gap_slope_change_per_year_upper_95,
        cast(converged as boolean) as converged,
        cast(fit_note as varchar) as fit_note
    from source

)

select * from final
