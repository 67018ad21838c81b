{{ config(materialized='table') }}
-- Each geography x measure x period of gap_metrics that has data: the reference group's counts, the
-- months and flagged site-month-measures behind it, and its completeness. A single site-month keeps
-- its own flag; a row that aggregates several site-months (a quarter, a rolling 12 months, a phase, or
-- the LAN) meets the threshold when its own completeness (known / total denominator over everything it
-- aggregates) does, so one flagged month does not flag a whole period.
with

geography_months as (

    select * from {{ ref('int_gap_geography_months') }}

),

period_months as (

    select * from {{ ref('int_gap_period_months') }}

),

periods as (

    select
        geography_months.geography_level,
        geography_months.site_code,
        geography_months.measure_code,
        period_months.period_type_order,
        period_months.period_type,
        period_months.period_label,
        period_months.period_start,
        period_months.period_end,
        cast(sum(geography_months.reference_numerator) as bigint) as reference_numerator,
        cast(sum(geography_months.reference_denominator) as bigint) as reference_denominator,
        cast(sum(geography_months.months_flagged) as bigint) as months_flagged,
        cast(count(*) filter (where geography_months.has_data) as bigint) as n_months,
        sum(geography_months.denominator_total) as denominator_total,
        sum(geography_months.denominator_known) as denominator_known,
        sum(geography_months.denominator_flagged) as denominator_flagged
    from geography_months
    inner join period_months
        on geography_months.month_start_date = period_months.month_start_date
    group by
        geography_months.geography_level,
        geography_months.site_code,
        geography_months.measure_code,
        period_months.period_type_order,
        period_months.period_type,
        period_months.period_label,
        period_months.period_start,
        period_months.period_end
    having bool_or(geography_months.has_data)

),

final as (

    select
        geography_level,
        site_code,
        measure_code,
        period_type_order,
        period_type,
        period_label,
        period_start,
        period_end,
        reference_numerator,
        reference_denominator,
        months_flagged,
        n_months,
        {{ completeness_share('denominator_known', 'denominator_total') }} as completeness,
        {{ completeness_share('denominator_flagged', 'denominator_total') }} as flagged_share,
        case
            when geography_level = 'site' and period_type = 'month' then months_flagged = 0
            else coalesce(
                {{ completeness_share('denominator_known', 'denominator_total') }}
                >= cast('{{ var("completeness_threshold") }}' as double),
                true
            )
        end as meets_completeness_threshold
    from periods

)

select * from final
