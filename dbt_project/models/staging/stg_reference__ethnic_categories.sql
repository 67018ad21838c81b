with

source as (

    select * from {{ ref('ethnic_category') }}

),

final as (

    select
        ethnic_code,
        ethnic_label,
        ethnic_group,
        is_known,
        sort_order
    from source

)

select * from final
