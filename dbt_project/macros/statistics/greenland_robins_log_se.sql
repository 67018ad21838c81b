{# Greenland and Robins (1985) standard error of ln RR_MH:
   sqrt(sum_i (n1_i n2_i (a_i + b_i) - a_i b_i N_i) / N_i^2 / (R S)). Aggregate, as above. #}
{% macro greenland_robins_log_se(a, n1, b, n2) -%}
    (case when {{ mantel_haenszel_r(a, n1, b, n2) }} > 0 and {{ mantel_haenszel_s(a, n1, b, n2) }} > 0
        then sqrt(
            sum(({{ n1 }}::double * {{ n2 }} * ({{ a }} + {{ b }}) - {{ a }}::double * {{ b }} * ({{ n1 }} + {{ n2 }}))
                / power({{ n1 }} + {{ n2 }}, 2))
            / ({{ mantel_haenszel_r(a, n1, b, n2) }} * {{ mantel_haenszel_s(a, n1, b, n2) }})
        ) end)
{%- endmacro %}
