-- Ethnicity completeness of each site-month-measure of the current submissions. Computed once, by
-- the quality asset (expectations/validate.py completeness_frame) when Great Expectations validates
-- a new submission, and kept in raw.data_quality_results with GX's verdict: the share is GX's
-- observed value, the denominators the figures stored beside it. Not recomputed here.
with

submissions as (

    select * from {{ ref('int_submissions_ranked') }}
    where is_current

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

final as (

    select
        latest_results.site_code,
        latest_results.month_start_date,
        latest_results.measure_code,
        latest_results.submission_id,
        cast(json_extract(latest_results.details, '$.denominator_total') as bigint) as denominator_total,
        cast(json_extract(latest_results.details, '$.denominator_known') as bigint) as denominator_known,
        latest_results.observed_value as completeness,
        latest_results.threshold as completeness_threshold,
        latest_results.success as meets_completeness_threshold
    from latest_results
    inner join submissions
        on latest_results.submission_id = submissions.submission_id

)

select * from final
