{# A 95 % bound of a ratio from its log standard error: exp(ln estimate -/+ z * SE); side 'lower' or 'upper'.
   Null unless the estimate is positive. #}
{% macro log_scale_bound(estimate, log_se, side) -%}
    (case when {{ estimate }} > 0
        then exp(ln({{ estimate }}) {{ '-' if side == 'lower' else '+' }} {{ z_95() }} * {{ log_se }}) end)
{%- endmacro %}
