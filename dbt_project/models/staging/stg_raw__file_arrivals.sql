with

source as (

    select * from {{ source('raw', 'file_arrivals') }}

),

final as (

    select
        checksum,
        file_name,
        received_at,
        ingested_at,
        is_repeat,
        run_id
    from source

)

select * from final
