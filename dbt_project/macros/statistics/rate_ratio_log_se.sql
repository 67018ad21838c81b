{# Standard error of ln(rate ratio), Katz log method: sqrt(1/a - 1/n1 + 1/b - 1/n2). A variance
   that rounding leaves a hair below 0 (a = n1 and b = n2) counts as 0. NULL where not calculable. #}
{% macro rate_ratio_log_se(a, n1, b, n2) -%}
    (case
        when {{ rate_ratio_calculable(a, n1, b, n2) }}
            then sqrt(greatest(
                cast(0 as double),
                cast(1 as double) / cast({{ a }} as double) - cast(1 as double) / cast({{ n1 }} as double)
                + cast(1 as double) / cast({{ b }} as double) - cast(1 as double) / cast({{ n2 }} as double)
            ))
    end)
{%- endmacro %}
