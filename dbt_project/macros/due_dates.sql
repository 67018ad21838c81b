{# The date the run judges overdue returns on: var run_date (LAN_RUN_DATE, or the sample's date), else today. #}
{% macro run_date() -%}
    coalesce(try_cast(nullif('{{ var("run_date") }}', '') as date), current_date)
{%- endmacro %}

{# The day a site-month's return is due: day LAN_DUE_DAY (default 15) of the following month. #}
{% macro due_date(month_col) -%}
    cast({{ month_col }} + interval 1 month + to_days(cast({{ var('due_day') }} as integer) - 1) as date)
{%- endmacro %}

{# The latest month whose return is due on or before the run date. #}
{% macro latest_due_month() -%}
    cast(date_trunc('month', {{ run_date() }} - to_days(cast({{ var('due_day') }} as integer) - 1)) - interval 1 month as date)
{%- endmacro %}

{# The last month of the reporting window: var reporting_end (LAN_REPORTING_END, YYYY-MM), else no end. #}
{% macro reporting_end_month() -%}
    coalesce(try_cast(nullif('{{ var("reporting_end") }}', '') || '-01' as date), date '9999-12-01')
{%- endmacro %}
