with

source as (

    select * from {{ source('raw', 'files') }}

),

final as (

    select
        checksum,
        file_name,
        outcome,
        stored_path,
        size_bytes,
        upper(site_code) as site_code,
        months,
        problems_text,
        warnings_text,
        received_at,
        ingested_at,
        run_id
    from source

)

select * from final
