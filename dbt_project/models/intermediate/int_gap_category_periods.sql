{{ config(materialized='table') }}
-- Known-ethnicity counts per geography x measure x period (those with data) x ethnic category: the
-- monthly counts of int_gap_category_months summed over the months of each period.
--
-- Every period is a contiguous run of months (tests/gap_periods_are_contiguous.sql) and every series of
-- int_gap_category_months has every month of the data range (zero-filled), so a period's sum is the
-- series' running total at its last month less the running total at the month before its first. That
-- reads each month once instead of once per period holding it (a rolling 12 months holds 12), and the
-- sums stay exact: they are integers.
with

category_months as (

    select * from {{ ref('int_gap_category_months') }}

),

period_months as (

    select * from {{ ref('int_gap_period_months') }}

),

geography_periods as (

    select * from {{ ref('int_gap_geography_periods') }}

),

periods as (

    select distinct
        period_type,
        period_label,
        period_start,
        period_end
    from period_months

),

running_totals as (

    select
        geography_level,
        site_code,
        measure_code,
        ethnic_code,
        month_start_date,
        sum(numerator) over series_to_date as numerator,
        sum(denominator) over series_to_date as denominator
    from category_months
    window series_to_date as (
        partition by geography_level, site_code, measure_code, ethnic_code
        order by month_start_date
        rows between unbounded preceding and current row
    )

),

category_periods as (

    select
        at_end.geography_level,
        at_end.site_code,
        at_end.measure_code,
        periods.period_type,
        periods.period_label,
        at_end.ethnic_code,
        cast(at_end.numerator - coalesce(before_start.numerator, 0) as bigint) as numerator,
        cast(at_end.denominator - coalesce(before_start.denominator, 0) as bigint) as denominator
    from periods
    inner join running_totals as at_end
        on periods.period_end = at_end.month_start_date
    left join running_totals as before_start
        on
            at_end.geography_level = before_start.geography_level
            and at_end.site_code = before_start.site_code
            and at_end.measure_code = before_start.measure_code
            and at_end.ethnic_code = before_start.ethnic_code
            and cast(periods.period_start - interval 1 month as date) = before_start.month_start_date

),

final as (

    select category_periods.*
    from category_periods
    semi join geography_periods
        on
            category_periods.geography_level = geography_periods.geography_level
            and category_periods.site_code = geography_periods.site_code
            and category_periods.measure_code = geography_periods.measure_code
            and category_periods.period_type = geography_periods.period_type
            and category_periods.period_label = geography_periods.period_label

)

select * from final
