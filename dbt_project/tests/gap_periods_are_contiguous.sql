-- Every period of int_gap_period_months is a contiguous run of months: its months are exactly those from
-- period_start to period_end, each once. int_gap_category_periods sums a period as the difference of two
-- running totals, which is right only then. Returns each period that is not.
with

period_months as (

    select * from {{ ref('int_gap_period_months') }}

),

periods as (

    select
        period_type,
        period_label,
        period_start,
        period_end,
        count(*) as n_months,
        count(distinct month_start_date) as n_distinct_months,
        min(month_start_date) as first_month,
        max(month_start_date) as last_month
    from period_months
    group by period_type, period_label, period_start, period_end

),

final as (

    select *
    from periods
    where
        first_month != period_start
        or last_month != period_end
        or n_distinct_months != n_months
        or n_months != datediff('month', period_start, period_end) + 1

)

select * from final
