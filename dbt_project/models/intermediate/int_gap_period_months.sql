-- Which months make up each period of gap_metrics (grain: period x month). Quarters, their labels and
-- the programme phases come from dim_month; every period lies within the data range (the first to the
-- last month with a contributing fact row anywhere): complete quarters only, rolling 12 months ending
-- from the 12th month of the range on, phases clipped to the range.
with

months as (

    select * from {{ ref('dim_month') }}

),

facts as (

    select * from {{ ref('fct_measure_monthly') }}
    where numerator is not null and denominator is not null

),

data_range as (

    select
        min(month_start_date) as first_month,
        max(month_start_date) as last_month
    from facts

),

range_months as (

    select
        months.month_start_date,
        months.month_label,
        months.quarter_label,
        months.programme_phase,
        data_range.first_month
    from months
    inner join data_range
        on months.month_start_date between data_range.first_month and data_range.last_month

),

month_periods as (

    select
        month_start_date,
        1 as period_type_order,
        'month' as period_type,
        month_label as period_label,
        month_start_date as period_start,
        month_start_date as period_end
    from range_months

),

quarter_months as (

    select
        month_start_date,
        quarter_label,
        min(month_start_date) over quarter as period_start,
        max(month_start_date) over quarter as period_end,
        count(*) over quarter as months_in_range
    from range_months
    window quarter as (partition by quarter_label)

),

quarter_periods as (

    select
        month_start_date,
        2 as period_type_order,
        'quarter' as period_type,
        quarter_label as period_label,
        period_start,
        period_end
    from quarter_months
    where months_in_range = 3

),

rolling_periods as (

    select
        member.month_start_date,
        3 as period_type_order,
        'rolling_12_months' as period_type,
        window_end.month_label as period_label,
        cast(window_end.month_start_date - interval 11 month as date) as period_start,
        window_end.month_start_date as period_end
    from range_months as window_end
    inner join range_months as member
        on
            member.month_start_date
            between cast(window_end.month_start_date - interval 11 month as date) and window_end.month_start_date
    where window_end.month_start_date >= cast(window_end.first_month + interval 11 month as date)

),

phase_periods as (

    select
        month_start_date,
        4 as period_type_order,
        'programme_phase' as period_type,
        programme_phase as period_label,
        min(month_start_date) over phase as period_start,
        max(month_start_date) over phase as period_end
    from range_months
    window phase as (partition by programme_phase)

),

final as (

    select * from month_periods
    union all
    select * from quarter_periods
    union all
    select * from rolling_periods
    union all
    select * from phase_periods

)

select * from final
