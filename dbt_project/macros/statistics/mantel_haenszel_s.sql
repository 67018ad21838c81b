{# Mantel-Haenszel S = sum_i b_i n1_i / N_i (an aggregate over strata). #}
{% macro mantel_haenszel_s(a, n1, b, n2) -%}
    sum({{ b }}::double * {{ n1 }} / ({{ n1 }} + {{ n2 }}))
{%- endmacro %}
