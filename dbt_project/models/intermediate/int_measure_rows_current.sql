-- The rows of the current (newest) submission of each site-month.
with

return_rows as (

    select * from {{ ref('stg_raw__return_rows') }}

),

submissions as (

    select * from {{ ref('int_submissions_ranked') }}

),

final as (

    select return_rows.*
    from return_rows
    inner join submissions
        on return_rows.submission_id = submissions.submission_id
    where submissions.is_current

)

select * from final
