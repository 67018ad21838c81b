with

categories as (

    select * from {{ ref('stg_reference__ethnic_categories') }}

),

final as (

    select
        ethnic_code,
        ethnic_label,
        ethnic_group,
        is_known,
        sort_order
    from categories

)

select * from final
