{{ config(alias='dim_ethnic_category') }}

with

dim_ethnic_category as (

    select * from {{ ref('dim_ethnic_category') }}

),

final as (

    select * from dim_ethnic_category

)

select * from final
