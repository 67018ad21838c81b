{# Lower limit of the rate ratio, log method: RR x exp(-z x SE). NULL where not calculable. #}
{% macro rate_ratio_lower(a, n1, b, n2, z=none) -%}
    {%- set z = z if z is not none else z_95() -%}
    ({{ rate_ratio(a, n1, b, n2) }} * exp(-(({{ z }}) * {{ rate_ratio_log_se(a, n1, b, n2) }})))
{%- endmacro %}
