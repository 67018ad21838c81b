-- Lineage: every accepted site-month submission, the file it came in, its checksum and arrival time.
with

submissions as (

    select * from {{ ref('int_submissions_ranked') }}

),

files as (

    select * from {{ ref('stg_raw__files') }}

),

final as (

    select
        submissions.submission_id,
        submissions.site_code,
        submissions.month_start_date,
        submissions.file_name,
        submissions.checksum,
        files.stored_path,
        submissions.received_at,
        submissions.ingested_at,
        submissions.row_count,
        submissions.is_current,
        files.warnings_text as file_warnings
    from submissions
    inner join files
        on submissions.checksum = files.checksum

)

select * from final
