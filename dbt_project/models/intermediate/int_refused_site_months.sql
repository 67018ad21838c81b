-- The newest refused file for each site-month it (as far as could be read) was meant to report.
with

files as (

    select * from {{ ref('stg_raw__files') }}

),

report_files as (

    select * from {{ ref('stg_raw__report_files') }}
    where is_report_file

),

refused as (

    select
        checksum,
        file_name,
        site_code,
        cast(unnest(months) as date) as month_start_date,
        problems_text,
        received_at,
        ingested_at
    from files
    where
        outcome = 'quarantined'
        and site_code is not null
        -- a refused monthly report does not refuse the numbers (fct_site_report, report_received)
        and checksum not in (select report_files.checksum from report_files)

),

ranked as (

    select
        *,
        row_number() over (
            partition by site_code, month_start_date
            order by ingested_at desc, received_at desc, file_name desc
        ) as recency_rank
    from refused

),

final as (

    select
        checksum,
        file_name,
        site_code,
        month_start_date,
        problems_text,
        received_at,
        ingested_at
    from ranked
    where recency_rank = 1

)

select * from final
