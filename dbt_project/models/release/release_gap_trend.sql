{{ config(alias='gap_trend') }}

-- The gap's trend in the evaluation release, as fitted: gap_trend holds no count of people (its months are a
-- count of months), and its model is fitted to the unrounded monthly counts (release README).
with

gap_trend as (

    select * from {{ ref('gap_trend') }}

),

final as (

    select * from gap_trend

)

select * from final
