{# The parts every gap statistic is built from, computed once per row from four count columns (or SQL
   expressions), as a select list (no trailing comma): gap_own_proportion, gap_own_lower, gap_own_upper (the
   group's proportion and Wilson limits), gap_reference_proportion, gap_reference_lower, gap_reference_upper,
   gap_ratio_calculable, gap_rate_ratio, gap_rate_ratio_log_se and gap_excess_events. Select them in one CTE
   and gap_statistics in the next: the Newcombe limits, the ratio's bounds and the assessment then reuse
   these columns instead of repeating every formula inside each other. #}
{% macro gap_statistic_parts(numerator, denominator, reference_numerator, reference_denominator, z=none) -%}
    {%- set z = z if z is not none else z_95() -%}
    {%- set x1, n1, x2, n2 = numerator, denominator, reference_numerator, reference_denominator -%}
    {{ proportion(x1, n1) }} as gap_own_proportion,
    {{ wilson_lower(x1, n1, z) }} as gap_own_lower,
    {{ wilson_upper(x1, n1, z) }} as gap_own_upper,
    {{ proportion(x2, n2) }} as gap_reference_proportion,
    {{ wilson_lower(x2, n2, z) }} as gap_reference_lower,
    {{ wilson_upper(x2, n2, z) }} as gap_reference_upper,
    {{ rate_ratio_calculable(x1, n1, x2, n2) }} as gap_ratio_calculable,
    {{ rate_ratio(x1, n1, x2, n2) }} as gap_rate_ratio,
    {{ rate_ratio_log_se(x1, n1, x2, n2) }} as gap_rate_ratio_log_se,
    {{ excess_events(x1, n1, x2, n2) }} as gap_excess_events
{%- endmacro %}
