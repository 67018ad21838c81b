-- Every month from the reporting start (or the first month received, if earlier) to the latest month
-- already due (or the latest month received in an accepted file, if later), never past LAN_REPORTING_END.
with

submissions as (

    select * from {{ ref('stg_raw__submissions') }}

),

bounds as (

    select
        least({{ month_var('reporting_start') }}, coalesce(min(month_start_date), {{ month_var('reporting_start') }}))
            as first_month,
        least(
            greatest(
                {{ month_var('reporting_start') }},
                coalesce(max(month_start_date), {{ month_var('reporting_start') }}),
                {{ latest_due_month() }}
            ),
            {{ reporting_end_month() }}
        ) as last_month
    from submissions

),

final as (

    select cast(unnest(generate_series(first_month, last_month, interval 1 month)) as date) as month_start_date
    from bounds

)

select * from final
