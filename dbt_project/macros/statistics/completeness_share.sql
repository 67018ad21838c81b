{# part / total as a DOUBLE, NULL when total is 0 or NULL (nothing to be complete about). #}
{% macro completeness_share(part, total) -%}
    (case when ({{ total }}) > 0 then cast({{ part }} as double) / cast({{ total }} as double) end)
{%- endmacro %}
