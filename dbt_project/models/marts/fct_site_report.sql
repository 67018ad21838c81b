-- The accepted monthly reports: one row per site, month and change, from the newest report for each
-- site-month (a newer report replaces the earlier one, as a resubmitted return does).
with

report_rows as (

    select * from {{ ref('stg_raw__site_reports') }}

),

report_submissions as (

    select
        submission_id,
        site_code,
        month_start_date,
        max(file_name) as file_name,
        max(received_at) as received_at,
        max(ingested_at) as ingested_at
    from report_rows
    group by all

),

ranked as (

    select
        *,
        row_number() over (
            partition by site_code, month_start_date
            order by ingested_at desc, received_at desc, file_name desc, submission_id desc
        ) as recency_rank
    from report_submissions

),

final as (

    select
        report_rows.site_code,
        report_rows.month_start_date,
        report_rows.measure_code,
        report_rows.change_idea,
        report_rows.pdsa_stage,
        report_rows.narrative,
        report_rows.submission_id
    from report_rows
    inner join ranked
        on report_rows.submission_id = ranked.submission_id
    where ranked.recency_rank = 1

)

select * from final
