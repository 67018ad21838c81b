{# Upper limit of the rate ratio, log method: RR x exp(z x SE) (log_scale_bound). NULL where not calculable. #}
{% macro rate_ratio_upper(a, n1, b, n2, z=none) -%}
    {{ log_scale_bound(rate_ratio(a, n1, b, n2), rate_ratio_log_se(a, n1, b, n2), 'upper', z) }}
{%- endmacro %}
