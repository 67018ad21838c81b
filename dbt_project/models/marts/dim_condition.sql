with

measures as (

    select * from {{ ref('stg_reference__measures') }}

),

final as (

    select distinct
        condition_code,
        condition_name
    from measures

)

select * from final
