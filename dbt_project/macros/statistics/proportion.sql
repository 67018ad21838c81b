{# x / n as a DOUBLE where a Wilson interval exists (n > 0, 0 <= x <= n); NULL otherwise. #}
{% macro proportion(x, n) -%}
    (case
        when ({{ n }}) > 0 and ({{ x }}) >= 0 and ({{ x }}) <= ({{ n }})
            then cast({{ x }} as double) / cast({{ n }} as double)
    end)
{%- endmacro %}
