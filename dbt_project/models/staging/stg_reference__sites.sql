with

source as (

    select * from {{ source('reference', 'lan_sites') }}

),

final as (

    select
        upper(cast(site_code as varchar)) as site_code,
        cast(team_name as varchar) as team_name,
        cast(ics_name as varchar) as ics_name,
        cast(nhs_region as varchar) as nhs_region
    from source

)

select * from final
