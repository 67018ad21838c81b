{# The two-sided 95 % standard normal quantile, qnorm(0.975), as a DOUBLE literal. #}
{% macro z_95() -%}
    1.959963984540054::double
{%- endmacro %}
