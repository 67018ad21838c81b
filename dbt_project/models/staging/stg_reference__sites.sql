with

source as (

    select * from {{ ref('lan_sites') }}

),

final as (

    select
        upper(site_code) as site_code,
        team_name,
        ics_name,
        nhs_region
    from source

)

select * from final
