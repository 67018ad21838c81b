{# MOVER upper bound: D + sqrt((u_c - d_c)^2 + (d_b - l_b)^2). #}
{% macro mover_difference_upper(d_comparison, upper_comparison, d_baseline, lower_baseline) -%}
    (({{ d_comparison }} - {{ d_baseline }})
        + sqrt(
            power({{ upper_comparison }} - {{ d_comparison }}, 2)
            + power({{ d_baseline }} - {{ lower_baseline }}, 2)
        ))
{%- endmacro %}
