{# Lower limit of x1 / n1 - x2 / n2, Newcombe's hybrid score method (method 10), from the counts: the Wilson
   limits of both (wilson_lower, wilson_upper) put into newcombe_lower_from_wilson. Proportion scale; zero
   counts are fine; NULL where either Wilson interval is. #}
{% macro newcombe_difference_lower(x1, n1, x2, n2, z=none) -%}
    {%- set z = z if z is not none else z_95() -%}
    {{ newcombe_lower_from_wilson(proportion(x1, n1), wilson_lower(x1, n1, z), proportion(x2, n2), wilson_upper(x2, n2, z)) }}
{%- endmacro %}
