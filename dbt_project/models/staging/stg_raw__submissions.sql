with

source as (

    select * from {{ source('raw', 'submissions') }}

),

final as (

    select
        submission_id,
        checksum,
        site_code,
        cast(month_start_date as date) as month_start_date,
        file_name,
        received_at,
        ingested_at,
        row_count
    from source

)

select * from final
