{# The Wald statistic of a ratio: ln estimate / SE (null unless the estimate and SE are positive). #}
{% macro log_scale_z(estimate, log_se) -%}
    (case when {{ estimate }} > 0 and {{ log_se }} > 0 then ln({{ estimate }}) / {{ log_se }} end)
{%- endmacro %}
