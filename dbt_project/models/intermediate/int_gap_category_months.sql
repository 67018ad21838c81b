-- Known-ethnicity counts per geography (each site, and the LAN) x measure x month of the data range x
-- ethnic category of known ethnicity, for every geography-measure with data: zero-filled, so that a
-- category without data has counts of 0 rather than no row.
with

facts as (

    select * from {{ ref('fct_measure_monthly') }}
    where numerator is not null and denominator is not null

),

categories as (

    select * from {{ ref('dim_ethnic_category') }}
    where is_known

),

geography_months as (

    select * from {{ ref('int_gap_geography_months') }}

),

site_counts as (

    select
        'site' as geography_level,
        facts.site_code,
        facts.measure_code,
        facts.month_start_date,
        facts.ethnic_code,
        sum(facts.numerator) as numerator,
        sum(facts.denominator) as denominator
    from facts
    inner join categories
        on facts.ethnic_code = categories.ethnic_code
    group by facts.site_code, facts.measure_code, facts.month_start_date, facts.ethnic_code

),

category_counts as (

    select * from site_counts
    union all
    select
        'lan' as geography_level,
        'LAN' as site_code,
        measure_code,
        month_start_date,
        ethnic_code,
        sum(numerator) as numerator,
        sum(denominator) as denominator
    from site_counts
    group by measure_code, month_start_date, ethnic_code

),

final as (

    select
        geography_months.geography_level,
        geography_months.site_code,
        geography_months.measure_code,
        geography_months.month_start_date,
        categories.ethnic_code,
        cast(coalesce(category_counts.numerator, 0) as bigint) as numerator,
        cast(coalesce(category_counts.denominator, 0) as bigint) as denominator
    from geography_months
    cross join categories
    left join category_counts
        on
            geography_months.geography_level = category_counts.geography_level
            and geography_months.site_code = category_counts.site_code
            and geography_months.measure_code = category_counts.measure_code
            and geography_months.month_start_date = category_counts.month_start_date
            and categories.ethnic_code = category_counts.ethnic_code

)

select * from final
