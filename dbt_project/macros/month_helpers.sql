{# A 'YYYY-MM' var as the DATE of its first day. #}
{% macro month_var(name) -%}
    cast('{{ var(name) }}' || '-01' as date)
{%- endmacro %}

{# NHS financial year of a month start date, e.g. 2024/25 for April 2024 to March 2025. #}
{% macro financial_year(month_col) -%}
    (case when month({{ month_col }}) >= 4 then year({{ month_col }}) else year({{ month_col }}) - 1 end)::varchar
    || '/' || lpad(((case when month({{ month_col }}) >= 4 then year({{ month_col }}) + 1 else year({{ month_col }}) end) % 100)::varchar, 2, '0')
{%- endmacro %}

{# NHS financial quarter number: April to June is Q1. #}
{% macro financial_quarter(month_col) -%}
    ((month({{ month_col }}) + 8) % 12) // 3 + 1
{%- endmacro %}
