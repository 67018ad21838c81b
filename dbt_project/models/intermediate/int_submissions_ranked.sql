-- Every accepted site-month submission, ranked newest first within its site-month: the newest
-- replaces the earlier ones in every published table (data contract, "Resubmission").
with

submissions as (

    select * from {{ ref('stg_raw__submissions') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by site_code, month_start_date
            order by ingested_at desc, received_at desc, file_name desc, submission_id desc
        ) as recency_rank
    from submissions

),

final as (

    select
        submission_id,
        checksum,
        site_code,
        month_start_date,
        file_name,
        received_at,
        ingested_at,
        row_count,
        recency_rank,
        recency_rank = 1 as is_current
    from ranked

)

select * from final
