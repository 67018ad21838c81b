{{ config(alias='dim_month') }}

with

dim_month as (

    select * from {{ ref('dim_month') }}

),

final as (

    select * from dim_month

)

select * from final
