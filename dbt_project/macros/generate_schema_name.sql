{# Use the folder's schema as written (staging, intermediate, marts, reference), not <target>_<schema>:
   the published schema is called `marts` in the interface. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
