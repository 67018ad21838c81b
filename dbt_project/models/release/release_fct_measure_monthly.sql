{{ config(alias='fct_measure_monthly') }}

with

fct_measure_monthly as (

    select * from {{ ref('fct_measure_monthly') }}

),

final as (

    select
        site_code,
        month_start_date,
        measure_code,
        ethnic_code,
        {{ disclosure_shown_count('numerator') }} as numerator,
        {{ disclosure_shown_count('denominator') }} as denominator,
        {{ disclosure_hidden('numerator') }} as numerator_hidden,
        {{ disclosure_hidden('denominator') }} as denominator_hidden,
        submission_id,
        meets_completeness_threshold
    from fct_measure_monthly

)

select * from final
