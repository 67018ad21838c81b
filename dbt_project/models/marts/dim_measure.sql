with

measures as (

    select * from {{ ref('stg_reference__measures') }}

),

final as (

    select
        measure_code,
        condition_code,
        measure_name,
        numerator_definition,
        denominator_definition,
        multiplier,
        unit,
        higher_is_better,
        basis
    from measures

)

select * from final
