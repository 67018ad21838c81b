{# Every statistic column of gap_metrics, as a comma-separated select list (no trailing comma), from the
   columns of gap_statistic_parts (selected in an earlier CTE, with the same z) and three more columns:
   {prefix}rate, {prefix}rate_lower_{suffix}, {prefix}rate_upper_{suffix}, {prefix}reference_rate,
   {prefix}rate_ratio (+ _lower_/_upper_{suffix}), {prefix}rate_difference (+ _lower_/_upper_{suffix}),
   {prefix}excess_events, {prefix}gap_assessment.
   Rates and differences are in the measure's unit (x multiplier); ratio and difference intervals
   are NULL where the ratio is not calculable; the reference row gets ratio 1, difference 0, excess 0
   (NULL when its own rate is) and no intervals. #}
{% macro gap_statistics(multiplier, higher_is_better, is_reference, z=none, suffix='95', prefix='') -%}
    {%- set ratio_lower = log_scale_bound('gap_rate_ratio', 'gap_rate_ratio_log_se', 'lower', z) -%}
    {%- set ratio_upper = log_scale_bound('gap_rate_ratio', 'gap_rate_ratio_log_se', 'upper', z) -%}
    {%- set mult = "cast(" ~ multiplier ~ " as double)" -%}
    {%- set is_ref = "coalesce(" ~ is_reference ~ ", false)" -%}
    {%- set own_is_known = "gap_own_proportion is not null" -%}
    gap_own_proportion * {{ mult }} as {{ prefix }}rate,
    gap_own_lower * {{ mult }} as {{ prefix }}rate_lower_{{ suffix }},
    gap_own_upper * {{ mult }} as {{ prefix }}rate_upper_{{ suffix }},
    gap_reference_proportion * {{ mult }} as {{ prefix }}reference_rate,
    case
        when {{ is_ref }} then (case when {{ own_is_known }} then cast(1 as double) end)
        else gap_rate_ratio
    end as {{ prefix }}rate_ratio,
    case when not {{ is_ref }} then {{ ratio_lower }} end as {{ prefix }}rate_ratio_lower_{{ suffix }},
    case when not {{ is_ref }} then {{ ratio_upper }} end as {{ prefix }}rate_ratio_upper_{{ suffix }},
    case
        when {{ is_ref }} then (case when {{ own_is_known }} then cast(0 as double) end)
        else (gap_own_proportion - gap_reference_proportion) * {{ mult }}
    end as {{ prefix }}rate_difference,
    case
        when not {{ is_ref }} and gap_ratio_calculable
            then {{ newcombe_lower_from_wilson(
                'gap_own_proportion', 'gap_own_lower', 'gap_reference_proportion', 'gap_reference_upper'
            ) }} * {{ mult }}
    end as {{ prefix }}rate_difference_lower_{{ suffix }},
    case
        when not {{ is_ref }} and gap_ratio_calculable
            then {{ newcombe_upper_from_wilson(
                'gap_own_proportion', 'gap_own_upper', 'gap_reference_proportion', 'gap_reference_lower'
            ) }} * {{ mult }}
    end as {{ prefix }}rate_difference_upper_{{ suffix }},
    case
        when {{ is_ref }} then (case when {{ own_is_known }} then cast(0 as double) end)
        else gap_excess_events
    end as {{ prefix }}excess_events,
    {{ gap_assessment(ratio_lower, ratio_upper, higher_is_better, is_ref) }}
        as {{ prefix }}gap_assessment
{%- endmacro %}
