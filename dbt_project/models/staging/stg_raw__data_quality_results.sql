with

source as (

    select * from {{ source('raw', 'data_quality_results') }}

),

final as (

    select
        run_id,
        validated_at,
        submission_id,
        suite,
        rule,
        expectation_type,
        success,
        observed_value,
        threshold,
        details,
        site_code,
        cast(month_start_date as date) as month_start_date,
        measure_code,
        ethnic_group
    from source

)

select * from final
