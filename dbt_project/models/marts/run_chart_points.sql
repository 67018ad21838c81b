-- Every monthly series with its run chart, control limits and signals, as the run-chart asset computed them
-- (publish/run_charts.py); republished here so that marts holds only dbt nodes.
with

points as (

    select * from {{ ref('stg_analysis__run_chart_points') }}

),

final as (

    select
        geography_level,
        site_code,
        measure_code,
        series_type,
        ethnic_group,
        month_start_date,
        value,
        numerator,
        denominator,
        higher_is_better,
        improvement_direction,
        baseline_rule,
        n_baseline,
        is_baseline,
        centre_line,
        chart_type,
        control_centre_line,
        lower_limit,
        upper_limit,
        sigma_signal,
        signal_note,
        n_obs,
        n_useful,
        longest_run,
        longest_run_max,
        n_crossings,
        n_crossings_min,
        runs_signal,
        ihi_shift,
        ihi_trend,
        ihi_astronomical,
        xmr_mean,
        xmr_lpl,
        xmr_upl,
        xmr_nlpl,
        xmr_nupl,
        ptd_outside_limits,
        ptd_close_to_limits,
        ptd_relative_to_mean,
        ptd_special_cause_rule,
        ptd_special_cause,
        point_type
    from points

)

select * from final
