-- Every validation result ever recorded, so that a site's data quality can be followed month by month.
with

results as (

    select * from {{ ref('stg_raw__data_quality_results') }}

),

submissions as (

    select * from {{ ref('int_submissions_ranked') }}

),

final as (

    select
        md5(concat_ws(
            '|', results.run_id, results.submission_id, results.rule,
            coalesce(results.measure_code, ''), coalesce(results.ethnic_group, '')
        )) as result_id,
        results.run_id,
        results.validated_at,
        results.submission_id,
        results.site_code,
        results.month_start_date,
        results.measure_code,
        results.ethnic_group,
        results.suite,
        results.rule,
        results.expectation_type,
        results.success,
        results.observed_value,
        results.threshold,
        results.details,
        coalesce(submissions.is_current, false) as is_current_submission
    from results
    left join submissions
        on results.submission_id = submissions.submission_id

)

select * from final
