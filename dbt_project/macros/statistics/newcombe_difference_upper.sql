{# Upper limit of x1 / n1 - x2 / n2, Newcombe's hybrid score method (method 10):
   D + sqrt((u1 - p1)^2 + (p2 - l2)^2). Proportion scale; NULL where either Wilson interval is. #}
{% macro newcombe_difference_upper(x1, n1, x2, n2, z=none) -%}
    {%- set z = z if z is not none else z_95() -%}
    {%- set p1 = proportion(x1, n1) -%}
    {%- set p2 = proportion(x2, n2) -%}
    {%- set a = "(" ~ wilson_upper(x1, n1, z) ~ " - " ~ p1 ~ ")" -%}
    {%- set b = "(" ~ p2 ~ " - " ~ wilson_lower(x2, n2, z) ~ ")" -%}
    (({{ p1 }} - {{ p2 }}) + sqrt({{ a }} * {{ a }} + {{ b }} * {{ b }}))
{%- endmacro %}
