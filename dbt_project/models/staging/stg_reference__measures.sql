with

source as (

    select * from {{ ref('measures') }}

),

final as (

    select
        upper(measure_code) as measure_code,
        condition_code,
        condition_name,
        measure_name,
        numerator_definition,
        denominator_definition,
        multiplier,
        unit,
        higher_is_better,
        basis
    from source

)

select * from final
