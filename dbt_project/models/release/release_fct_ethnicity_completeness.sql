{{ config(alias='fct_ethnicity_completeness') }}

with

fct_ethnicity_completeness as (

    select * from {{ ref('fct_ethnicity_completeness') }}

),

working as (

    select
        *,
        {{ disclosure_count('denominator_total') }} as working_total,
        {{ disclosure_count('denominator_known') }} as working_known
    from fct_ethnicity_completeness

),

final as (

    select
        site_code,
        month_start_date,
        measure_code,
        submission_id,
        {{ disclosure_shown_count('denominator_total') }} as denominator_total,
        {{ disclosure_shown_count('denominator_known') }} as denominator_known,
        {{ disclosure_hidden('denominator_total') }} as denominator_total_hidden,
        {{ disclosure_hidden('denominator_known') }} as denominator_known_hidden,
        -- recomputed from the rounded counts, so that the partner can reproduce it from the extract
        case when working_total > 0 then working_known / working_total end as completeness,
        completeness_threshold,
        meets_completeness_threshold
    from working

)

select * from final
