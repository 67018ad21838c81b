{# Disclosure control of evaluation releases (README "Evaluation releases"; publish/disclosure.py explains the
   rules and what they do not protect against). The rule is the dbt var `disclosure_rule` (LAN_DISCLOSURE_RULE):
   `msds` (default) or `hes`. #}

{# The rule, checked: an unknown name fails the build rather than releasing unprotected counts. #}
{% macro disclosure_rule() -%}
    {%- set rule = var('disclosure_rule') | trim | lower -%}
    {%- if rule not in ('msds', 'hes') -%}
        {{ exceptions.raise_compiler_error("LAN_DISCLOSURE_RULE must be msds or hes, not '" ~ rule ~ "'") }}
    {%- endif -%}
    {{ rule }}
{%- endmacro %}

{# A count's working value, the one statistics are computed from: 0 stays 0; 1 to 7 becomes 5 (msds) or null
   (hes: the statistics that need it are withheld); anything else the nearest multiple of 5. #}
{% macro disclosure_count(x) -%}
    case
        when {{ x }} = 0 then 0
        when {{ x }} between 1 and 7 then {{ '5' if disclosure_rule() == 'msds' else 'null' }}
        else 5 * (({{ x }} + 2) // 5)
    end
{%- endmacro %}

{# A count as the release shows it, under both rules: a count from 1 to 7 is never shown (null in Parquet and in
   the partner's copy, `*` in CSV files); everything else is its working value (0 or a multiple of 5 from 10). #}
{% macro disclosure_shown_count(x) -%}
    case when {{ x }} between 1 and 7 then null else {{ disclosure_count(x) }} end
{%- endmacro %}

{# A count-like derived value (excess events, which can be negative and fractional) rounded to the nearest
   multiple of 5, halves away from zero. #}
{% macro round_to_five(x) -%}
    sign({{ x }}) * floor(abs({{ x }}) / 5 + 0.5) * 5 + 0.0
{%- endmacro %}

{# True where the count is from 1 to 7 and so not shown: the release writes `*` in CSV files there, and an empty
   field where the count itself was missing. The flag columns (<count>_hidden) stay in the release schema. #}
{% macro disclosure_hidden(x) -%}
    coalesce({{ x }} between 1 and 7, false)
{%- endmacro %}
