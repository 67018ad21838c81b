"""Test oracle: line-by-line ports of NHSRplotthedots (NHS "Making Data Count", `R/ptd_spc_standard.R` and
`R/ptd_calculate_point_type.R`): the XmR mean, process limits and near limits, outlier screening of moving ranges,
`fix_after_n_points`, the four special-cause rules in their precedence order, and `point_type`. Used only by tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from publish.run_charts import (
    PTD_LIMIT,
    PTD_LIMIT_CLOSE,
    PTD_MR_SCREEN,
    SC_NONE,
    SC_OUTSIDE,
    SC_SEVEN_ONE_SIDE,
    SC_TREND,
    SC_TWO_IN_THREE,
    SPECIAL_CAUSE_RULES,
)

_DIRECTIONS = {"increase": 1, "decrease": -1, "neutral": 0}


def _nanmean(a: np.ndarray) -> float:
    a = np.asarray(a, dtype=float)
    a = a[~np.isnan(a)]
    return float(a.mean()) if a.size else math.nan


def xmr_limits(
    y: Sequence[float], screen_outliers: bool = True, fix_after_n_points: int | None = None
) -> dict[str, float]:
    """PTD `ptd_spc_standard` for one group: mean, amr, lpl, upl, nlpl (near lower), nupl (near upper).

    The mean and the moving ranges use the first `fix_after_n_points` values (all values if None). NaN values are
    ignored (`na.rm = TRUE`), and a moving range next to a NaN is NaN. With `screen_outliers`, moving ranges
    >= 3.267 * amr are dropped and amr is recomputed. One deviation: if every moving range is 0, screening would drop
    them all and PTD would return NaN limits; we keep amr = 0.
    """
    y = np.asarray(y, dtype=float)
    fy = y if fix_after_n_points is None else y[: int(fix_after_n_points)]
    mean = _nanmean(fy)
    mr = np.abs(np.diff(fy))
    amr = _nanmean(mr)
    if screen_outliers and amr != 0:
        with np.errstate(invalid="ignore"):
            amr = _nanmean(mr[mr < PTD_MR_SCREEN * amr])
    return dict(
        mean=mean,
        amr=amr,
        lpl=mean - PTD_LIMIT * amr,
        upl=mean + PTD_LIMIT * amr,
        nlpl=mean - PTD_LIMIT_CLOSE * amr,
        nupl=mean + PTD_LIMIT_CLOSE * amr,
    )


def ptd_seven_point_one_side_mean(rtm: Sequence[float]) -> np.ndarray:
    """1 at the 7th and later consecutive points on the same side of the mean (a point on the mean, 0, breaks)."""
    v = np.asarray(rtm, dtype=float)
    vp = np.concatenate((np.zeros(6), v))
    return np.array([float(np.all(vp[i] == vp[i - 6 : i]) and vp[i] != 0) for i in range(6, vp.size)])


def ptd_part_of_seven_trend(v: Sequence[float]) -> np.ndarray:
    """1 where this point or one of the next 6 is flagged (+1 or -1): back-fills a 7-point rule onto all 7 points."""
    v = np.asarray(v, dtype=float)
    vp = np.concatenate((v, np.zeros(6)))
    return np.array([float(np.any(np.abs(vp[i : i + 7]) == 1)) for i in range(v.size)])


def ptd_seven_point_trend(y: Sequence[float]) -> np.ndarray:
    """+1/-1 at a point ending 7 points with 6 strictly increasing/decreasing steps; ties break a trend."""
    y = np.asarray(y, dtype=float)
    out = np.zeros(y.size)
    for i in range(6, y.size):
        d = np.sign(np.diff(y[i - 6 : i + 1]))
        if np.all(d == 1):
            out[i] = 1
        elif np.all(d == -1):
            out[i] = -1
    return out


def ptd_two_in_three(close: Sequence[float], rtm: Sequence[float]) -> np.ndarray:
    """1 for every point of a 3-point window with >= 2 points close to the limits and all 3 on one side of the mean."""
    v = np.asarray(close, dtype=float)
    r = np.asarray(rtm, dtype=float)
    if v.size == 0:
        return np.zeros(0)
    vp = np.concatenate(([0, 0], v, [0, 0]))
    rp = np.concatenate(([0, 0], r, [0, 0]))
    out = np.zeros(v.size)
    for i in range(v.size):
        out[i] = float(
            any(vp[i + a : i + a + 3].sum() >= 2 and abs(rp[i + a : i + a + 3].sum()) == 3 for a in range(3))
        )
    return out


def ptd_part_of_two_in_three(v: Sequence[float], close: Sequence[float]) -> np.ndarray:
    """Only the close-to-limit points of a 2-in-3 window are highlighted."""
    return ((np.asarray(v, dtype=float) == 1) & (np.abs(np.asarray(close, dtype=float)) == 1)).astype(float)


def ptd_special_cause_type(
    y: Sequence[float], rtm: Sequence[float], close: Sequence[float], outside: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """PTD `ptd_special_cause_type`: (rule code per point, side per point: +1 above/increasing, -1 below/decreasing).

    Precedence: outside the limits > 7-point trend > 2 in 3 close to the limits > 7 points on one side of the mean.
    The side of a trend point is the sign of its step to the right when the next point is also part of the trend,
    and otherwise the sign of its step from the left, as in PTD. For the other rules the side is +1 if the point is
    above the mean and -1 otherwise.
    """
    y = np.asarray(y, dtype=float)
    rtm = np.asarray(rtm, dtype=float)
    close = np.asarray(close, dtype=float)
    outside = np.asarray(outside, dtype=float)
    k = y.size
    p_trend = ptd_part_of_seven_trend(ptd_seven_point_trend(y))
    p_two = ptd_part_of_two_in_three(ptd_two_in_three(close, rtm), close)
    p_side = ptd_part_of_seven_trend(ptd_seven_point_one_side_mean(rtm))
    sdy = np.sign(np.diff(y))
    right = np.concatenate((sdy, sdy[-1:])) if k > 1 else np.zeros(k)
    left = np.concatenate(([0.0], sdy))
    nxt = np.concatenate((p_trend[1:], [0.0]))
    sdy_pt = np.where((nxt != 0) & (p_trend != 0), right, left)
    code = np.full(k, SC_NONE)
    side = np.zeros(k)
    above = np.where(rtm > 0, 1.0, -1.0)
    for i in range(k):
        if outside[i] != 0:
            code[i], side[i] = SC_OUTSIDE, (1.0 if rtm[i] == 1 else -1.0)
        elif p_trend[i] != 0:
            code[i], side[i] = SC_TREND, (1.0 if sdy_pt[i] == 1 else -1.0)
        elif p_two[i] != 0:
            code[i], side[i] = SC_TWO_IN_THREE, above[i]
        elif p_side[i] != 0:
            code[i], side[i] = SC_SEVEN_ONE_SIDE, above[i]
    return code, side


def ptd_point_type(side: np.ndarray, improvement_direction: str) -> np.ndarray:
    """PTD `ptd_point_type`: common_cause, special_cause_improvement/concern, or special_cause_neutral_high/low."""
    direction = _DIRECTIONS[improvement_direction]
    side = np.asarray(side, dtype=float)
    if direction == 0:
        return np.where(
            side > 0, "special_cause_neutral_high", np.where(side < 0, "special_cause_neutral_low", "common_cause")
        )
    v = side * direction
    return np.where(v > 0, "special_cause_improvement", np.where(v < 0, "special_cause_concern", "common_cause"))


def ptd_spc(
    y: Sequence[float],
    improvement_direction: str = "increase",
    screen_outliers: bool = True,
    fix_after_n_points: int | None = None,
) -> pd.DataFrame:
    """PTD `ptd_spc()` for one series with no gaps and no rebase: one row per point.

    Columns: y, mean, lpl, upl, nlpl, nupl, outside_limits, relative_to_mean, close_to_limits, special_cause_rule,
    special_cause_flag, point_type.
    """
    y = np.asarray(y, dtype=float)
    lim = xmr_limits(y, screen_outliers=screen_outliers, fix_after_n_points=fix_after_n_points)
    outside = (y > lim["upl"]) | (y < lim["lpl"])
    rtm = np.sign(y - lim["mean"])
    close = ~outside & ((y < lim["nlpl"]) | (y > lim["nupl"]))
    code, side = ptd_special_cause_type(y, rtm, close.astype(float), outside.astype(float))
    return pd.DataFrame(
        {
            "y": y,
            "mean": lim["mean"],
            "lpl": lim["lpl"],
            "upl": lim["upl"],
            "nlpl": lim["nlpl"],
            "nupl": lim["nupl"],
            "outside_limits": outside,
            "relative_to_mean": rtm,
            "close_to_limits": close,
            "special_cause_rule": [SPECIAL_CAUSE_RULES[c] for c in code],
            "special_cause_flag": code != SC_NONE,
            "point_type": ptd_point_type(side, improvement_direction),
        }
    )
