with

source as (

    select * from {{ source('reference', 'measures') }}

),

final as (

    select
        upper(cast(measure_code as varchar)) as measure_code,
        cast(condition_code as varchar) as condition_code,
        cast(condition_name as varchar) as condition_name,
        cast(measure_name as varchar) as measure_name,
        cast(numerator_definition as varchar) as numerator_definition,
        cast(denominator_definition as varchar) as denominator_definition,
        cast(multiplier as integer) as multiplier,
        cast(unit as varchar) as unit,
        cast(higher_is_better as boolean) as higher_is_better,
        cast(basis as varchar) as basis
    from source

)

select * from final
