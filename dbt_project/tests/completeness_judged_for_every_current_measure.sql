-- Completeness is computed once, when Great Expectations validates a submission: every measure of
-- every current submission must have its stored result (else fct_ethnicity_completeness misses it).
with

measure_rows as (

    select distinct
        submission_id,
        measure_code
    from {{ ref('int_measure_rows_current') }}

),

completeness as (

    select * from {{ ref('fct_ethnicity_completeness') }}

),

final as (

    select measure_rows.*
    from measure_rows
    left join completeness
        on
            measure_rows.submission_id = completeness.submission_id
            and measure_rows.measure_code = completeness.measure_code
    where completeness.submission_id is null

)

select * from final
