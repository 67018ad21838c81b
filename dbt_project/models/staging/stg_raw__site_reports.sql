-- The rows of accepted monthly reports, one per change, as ingest/report.py checked them.
with

source as (

    select * from {{ source('raw', 'report_rows') }}

),

final as (

    select
        submission_id,
        checksum,
        file_name,
        source_row,
        site_code,
        cast(month_start_date as date) as month_start_date,
        nullif(measure_code, '') as measure_code,
        change_idea,
        lower(pdsa_stage) as pdsa_stage,
        nullif(narrative, '') as narrative,
        received_at,
        ingested_at
    from source

)

select * from final
