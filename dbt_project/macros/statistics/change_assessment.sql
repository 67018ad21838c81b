{# change_assessment: not calculable where either rate ratio is; no clear change where the ratio of rate ratios'
   interval includes 1; otherwise narrowed where |ln RR comparison| < |ln RR baseline|, else widened. #}
{% macro change_assessment(rate_ratio_comparison, rate_ratio_baseline, ratio_lower, ratio_upper) -%}
    (case
        when {{ rate_ratio_comparison }} is null or {{ rate_ratio_baseline }} is null
            or {{ ratio_lower }} is null or {{ ratio_upper }} is null then 'not calculable'
        when {{ ratio_lower }} <= 1 and {{ ratio_upper }} >= 1 then 'no clear change'
        when abs(ln({{ rate_ratio_comparison }})) < abs(ln({{ rate_ratio_baseline }})) then 'narrowed'
        else 'widened'
    end)
{%- endmacro %}
