-- Every monthly report received (a report file, or a workbook's report sheet), accepted or refused.
with

source as (

    select * from {{ source('raw', 'report_files') }}

),

final as (

    select
        checksum,
        file_name,
        sheet,
        sheet is null as is_report_file,
        outcome,
        stored_path,
        site_code,
        months,
        row_count,
        problems_text,
        received_at,
        ingested_at
    from source

)

select * from final
