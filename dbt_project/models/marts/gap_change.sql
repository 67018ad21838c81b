-- Did the gap narrow? Each group's gap to the reference group after the programme started against before it,
-- for each site and the LAN (../shared/spec/warehouse-interface.md, "gap_change"). Counts and per-period
-- statistics are gap_metrics' own; the formulas are macros (macros/statistics/, see macros/_gap_change_macros.yml).
-- The rows are the macro gap_change_rows, which the release's gap_change shares over rounded counts. (Its line
-- carries "noqa: PRS": sqlfluff's DuckDB dialect cannot parse the lambda functions that normal_two_sided_p_value
-- renders; DuckDB runs them.)
with

gap_metrics as (

    select * from {{ ref('gap_metrics') }}

),

final as (

    {{ gap_change_rows('gap_metrics') }}  -- noqa: PRS

)

select * from final
