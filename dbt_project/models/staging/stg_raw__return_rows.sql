with

source as (

    select * from {{ source('raw', 'return_rows') }}

),

final as (

    select
        submission_id,
        source_row,
        site_code,
        cast(month_start_date as date) as month_start_date,
        measure_code,
        ethnic_code,
        cast(numerator as bigint) as numerator,
        cast(denominator as bigint) as denominator,
        extra_columns
    from source

)

select * from final
