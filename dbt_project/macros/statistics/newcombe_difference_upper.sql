{# Upper limit of x1 / n1 - x2 / n2, Newcombe's hybrid score method (method 10), from the counts (see
   newcombe_upper_from_wilson). Proportion scale; NULL where either Wilson interval is. #}
{% macro newcombe_difference_upper(x1, n1, x2, n2, z=none) -%}
    {%- set z = z if z is not none else z_95() -%}
    {{ newcombe_upper_from_wilson(proportion(x1, n1), wilson_upper(x1, n1, z), proportion(x2, n2), wilson_lower(x2, n2, z)) }}
{%- endmacro %}
