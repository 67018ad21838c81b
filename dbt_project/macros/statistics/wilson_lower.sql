{# Lower Wilson score limit of x / n (PHEindicatormethods wilson_lower):
   (2x + z^2 - z sqrt(z^2 + 4x(1 - x/n))) / 2 / (n + z^2); exactly 0 at x = 0; NULL where
   n <= 0, x < 0, x > n or an input is NULL. #}
{% macro wilson_lower(x, n, z=none) -%}
    {%- set z = z if z is not none else z_95() -%}
    {%- set xd = "cast(" ~ x ~ " as double)" -%}
    {%- set nd = "cast(" ~ n ~ " as double)" -%}
    (case
        when not (({{ n }}) > 0 and ({{ x }}) >= 0 and ({{ x }}) <= ({{ n }})) then null
        when ({{ x }}) = 0 then cast(0 as double)
        else (
            cast(2 as double) * {{ xd }} + ({{ z }}) * ({{ z }})
            - ({{ z }}) * sqrt(({{ z }}) * ({{ z }}) + cast(4 as double) * {{ xd }} * (cast(1 as double) - ({{ xd }} / {{ nd }})))
        ) / cast(2 as double) / ({{ nd }} + ({{ z }}) * ({{ z }}))
    end)
{%- endmacro %}
