with

sites as (

    select * from {{ ref('stg_reference__sites') }}

),

final as (

    select
        site_code,
        team_name,
        ics_name,
        nhs_region
    from sites

)

select * from final
