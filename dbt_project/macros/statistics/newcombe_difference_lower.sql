{# Lower limit of x1 / n1 - x2 / n2, Newcombe's hybrid score method (method 10) from the two
   Wilson intervals: D - sqrt((p1 - l1)^2 + (u2 - p2)^2). Proportion scale; zero counts are fine;
   NULL where either Wilson interval is. #}
{% macro newcombe_difference_lower(x1, n1, x2, n2, z=none) -%}
    {%- set z = z if z is not none else z_95() -%}
    {%- set p1 = proportion(x1, n1) -%}
    {%- set p2 = proportion(x2, n2) -%}
    {%- set a = "(" ~ p1 ~ " - " ~ wilson_lower(x1, n1, z) ~ ")" -%}
    {%- set b = "(" ~ wilson_upper(x2, n2, z) ~ " - " ~ p2 ~ ")" -%}
    (({{ p1 }} - {{ p2 }}) - sqrt({{ a }} * {{ a }} + {{ b }} * {{ b }}))
{%- endmacro %}
