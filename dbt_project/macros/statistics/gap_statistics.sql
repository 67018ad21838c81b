{# Every statistic column of gap_metrics from seven input columns (or SQL expressions), as a
   comma-separated select list (no trailing comma):
   {prefix}rate, {prefix}rate_lower_{suffix}, {prefix}rate_upper_{suffix}, {prefix}reference_rate,
   {prefix}rate_ratio (+ _lower_/_upper_{suffix}), {prefix}rate_difference (+ _lower_/_upper_{suffix}),
   {prefix}excess_events, {prefix}gap_assessment.
   Rates and differences are in the measure's unit (x multiplier); ratio and difference intervals
   are NULL where the ratio is not calculable; the reference row gets ratio 1, difference 0, excess 0
   (NULL when its own rate is) and no intervals. #}
{% macro gap_statistics(
    numerator, denominator, reference_numerator, reference_denominator,
    multiplier, higher_is_better, is_reference, z=none, suffix='95', prefix=''
) -%}
    {%- set z = z if z is not none else z_95() -%}
    {%- set x1, n1, x2, n2 = numerator, denominator, reference_numerator, reference_denominator -%}
    {%- set mult = "cast(" ~ multiplier ~ " as double)" -%}
    {%- set is_ref = "coalesce(" ~ is_reference ~ ", false)" -%}
    {%- set calculable = rate_ratio_calculable(x1, n1, x2, n2) -%}
    {%- set own = proportion(x1, n1) -%}
    {%- set ratio_lower = rate_ratio_lower(x1, n1, x2, n2, z) -%}
    {%- set ratio_upper = rate_ratio_upper(x1, n1, x2, n2, z) -%}
    {{ own }} * {{ mult }} as {{ prefix }}rate,
    {{ wilson_lower(x1, n1, z) }} * {{ mult }} as {{ prefix }}rate_lower_{{ suffix }},
    {{ wilson_upper(x1, n1, z) }} * {{ mult }} as {{ prefix }}rate_upper_{{ suffix }},
    {{ proportion(x2, n2) }} * {{ mult }} as {{ prefix }}reference_rate,
    case
        when {{ is_ref }} then (case when {{ own }} is not null then cast(1 as double) end)
        else {{ rate_ratio(x1, n1, x2, n2) }}
    end as {{ prefix }}rate_ratio,
    case when not {{ is_ref }} then {{ ratio_lower }} end as {{ prefix }}rate_ratio_lower_{{ suffix }},
    case when not {{ is_ref }} then {{ ratio_upper }} end as {{ prefix }}rate_ratio_upper_{{ suffix }},
    case
        when {{ is_ref }} then (case when {{ own }} is not null then cast(0 as double) end)
        else {{ proportion_difference(x1, n1, x2, n2) }} * {{ mult }}
    end as {{ prefix }}rate_difference,
    case
        when not {{ is_ref }} and {{ calculable }}
            then {{ newcombe_difference_lower(x1, n1, x2, n2, z) }} * {{ mult }}
    end as {{ prefix }}rate_difference_lower_{{ suffix }},
    case
        when not {{ is_ref }} and {{ calculable }}
            then {{ newcombe_difference_upper(x1, n1, x2, n2, z) }} * {{ mult }}
    end as {{ prefix }}rate_difference_upper_{{ suffix }},
    case
        when {{ is_ref }} then (case when {{ own }} is not null then cast(0 as double) end)
        else {{ excess_events(x1, n1, x2, n2) }}
    end as {{ prefix }}excess_events,
    {{ gap_assessment(ratio_lower, ratio_upper, higher_is_better, is_ref) }} as {{ prefix }}gap_assessment
{%- endmacro %}
