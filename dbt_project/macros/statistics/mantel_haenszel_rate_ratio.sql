{# Mantel-Haenszel rate ratio over strata: R / S (null when R or S is 0). Aggregate; strata with n1, n2 > 0. #}
{% macro mantel_haenszel_rate_ratio(a, n1, b, n2) -%}
    (case when {{ mantel_haenszel_r(a, n1, b, n2) }} > 0 and {{ mantel_haenszel_s(a, n1, b, n2) }} > 0
        then {{ mantel_haenszel_r(a, n1, b, n2) }} / {{ mantel_haenszel_s(a, n1, b, n2) }} end)
{%- endmacro %}
