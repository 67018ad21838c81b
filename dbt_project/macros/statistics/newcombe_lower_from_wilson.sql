{# Newcombe's hybrid score lower limit (method 10) of p1 - p2 from the two Wilson intervals:
   (p1 - p2) - sqrt((p1 - l1)^2 + (u2 - p2)^2), where p1, lower1 are the group's proportion and lower Wilson
   limit and p2, upper2 the reference's proportion and upper Wilson limit. Pass columns: a model computes
   each Wilson limit once (gap_statistic_parts) and every part is repeated here. #}
{% macro newcombe_lower_from_wilson(p1, lower1, p2, upper2) -%}
    {%- set a = "(" ~ p1 ~ " - " ~ lower1 ~ ")" -%}
    {%- set b = "(" ~ upper2 ~ " - " ~ p2 ~ ")" -%}
    (({{ p1 }} - {{ p2 }}) - sqrt({{ a }} * {{ a }} + {{ b }} * {{ b }}))
{%- endmacro %}
