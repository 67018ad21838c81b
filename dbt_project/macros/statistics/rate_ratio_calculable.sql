{# Whether the rate ratio of a / n1 to b / n2 and its log interval exist: every count and
   denominator present and > 0, and a <= n1, b <= n2. FALSE (never NULL) otherwise. #}
{% macro rate_ratio_calculable(a, n1, b, n2) -%}
    coalesce(
        ({{ a }}) > 0 and ({{ n1 }}) > 0 and ({{ b }}) > 0 and ({{ n2 }}) > 0
        and ({{ a }}) <= ({{ n1 }}) and ({{ b }}) <= ({{ n2 }}),
        false
    )
{%- endmacro %}
