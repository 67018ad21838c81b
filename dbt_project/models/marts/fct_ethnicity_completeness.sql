-- Ethnicity completeness of each site-month-measure of the current submissions. The share of the
-- denominator with a known ethnic category; whether it meets the threshold is Great Expectations'
-- verdict, kept in raw.data_quality_results by the quality asset.
with

measure_rows as (

    select * from {{ ref('int_measure_rows_current') }}

),

categories as (

    select * from {{ ref('stg_reference__ethnic_categories') }}

),

results as (

    select * from {{ ref('stg_raw__data_quality_results') }}
    where rule = 'ethnicity_completeness'

),

latest_results as (

    select *
    from results
    qualify row_number() over (
        partition by submission_id, measure_code order by validated_at desc, run_id desc
    ) = 1

),

totals as (

    select
        measure_rows.site_code,
        measure_rows.month_start_date,
        measure_rows.measure_code,
        any_value(measure_rows.submission_id) as submission_id,
        cast(coalesce(sum(measure_rows.denominator), 0) as bigint) as denominator_total,
        cast(coalesce(sum(measure_rows.denominator) filter (where categories.is_known), 0) as bigint)
            as denominator_known
    from measure_rows
    inner join categories
        on measure_rows.ethnic_code = categories.ethnic_code
    group by all

),

final as (

    select
        totals.site_code,
        totals.month_start_date,
        totals.measure_code,
        totals.submission_id,
        totals.denominator_total,
        totals.denominator_known,
        case
            when totals.denominator_total > 0
                then cast(totals.denominator_known as double) / totals.denominator_total
        end as completeness,
        latest_results.threshold as completeness_threshold,
        latest_results.success as meets_completeness_threshold
    from totals
    left join latest_results
        on
            totals.submission_id = latest_results.submission_id
            and totals.measure_code = latest_results.measure_code

)

select * from final
