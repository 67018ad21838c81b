-- Each ethnic group of known ethnicity compared with the reference group (var reference_group), for
-- each site and the LAN, by month, complete NHS financial quarter, rolling 12 months and programme
-- phase. Every statistic comes from the macros gap_statistic_parts and gap_statistics (one macro per formula).
with

category_periods as (

    select * from {{ ref('int_gap_category_periods') }}

),

geography_periods as (

    select * from {{ ref('int_gap_geography_periods') }}

),

categories as (

    select * from {{ ref('dim_ethnic_category') }}
    where is_known

),

measures as (

    select * from {{ ref('dim_measure') }}

),

ethnic_groups as (

    select
        ethnic_group,
        min(ethnic_code) as group_order
    from categories
    group by ethnic_group

),

group_periods as (

    select
        category_periods.geography_level,
        category_periods.site_code,
        category_periods.measure_code,
        category_periods.period_type,
        category_periods.period_label,
        categories.ethnic_group,
        cast(sum(category_periods.numerator) as bigint) as numerator,
        cast(sum(category_periods.denominator) as bigint) as denominator
    from category_periods
    inner join categories
        on category_periods.ethnic_code = categories.ethnic_code
    group by
        category_periods.geography_level,
        category_periods.site_code,
        category_periods.measure_code,
        category_periods.period_type,
        category_periods.period_label,
        categories.ethnic_group

),

counts as (

    select
        group_periods.*,
        geography_periods.period_type_order,
        geography_periods.period_start,
        geography_periods.period_end,
        geography_periods.reference_numerator,
        geography_periods.reference_denominator,
        geography_periods.meets_completeness_threshold,
        geography_periods.months_flagged,
        geography_periods.n_months,
        geography_periods.completeness,
        geography_periods.flagged_share,
        measures.multiplier,
        measures.higher_is_better,
        ethnic_groups.group_order,
        group_periods.ethnic_group = '{{ var("reference_group") }}' as is_reference
    from group_periods
    inner join geography_periods
        on
            group_periods.geography_level = geography_periods.geography_level
            and group_periods.site_code = geography_periods.site_code
            and group_periods.measure_code = geography_periods.measure_code
            and group_periods.period_type = geography_periods.period_type
            and group_periods.period_label = geography_periods.period_label
    inner join ethnic_groups
        on group_periods.ethnic_group = ethnic_groups.ethnic_group
    left join measures
        on group_periods.measure_code = measures.measure_code

),

-- each proportion, Wilson limit and rate-ratio bound once, for gap_statistics to reuse
parts as (

    select
        *,
        {{ gap_statistic_parts('numerator', 'denominator', 'reference_numerator', 'reference_denominator') }}
    from counts

),

final as (

    select
        geography_level,
        site_code,
        measure_code,
        period_type,
        period_label,
        period_start,
        period_end,
        ethnic_group,
        numerator,
        denominator,
        '{{ var("reference_group") }}' as reference_group,
        reference_numerator,
        reference_denominator,
        {{ gap_statistics('multiplier', 'higher_is_better', 'is_reference') }},
        meets_completeness_threshold,
        months_flagged,
        n_months,
        multiplier,
        higher_is_better,
        is_reference,
        completeness,
        flagged_share,
        geography_level = 'lan' as sort_is_lan,
        period_type_order as sort_period_type,
        group_order as sort_unit
    from parts

)

select * exclude (sort_is_lan, sort_period_type, sort_unit)
from final
order by sort_is_lan, site_code, measure_code, sort_period_type, period_end, sort_unit
