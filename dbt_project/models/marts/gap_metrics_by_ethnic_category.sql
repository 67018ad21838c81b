-- As gap_metrics, for each ethnic category of known ethnicity (e.g. Black African and Black Caribbean
-- separately), each compared with the reference GROUP's total, so no row is a reference row. Every
-- statistic comes from the macros gap_statistic_parts and gap_statistics (one macro per formula).
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

counts as (

    select
        category_periods.*,
        categories.ethnic_label,
        categories.ethnic_group,
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
        false as is_reference
    from category_periods
    inner join geography_periods
        on
            category_periods.geography_level = geography_periods.geography_level
            and category_periods.site_code = geography_periods.site_code
            and category_periods.measure_code = geography_periods.measure_code
            and category_periods.period_type = geography_periods.period_type
            and category_periods.period_label = geography_periods.period_label
    inner join categories
        on category_periods.ethnic_code = categories.ethnic_code
    left join measures
        on category_periods.measure_code = measures.measure_code

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
        ethnic_code,
        ethnic_label,
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
        period_type_order as sort_period_type
    from parts

)

select * exclude (sort_is_lan, sort_period_type)
from final
order by sort_is_lan, site_code, measure_code, sort_period_type, period_end, ethnic_code
