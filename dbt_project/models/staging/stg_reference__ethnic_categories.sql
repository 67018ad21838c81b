with

source as (

    select * from {{ source('reference', 'ethnic_category') }}

),

final as (

    select
        cast(ethnic_code as varchar) as ethnic_code,
        cast(ethnic_label as varchar) as ethnic_label,
        cast(ethnic_group as varchar) as ethnic_group,
        cast(is_known as boolean) as is_known,
        cast(sort_order as integer) as sort_order
    from source

)

select * from final
