-- One row per site and month of the reporting window: what the warehouse holds for it.
with

sites as (

    select * from {{ ref('dim_site') }}

),

months as (

    select * from {{ ref('int_month_spine') }}

),

current_submissions as (

    select * from {{ ref('int_submissions_ranked') }}
    where is_current

),

files as (

    select * from {{ ref('stg_raw__files') }}

),

refused as (

    select * from {{ ref('int_refused_site_months') }}

),

completeness as (

    select * from {{ ref('fct_ethnicity_completeness') }}

),

site_reports as (

    select distinct
        site_code,
        month_start_date
    from {{ ref('fct_site_report') }}

),

site_month_completeness as (

    select
        site_code,
        month_start_date,
        bool_and(coalesce(meets_completeness_threshold, true)) as meets_completeness_threshold,
        string_agg(
            case
                when not meets_completeness_threshold
                    then measure_code || ' ' || round(100 * completeness, 1)::varchar || '%'
            end,
            ', ' order by measure_code
        ) as measures_below_threshold,
        max(completeness_threshold) as completeness_threshold
    from completeness
    group by all

),

joined as (

    select
        sites.site_code,
        months.month_start_date,
        current_submissions.submission_id,
        current_submissions.ingested_at as loaded_ingested_at,
        current_submissions.file_name as loaded_file_name,
        current_submissions.received_at as loaded_received_at,
        files.warnings_text as loaded_warnings,
        site_month_completeness.meets_completeness_threshold,
        site_month_completeness.measures_below_threshold,
        site_month_completeness.completeness_threshold,
        refused.file_name as refused_file_name,
        refused.received_at as refused_received_at,
        refused.ingested_at as refused_ingested_at,
        refused.problems_text as refused_problems,
        site_reports.site_code is not null as report_received
    from sites
    cross join months
    left join current_submissions
        on
            sites.site_code = current_submissions.site_code
            and months.month_start_date = current_submissions.month_start_date
    left join files
        on current_submissions.checksum = files.checksum
    left join site_month_completeness
        on
            sites.site_code = site_month_completeness.site_code
            and months.month_start_date = site_month_completeness.month_start_date
    left join refused
        on
            sites.site_code = refused.site_code
            and months.month_start_date = refused.month_start_date
    left join site_reports
        on
            sites.site_code = site_reports.site_code
            and months.month_start_date = site_reports.month_start_date

),

final as (

    select
        site_code,
        month_start_date,
        case
            when submission_id is not null and not coalesce(meets_completeness_threshold, true) then 'flagged'
            when submission_id is not null then 'loaded'
            when refused_file_name is not null then 'quarantined'
            else 'missing'
        end as status,
        submission_id,
        coalesce(loaded_file_name, refused_file_name) as file_name,
        coalesce(loaded_received_at, refused_received_at) as received_at,
        nullif(concat_ws(
            '; ',
            case
                when not coalesce(meets_completeness_threshold, true)
                    then
                        'ethnicity completeness below ' || printf('%g', 100 * completeness_threshold)
                        || '% for ' || measures_below_threshold
            end,
            loaded_warnings,
            case
                when
                    refused_file_name is not null
                    and (submission_id is null or refused_ingested_at > loaded_ingested_at)
                    then case
                        when submission_id is not null
                            then
                                'a later file, ' || refused_file_name || ', was refused and the earlier data kept: '
                        else 'file ' || refused_file_name || ' was refused: '
                    end || refused_problems
            end
        ), '') as problems,
        case when submission_id is not null then coalesce(meets_completeness_threshold, true) end
            as meets_completeness_threshold,
        {{ due_date('month_start_date') }} as due_date,
        submission_id is null and {{ run_date() }} > {{ due_date('month_start_date') }} as is_overdue,
        report_received
    from joined

)

select * from final
