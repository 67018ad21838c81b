{# Mantel-Haenszel R = sum_i a_i n2_i / N_i (an aggregate over strata, N_i = n1_i + n2_i). #}
{% macro mantel_haenszel_r(a, n1, b, n2) -%}
    sum({{ a }}::double * {{ n2 }} / ({{ n1 }} + {{ n2 }}))
{%- endmacro %}
