{{ config(alias='fct_submission_status') }}

with

fct_submission_status as (

    select * from {{ ref('fct_submission_status') }}

),

final as (

    -- problems is withheld: free text that can quote values from the sites' files (a small count, or an
    -- identifier in a refused file)
    select * exclude (problems) from fct_submission_status

)

select * from final
