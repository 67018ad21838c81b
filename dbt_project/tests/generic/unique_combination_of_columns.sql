{# No two rows share the given columns (dbt_utils' unique_combination_of_columns, without the package:
   the machines are offline). #}
{% test unique_combination_of_columns(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
