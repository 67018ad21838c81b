{{ config(alias='fct_site_report') }}

-- What each site tested, in the evaluation release: the sites' own words, every report screened for personal
-- data at ingest (a report with an identifier is refused and never loaded); it holds no count column.
with

fct_site_report as (

    select * from {{ ref('fct_site_report') }}

),

final as (

    select * from fct_site_report

)

select * from final
