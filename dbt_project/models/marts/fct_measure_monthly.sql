with

measure_rows as (

    select * from {{ ref('int_measure_rows_current') }}

),

completeness as (

    select * from {{ ref('fct_ethnicity_completeness') }}

),

final as (

    select
        measure_rows.site_code,
        measure_rows.month_start_date,
        measure_rows.measure_code,
        measure_rows.ethnic_code,
        measure_rows.numerator,
        measure_rows.denominator,
        measure_rows.submission_id,
        completeness.meets_completeness_threshold
    from measure_rows
    left join completeness
        on
            measure_rows.site_code = completeness.site_code
            and measure_rows.month_start_date = completeness.month_start_date
            and measure_rows.measure_code = completeness.measure_code

)

select * from final
