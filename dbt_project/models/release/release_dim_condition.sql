{{ config(alias='dim_condition') }}

with

dim_condition as (

    select * from {{ ref('dim_condition') }}

),

final as (

    select * from dim_condition

)

select * from final
