{# x1 / n1 - x2 / n2 on the proportion scale, where both proportions exist (see proportion). #}
{% macro proportion_difference(x1, n1, x2, n2) -%}
    ({{ proportion(x1, n1) }} - {{ proportion(x2, n2) }})
{%- endmacro %}
