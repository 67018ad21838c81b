{# The gap's verdict from the rate ratio's interval: 'reference' on the reference row;
   'not calculable' where the interval is NULL; where it lies wholly above 1 'worse' if
   higher_is_better is false, 'better' if true, 'higher' if NULL; below 1 likewise 'better',
   'worse', 'lower'; otherwise 'no clear difference' (a collapsed (1, 1) included). #}
{% macro gap_assessment(ratio_lower, ratio_upper, higher_is_better, is_reference='false') -%}
    (case
        when coalesce({{ is_reference }}, false) then 'reference'
        when ({{ ratio_lower }}) is null or ({{ ratio_upper }}) is null then 'not calculable'
        when ({{ ratio_lower }}) > 1 and ({{ higher_is_better }}) is null then 'higher'
        when ({{ ratio_upper }}) < 1 and ({{ higher_is_better }}) is null then 'lower'
        when ({{ ratio_lower }}) > 1 then (case when {{ higher_is_better }} then 'better' else 'worse' end)
        when ({{ ratio_upper }}) < 1 then (case when {{ higher_is_better }} then 'worse' else 'better' end)
        else 'no clear difference'
    end)
{%- endmacro %}
