{# A released count is never from 1 to 7 and is always 0 or a multiple of 5 (empty where not shown). #}
{% test disclosure_safe_count(model, column_name) %}

    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} between 1 and 7 or {{ column_name }} % 5 <> 0

{% endtest %}
