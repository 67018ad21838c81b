{# Difference in rate differences, MOVER lower bound from the two periods' Newcombe intervals:
   D - sqrt((d_c - l_c)^2 + (u_b - d_b)^2), D = d_c - d_b. #}
{% macro mover_difference_lower(d_comparison, lower_comparison, d_baseline, upper_baseline) -%}
    (({{ d_comparison }} - {{ d_baseline }})
        - sqrt(
            power({{ d_comparison }} - {{ lower_comparison }}, 2)
            + power({{ upper_baseline }} - {{ d_baseline }}, 2)
        ))
{%- endmacro %}
