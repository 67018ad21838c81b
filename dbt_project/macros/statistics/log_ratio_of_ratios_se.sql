{# The standard error of the log of a ratio of two independent ratios: sqrt(SE1^2 + SE2^2). #}
{% macro log_ratio_of_ratios_se(log_se_comparison, log_se_baseline) -%}
    sqrt(power({{ log_se_comparison }}, 2) + power({{ log_se_baseline }}, 2))
{%- endmacro %}
