{# Newcombe's hybrid score upper limit (method 10) of p1 - p2 from the two Wilson intervals:
   (p1 - p2) + sqrt((u1 - p1)^2 + (p2 - l2)^2), where p1, upper1 are the group's proportion and upper Wilson
   limit and p2, lower2 the reference's proportion and lower Wilson limit. Pass columns, as for the lower. #}
{% macro newcombe_upper_from_wilson(p1, upper1, p2, lower2) -%}
    {%- set a = "(" ~ upper1 ~ " - " ~ p1 ~ ")" -%}
    {%- set b = "(" ~ p2 ~ " - " ~ lower2 ~ ")" -%}
    (({{ p1 }} - {{ p2 }}) + sqrt({{ a }} * {{ a }} + {{ b }} * {{ b }}))
{%- endmacro %}
