"""Confidence intervals for the gap metrics, written to match public reference implementations.

Every function is pure and vectorised: numbers, lists, numpy arrays or pandas Series (nullable
integer columns included) go in, numpy float arrays come out (0-d arrays for scalar input),
broadcast against each other. Nothing loops over rows.

Missing input (NaN, None, ``pd.NA``) gives NaN out. NaN also means "not calculable": a
denominator that is 0 or negative, a negative count, or (for proportions) a count above its
denominator.

Sources (numbers only, no code copied; see ``../shared/reference/SOURCES.md``):

* ``z_value``: PHEindicatormethods, ``z <- qnorm(confidence + (1 - confidence)/2)``.
* ``wilson_interval``: PHEindicatormethods ``wilson_lower``/``wilson_upper`` (used by
  ``phe_proportion``):
  lower ``(2x + z^2 - z*sqrt(z^2 + 4x(1 - x/n))) / 2 / (n + z^2)``, upper with ``+z``.
  At confidence 1 the limits are 0 and 1. Non-integer counts are allowed (PHE tests x = 0.445).
  For x = 0 the lower limit is set to exactly 0, and for x = n the upper limit to exactly 1.
  The formula gives these values too, apart from about 1e-17 of rounding error. Setting them
  keeps a 0 % rate from getting a lower limit of -1e-17.
* ``risk_ratio_log_interval``: Katz log method (statsmodels ``compare='ratio', method='log'``,
  scipy ``relative_risk``, epitools ``riskratio.wald``, contingencytables ``Katz_log_CI_2x2``):
  ``RR * exp(-/+ z * sqrt(1/x1 - 1/n1 + 1/x2 - 1/n2))``. If any count or denominator is 0,
  all three outputs are NaN ("not calculable"). This deliberately differs from scipy, which
  returns ``(0, nan)`` when x1 = 0 and ``(nan, inf)`` when x2 = 0. The warehouse spec says
  "not calculable", and no inf ever reaches a table. If the log standard error is 0
  (x1 = n1 and x2 = n2), the interval collapses to the estimate, even at confidence 1.
* ``newcombe_difference_interval``: Newcombe (1998) hybrid score interval, method 10
  (DescTools ``BinomDiffCI(method='score')``, contingencytables
  ``Newcombe_hybrid_score_CI_2x2``, ratesci ``moverci(type='wilson')``). It combines the two
  Wilson intervals above:
  ``L = D - sqrt((p1 - l1)^2 + (u2 - p2)^2)``, ``U = D + sqrt((u1 - p1)^2 + (p2 - l2)^2)``.
  Zero counts are fine; a denominator of 0 gives NaN.
* ``byar_poisson_interval``: PHEindicatormethods ``byars_lower``/``byars_upper``:
  ``x(1 - 1/(9x) - z/(3 sqrt x))^3``, and ``(x+1)(1 - 1/(9(x+1)) + z/(3 sqrt(x+1)))^3``.
  A negative lower limit becomes NaN, as PHE's NA does, and so does the lower limit at
  x = 0 (R computes 0 * -Inf there).
  Note that DescTools' "byar" is a different formula, with x + 0.5 in both limits.
* ``exact_poisson_interval``: ``qchisq((1-c)/2, 2x)/2`` and ``qchisq(c + (1-c)/2, 2x + 2)/2``.
  The lower limit is 0 at x = 0, as in R.
* ``rate_interval``: PHEindicatormethods ``phe_rate``. The value is ``x/n * multiplier``. The
  limits are the exact ones when x < 10 and Byar's otherwise, divided by n and times the
  multiplier. A count above the denominator is allowed, because n is person-time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

__all__ = [
    "as_float_array",
    "z_value",
    "wilson_interval",
    "proportion_interval",
    "risk_ratio_log_interval",
    "newcombe_difference_interval",
    "newcombe_combine",
    "byar_poisson_interval",
    "exact_poisson_interval",
    "rate_interval",
]

#: phe_rate switches from exact to Byar limits at this count.
EXACT_BELOW = 10


def as_float_array(values: Any) -> np.ndarray:
    """A float array; pandas NA / None become NaN."""
    if isinstance(values, np.ndarray) and values.dtype != object:
        return values.astype(float, copy=False)
    if hasattr(values, "to_numpy"):  # pandas Series / extension arrays (Int64, boolean, ...)
        return np.asarray(values.to_numpy(dtype=float, na_value=np.nan), dtype=float)
    arr = np.asarray(values, dtype=object)
    flat = pd.array(arr.ravel().tolist(), dtype="Float64")
    return flat.to_numpy(dtype=float, na_value=np.nan).reshape(arr.shape)


def _floats(*values: Any) -> list[np.ndarray]:
    """Several inputs as float arrays broadcast to one shape."""
    return np.broadcast_arrays(*(as_float_array(v) for v in values))


def _check_confidence(confidence: float) -> float:
    confidence = float(confidence)
    if not 0.0 <= confidence <= 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    return confidence


def z_value(confidence: float) -> float:
    """Two-sided standard normal quantile, ``qnorm(confidence + (1 - confidence)/2)``.

    It is 0 at confidence 0 and inf at confidence 1.
    """
    confidence = _check_confidence(confidence)
    return float(stats.norm.ppf(confidence + (1.0 - confidence) / 2.0))


def wilson_interval(x: Any, n: Any, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of the proportion x/n, as PHEindicatormethods computes it.

    It returns ``(lower, upper)`` on the proportion scale (0 to 1). The result is NaN where x
    or n is missing, n <= 0, x < 0 or x > n.
    """
    confidence = _check_confidence(confidence)
    x, n = _floats(x, n)
    valid = np.isfinite(x) & np.isfinite(n) & (n > 0) & (x >= 0) & (x <= n)
    if confidence == 1.0:
        lower = np.where(valid, 0.0, np.nan)
        upper = np.where(valid, 1.0, np.nan)
        return lower, upper
    z = z_value(confidence)
    z2 = z * z
    with np.errstate(divide="ignore", invalid="ignore"):
        root = z * np.sqrt(z2 + 4.0 * x * (1.0 - (x / n)))
        lower = (2.0 * x + z2 - root) / 2.0 / (n + z2)
        upper = (2.0 * x + z2 + root) / 2.0 / (n + z2)
    lower = np.where(valid & (x == 0), 0.0, lower)
    upper = np.where(valid & (x == n), 1.0, upper)
    return np.where(valid, lower, np.nan), np.where(valid, upper, np.nan)


def proportion_interval(
    x: Any, n: Any, multiplier: Any = 1, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``phe_proportion``: the value ``x/n * multiplier`` and its Wilson limits times the multiplier."""
    lower, upper = wilson_interval(x, n, confidence)
    x, n, mult = _floats(x, n, multiplier)
    valid = np.isfinite(lower)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(valid, x / n * mult, np.nan)
    return value, lower * mult, upper * mult


def risk_ratio_log_interval(
    x1: Any, n1: Any, x2: Any, n2: Any, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Risk ratio (x1/n1)/(x2/n2) with its Katz log interval.

    It returns ``(estimate, lower, upper)``. All three are NaN ("not calculable") where a count
    or a denominator is 0 or missing, or where a count exceeds its denominator.
    """
    confidence = _check_confidence(confidence)
    z = z_value(confidence)
    x1, n1, x2, n2 = _floats(x1, n1, x2, n2)
    valid = (
        np.isfinite(x1)
        & np.isfinite(n1)
        & np.isfinite(x2)
        & np.isfinite(n2)
        & (x1 > 0)
        & (x2 > 0)
        & (n1 > 0)
        & (n2 > 0)
        & (x1 <= n1)
        & (x2 <= n2)
    )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        estimate = (x1 / n1) / (x2 / n2)
        se = np.sqrt(1.0 / x1 - 1.0 / n1 + 1.0 / x2 - 1.0 / n2)
        # x <= n makes the variance >= 0 mathematically; rounding can leave -1e-17.
        se = np.where(np.isnan(se) & valid, 0.0, se)
        half = np.where(se == 0.0, 0.0, z * se)  # avoids inf * 0 at confidence 1
        lower = estimate * np.exp(-half)
        upper = estimate * np.exp(half)
    nan = np.nan
    return np.where(valid, estimate, nan), np.where(valid, lower, nan), np.where(valid, upper, nan)


def newcombe_difference_interval(
    x1: Any, n1: Any, x2: Any, n2: Any, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Risk difference x1/n1 - x2/n2 with Newcombe's hybrid score interval (method 10).

    It returns ``(estimate, lower, upper)`` on the proportion scale. The result is NaN where
    either Wilson interval is NaN (missing input, a denominator <= 0, a count outside 0..n).
    """
    l1, u1 = wilson_interval(x1, n1, confidence)
    l2, u2 = wilson_interval(x2, n2, confidence)
    x1, n1, x2, n2 = _floats(x1, n1, x2, n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1 = x1 / n1
        p2 = x2 / n2
    return newcombe_combine(p1, l1, u1, p2, l2, u2)


def newcombe_combine(p1: Any, l1: Any, u1: Any, p2: Any, l2: Any, u2: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Newcombe's square-and-add step: two proportions and their Wilson limits give the difference.

    ``newcombe_difference_interval`` is built on this. It is also public, so that a caller that
    already holds both Wilson intervals need not compute them again. The result is NaN wherever
    an input is NaN.
    """
    p1, l1, u1, p2, l2, u2 = (np.asarray(a, dtype=float) for a in (p1, l1, u1, p2, l2, u2))
    valid = np.isfinite(p1) & np.isfinite(l1) & np.isfinite(u1) & np.isfinite(p2) & np.isfinite(l2) & np.isfinite(u2)
    with np.errstate(invalid="ignore"):
        d = p1 - p2
        lower = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
        upper = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    nan = np.nan
    return np.where(valid, d, nan), np.where(valid, lower, nan), np.where(valid, upper, nan)


def byar_poisson_interval(x: Any, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Byar's approximate Poisson limits for a count x (PHE ``byars_lower``/``byars_upper``).

    The lower limit is NaN where the formula gives a negative value, or where x = 0.
    """
    confidence = _check_confidence(confidence)
    z = z_value(confidence)
    x = as_float_array(x)
    valid = np.isfinite(x) & (x >= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = x * (1.0 - 1.0 / (9.0 * x) - z / (3.0 * np.sqrt(x))) ** 3
        upper = (x + 1.0) * (1.0 - 1.0 / (9.0 * (x + 1.0)) + z / (3.0 * np.sqrt(x + 1.0))) ** 3
    lower = np.where(valid & (x > 0) & (lower >= 0), lower, np.nan)
    upper = np.where(valid, upper, np.nan)
    return lower, upper


def exact_poisson_interval(x: Any, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (chi-square) Poisson limits for a count x, as PHE's ``phe_rate`` uses when x < 10."""
    confidence = _check_confidence(confidence)
    x = as_float_array(x)
    valid = np.isfinite(x) & (x >= 0)
    alpha_low = (1.0 - confidence) / 2.0
    alpha_high = confidence + (1.0 - confidence) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        # qchisq(p, 2x)/2 is the gamma(x) quantile, gammaincinv(x, p); at x = 0 R's qchisq gives 0.
        safe_x = np.where(valid & (x > 0), x, 1.0)
        lower = np.where(x > 0, special.gammaincinv(safe_x, alpha_low), 0.0)
        upper = special.gammaincinv(np.where(valid, x, 0.0) + 1.0, alpha_high)
    return np.where(valid, lower, np.nan), np.where(valid, upper, np.nan)


def rate_interval(
    x: Any, n: Any, multiplier: Any = 1, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crude rate per person-time, as PHE's ``phe_rate`` computes it.

    It returns ``(value, lower, upper)``: the value is ``x/n * multiplier``, with exact limits
    when x < 10 and Byar limits otherwise. The result is NaN where x or n is missing, n <= 0,
    or x < 0.
    """
    x, n, mult = _floats(x, n, multiplier)
    valid = np.isfinite(x) & np.isfinite(n) & np.isfinite(mult) & (n > 0) & (x >= 0)
    e_low, e_high = exact_poisson_interval(x, confidence)
    b_low, b_high = byar_poisson_interval(x, confidence)
    exact = x < EXACT_BELOW
    with np.errstate(divide="ignore", invalid="ignore"):
        value = x / n * mult
        lower = np.where(exact, e_low, b_low) / n * mult
        upper = np.where(exact, e_high, b_high) / n * mult
    nan = np.nan
    return np.where(valid, value, nan), np.where(valid, lower, nan), np.where(valid, upper, nan)
