{{ config(materialized='table') }}
-- Known-ethnicity counts per geography x measure x period (those with data) x ethnic category: the
-- monthly counts of int_gap_category_months summed over the months of each period.
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

category_periods as (

    select
        category_months.geography_level,
        category_months.site_code,
        category_months.measure_code,
        period_months.period_type,
        period_months.period_label,
        category_months.ethnic_code,
        cast(sum(category_months.numerator) as bigint) as numerator,
        cast(sum(category_months.denominator) as bigint) as denominator
    from category_months
    inner join period_months
        on category_months.month_start_date = period_months.month_start_date
    group by
        category_months.geography_level,
        category_months.site_code,
        category_months.measure_code,
        period_months.period_type,
        period_months.period_label,
        category_months.ethnic_code

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
