-- Each geography (each site, and the LAN as geography 'lan' with site_code 'LAN') x measure x month of
-- the data range, for every geography-measure with data: whether the month has contributing data, the
-- reference group's counts, the site-month-measures behind it and how many were flagged, and the
-- denominators that completeness is computed from (fct_ethnicity_completeness). Months without data
-- are zero-filled.
with

facts as (

    select * from {{ ref('fct_measure_monthly') }}
    where numerator is not null and denominator is not null

),

categories as (

    select * from {{ ref('dim_ethnic_category') }}
    where is_known

),

completeness as (

    select * from {{ ref('fct_ethnicity_completeness') }}

),

period_months as (

    select distinct month_start_date from {{ ref('int_gap_period_months') }}

),

site_measure_months as (

    select
        facts.site_code,
        facts.month_start_date,
        facts.measure_code,
        bool_and(coalesce(facts.meets_completeness_threshold, false)) as meets_completeness_threshold,
        coalesce(sum(facts.numerator) filter (where categories.ethnic_group = '{{ var("reference_group") }}'), 0)
            as reference_numerator,
        coalesce(sum(facts.denominator) filter (where categories.ethnic_group = '{{ var("reference_group") }}'), 0)
            as reference_denominator
    from facts
    left join categories
        on facts.ethnic_code = categories.ethnic_code
    group by facts.site_code, facts.month_start_date, facts.measure_code

),

with_completeness as (

    select
        site_measure_months.*,
        coalesce(completeness.denominator_total, 0) as denominator_total,
        coalesce(completeness.denominator_known, 0) as denominator_known
    from site_measure_months
    left join completeness
        on
            site_measure_months.site_code = completeness.site_code
            and site_measure_months.month_start_date = completeness.month_start_date
            and site_measure_months.measure_code = completeness.measure_code

),

site_months as (

    select
        'site' as geography_level,
        site_code,
        measure_code,
        month_start_date,
        reference_numerator,
        reference_denominator,
        1 as site_measure_months,
        case when meets_completeness_threshold then 0 else 1 end as months_flagged,
        denominator_total,
        denominator_known,
        case when meets_completeness_threshold then 0 else denominator_total end as denominator_flagged
    from with_completeness

),

geography_months as (

    select * from site_months
    union all
    select
        'lan' as geography_level,
        'LAN' as site_code,
        measure_code,
        month_start_date,
        sum(reference_numerator) as reference_numerator,
        sum(reference_denominator) as reference_denominator,
        sum(site_measure_months) as site_measure_months,
        sum(months_flagged) as months_flagged,
        sum(denominator_total) as denominator_total,
        sum(denominator_known) as denominator_known,
        sum(denominator_flagged) as denominator_flagged
    from site_months
    group by measure_code, month_start_date

),

series as (

    select distinct
        geography_level,
        site_code,
        measure_code
    from geography_months

),

final as (

    select
        series.geography_level,
        series.site_code,
        series.measure_code,
        period_months.month_start_date,
        geography_months.month_start_date is not null as has_data,
        cast(coalesce(geography_months.reference_numerator, 0) as bigint) as reference_numerator,
        cast(coalesce(geography_months.reference_denominator, 0) as bigint) as reference_denominator,
        cast(coalesce(geography_months.site_measure_months, 0) as bigint) as site_measure_months,
        cast(coalesce(geography_months.months_flagged, 0) as bigint) as months_flagged,
        cast(coalesce(geography_months.denominator_total, 0) as bigint) as denominator_total,
        cast(coalesce(geography_months.denominator_known, 0) as bigint) as denominator_known,
        cast(coalesce(geography_months.denominator_flagged, 0) as bigint) as denominator_flagged
    from series
    cross join period_months
    left join geography_months
        on
            series.geography_level = geography_months.geography_level
            and series.site_code = geography_months.site_code
            and series.measure_code = geography_months.measure_code
            and period_months.month_start_date = geography_months.month_start_date

)

select * from final
