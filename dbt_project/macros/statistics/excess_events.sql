{# Events beyond what the reference proportion would give: x1 - n1 x x2 / n2. NULL where the
   reference proportion does not exist (n2 <= 0, x2 outside 0..n2) or x1 / n1 is missing. #}
{% macro excess_events(x1, n1, x2, n2) -%}
    (cast({{ x1 }} as double) - cast({{ n1 }} as double) * {{ proportion(x2, n2) }})
{%- endmacro %}
