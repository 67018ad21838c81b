with

spine as (

    select * from {{ ref('int_month_spine') }}

),

final as (

    select
        month_start_date,
        cast(year(month_start_date) as integer) as year,  -- noqa: RF04
        cast(month(month_start_date) as integer) as month_number,
        strftime(month_start_date, '%Y-%m') as month_label,
        {{ financial_year('month_start_date') }} as financial_year,
        {{ financial_year('month_start_date') }}
        || ' Q'
        || ({{ financial_quarter('month_start_date') }})::varchar as quarter_label,
        case
            when month_start_date < {{ month_var('programme_start') }} then 'baseline'
            else 'intervention'
        end as programme_phase
    from spine

)

select * from final
