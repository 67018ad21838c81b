{# (a / n1) / (b / n2); NULL where not calculable (see rate_ratio_calculable). #}
{% macro rate_ratio(a, n1, b, n2) -%}
    (case
        when {{ rate_ratio_calculable(a, n1, b, n2) }}
            then (cast({{ a }} as double) / cast({{ n1 }} as double))
            / (cast({{ b }} as double) / cast({{ n2 }} as double))
    end)
{%- endmacro %}
