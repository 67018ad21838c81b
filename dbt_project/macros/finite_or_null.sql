{# A double column with NaN and infinity read as null (what pandas leaves for "no value"). #}
{% macro finite_or_null(column) -%}
    case when isfinite({{ column }}) then {{ column }} end
{%- endmacro %}
