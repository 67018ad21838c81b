{# A bound of a ratio from the standard error of its log (log method): estimate x exp(-/+ z x SE); side 'lower'
   or 'upper', z the normal quantile (default z_95()). NULL unless the estimate is positive. #}
{% macro log_scale_bound(estimate, log_se, side, z=none) -%}
    {%- set z = z if z is not none else z_95() -%}
    (case when {{ estimate }} > 0
        then {{ estimate }} * exp({{ '-' if side == 'lower' }}(({{ z }}) * {{ log_se }})) end)
{%- endmacro %}
