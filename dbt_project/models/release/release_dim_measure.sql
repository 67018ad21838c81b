{{ config(alias='dim_measure') }}

with

dim_measure as (

    select * from {{ ref('dim_measure') }}

),

final as (

    select * from dim_measure

)

select * from final
