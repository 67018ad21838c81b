{# Two-sided p value of a standard normal statistic: P(|Z| >= |z|) = erfc(|z| / sqrt 2). DuckDB has no erf or
   normal CDF, so erfc(x) is computed exactly to double precision: for x < 2 as 1 - erf(x) with the series
   erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)) (positive terms, no cancellation;
   80 terms, Horner form); for x >= 2 with Laplace's continued fraction
   erfc(x) = exp(-x^2) / sqrt(pi) / (x + (1/2) / (x + (2/2) / (x + (3/2) / ...))) (200 terms, evaluated from the
   tail). Checked against scipy.stats.norm to 5e-16 absolute, 1.2e-13 relative (tests/test_gap_change.py).
   Pass a column, not an expression: it is repeated. #}
{% macro normal_two_sided_p_value(z) -%}
    (case
        when {{ z }} is null or isnan({{ z }}) then null
        when abs({{ z }}) / sqrt(2) < 2
            then 1 - 2 / sqrt(pi()) * exp(-({{ z }} * {{ z }}) / 2) * (abs({{ z }}) / sqrt(2)) * list_reduce(
                list_transform(range(80, 0, -1), lambda k: k::double),
                lambda h, k: 1 + ({{ z }} * {{ z }}) / (2 * k + 1) * h,
                1.0::double
            )
        else exp(-({{ z }} * {{ z }}) / 2) / sqrt(pi()) / list_reduce(
            list_transform(range(200, 0, -1), lambda k: k::double),
            lambda f, k: abs({{ z }}) / sqrt(2) + (k / 2) / f,
            abs({{ z }}) / sqrt(2)
        )
    end)
{%- endmacro %}
