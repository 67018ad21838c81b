-- analysis.run_chart_points as dbt reads it: typed, NaN and infinity as null.
with

source as (

    select * from {{ source('analysis', 'run_chart_points') }}

),

final as (

    select
        cast(geography_level as varchar) as geography_level,
        cast(site_code as varchar) as site_code,
        cast(measure_code as varchar) as measure_code,
        cast(series_type as varchar) as series_type,
        cast(ethnic_group as varchar) as ethnic_group,
        cast(month_start_date as date) as month_start_date,
        cast({{ finite_or_null('value') }} as double) as value,  -- noqa: RF04
        cast(numerator as bigint) as numerator,
        cast(denominator as bigint) as denominator,
        cast(higher_is_better as boolean) as higher_is_better,
        cast(improvement_direction as varchar) as improvement_direction,
        cast(baseline_rule as varchar) as baseline_rule,
        cast(n_baseline as bigint) as n_baseline,
        cast(is_baseline as boolean) as is_baseline,
        cast({{ finite_or_null('centre_line') }} as double) as centre_line,
        cast(chart_type as varchar) as chart_type,
        cast({{ finite_or_null('control_centre_line') }} as double) as control_centre_line,
        cast({{ finite_or_null('lower_limit') }} as double) as lower_limit,
        cast({{ finite_or_null('upper_limit') }} as double) as upper_limit,
        cast(sigma_signal as boolean) as sigma_signal,
        cast(signal_note as varchar) as signal_note,
        cast(n_obs as bigint) as n_obs,
        cast(n_useful as bigint) as n_useful,
        cast(longest_run as bigint) as longest_run,
        cast(longest_run_max as bigint) as longest_run_max,
        cast(n_crossings as bigint) as n_crossings,
        cast(n_crossings_min as bigint) as n_crossings_min,
        cast(runs_signal as boolean) as runs_signal,
        cast(ihi_shift as boolean) as ihi_shift,
        cast(ihi_trend as boolean) as ihi_trend,
        cast(ihi_astronomical as boolean) as ihi_astronomical,
        cast({{ finite_or_null('xmr_mean') }} as double) as xmr_mean,
        cast({{ finite_or_null('xmr_lpl') }} as double) as xmr_lpl,
        cast({{ finite_or_null('xmr_upl') }} as double) as xmr_upl,
        cast({{ finite_or_null('xmr_nlpl') }} as double) as xmr_nlpl,
        cast({{ finite_or_null('xmr_nupl') }} as double) as xmr_nupl,
        cast(ptd_outside_limits as boolean) as ptd_outside_limits,
        cast(ptd_close_to_limits as boolean) as ptd_close_to_limits,
        cast({{ finite_or_null('ptd_relative_to_mean') }} as double) as ptd_relative_to_mean,
        cast(ptd_special_cause_rule as varchar) as ptd_special_cause_rule,
        cast(ptd_special_cause as boolean) as ptd_special_cause,
        cast(point_type as varchar) as point_type
    from source

)

select * from final
