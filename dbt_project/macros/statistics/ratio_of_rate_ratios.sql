{# The ratio of two rate ratios (Altman and Bland, BMJ 2003;326:219): comparison / baseline. #}
{% macro ratio_of_rate_ratios(rate_ratio_comparison, rate_ratio_baseline) -%}
    ({{ rate_ratio_comparison }} / nullif({{ rate_ratio_baseline }}, 0))
{%- endmacro %}
