-- Question: over the last 3 months, which sites have a month missing, quarantined (the file was
--   refused) or flagged (loaded, but ethnicity completeness below the threshold)?
--
-- Returns: one row per site (every site of marts.dim_site) and month of the last 3 months of
--   marts.fct_submission_status (the 3 months ending at the latest month any site has sent), with
--   status ('loaded', 'flagged', 'quarantined', 'missing'), needs_attention (true unless loaded),
--   the file behind the month (file_name, received_at) and the problems in plain words (a refused
--   correction of a loaded month shows here too, with status 'loaded').
--   A site-month absent from fct_submission_status (a site added to dim_site after the data) is
--   reported as 'missing'.
--   Rows needing attention come first, then the latest month first, then by site; so the answer to
--   the question is the rows with needs_attention = true (none when every site is up to date).
--
-- Run it (read-only, on the published copy, never on warehouse/lan.duckdb):
--   duckdb -readonly publish/warehouse.duckdb < queries/submission_status_latest.sql
--   python: duckdb.connect("publish/warehouse.duckdb", read_only=True).sql(open("queries/submission_status_latest.sql").read()).df()
-- Works with DuckDB 1.1 or later (the tests run it with DuckDB 1.4 and 2.0).

with latest as (
    select max(month_start_date) as latest_month
    from marts.fct_submission_status
),

window_months as (
    select cast(l.latest_month - to_months(cast(k.n as integer)) as date) as month_start_date
    from latest as l
    cross join range(3) as k(n)
)

select
    s.site_code,
    s.team_name,
    w.month_start_date,
    strftime(w.month_start_date, '%Y-%m') as month_label,
    coalesce(f.status, 'missing') as status,
    coalesce(f.status, 'missing') <> 'loaded' as needs_attention,
    f.file_name,
    f.received_at,
    f.problems
from marts.dim_site as s
cross join window_months as w
left join marts.fct_submission_status as f
  on f.site_code = s.site_code
 and f.month_start_date = w.month_start_date
order by needs_attention desc, w.month_start_date desc, s.site_code;
