{{ config(alias='dim_site') }}

with

dim_site as (

    select * from {{ ref('dim_site') }}

),

final as (

    select * from dim_site

)

select * from final
