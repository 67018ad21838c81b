"""Test oracle: the IHI run-chart rules (Perla, Provost & Murray 2011, BMJ Qual Saf 20:46-51), one series at a time.

Production computes them vectorised (`publish.run_charts`); the tests check it against these plain 1-D versions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _runs_total(code: np.ndarray) -> np.ndarray:
    """Length of the maximal block of equal consecutive values that each position belongs to (1-D)."""
    if code.size == 0:
        return np.zeros(0, dtype=int)
    change = np.flatnonzero(code[1:] != code[:-1]) + 1
    bounds = np.concatenate(([0], change, [code.size]))
    return np.repeat(np.diff(bounds), np.diff(bounds))


def ihi_shift(y: Sequence[float], centre: float, min_points: int = 6) -> np.ndarray:
    """Shift: `min_points` (6) or more consecutive points on the same side of the median.

    Points exactly on the median, and NaN points, neither count towards a shift nor break it; they are never flagged.
    Every point of the shift is flagged.
    """
    y = np.asarray(y, dtype=float)
    s = np.sign(y - centre)
    useful = (s != 0) & ~np.isnan(s)
    out = np.zeros(y.size, dtype=bool)
    su = s[useful]
    out[useful] = _runs_total(su) >= min_points
    return out


def ihi_trend(y: Sequence[float], min_points: int = 5) -> np.ndarray:
    """Trend: `min_points` (5) or more consecutive points all going up or all going down.

    "Like values" (a point equal to the one before it) are ignored: they neither make nor break a trend. They are
    flagged along with the trend point they repeat. NaN points are skipped.
    """
    y = np.asarray(y, dtype=float)
    valid = ~np.isnan(y)
    yv = y[valid]
    out_v = np.zeros(yv.size, dtype=bool)
    if yv.size:
        keep = np.concatenate(([True], yv[1:] != yv[:-1]))
        gid = np.cumsum(keep) - 1
        u = yv[keep]
        if u.size >= 2:
            s = np.sign(np.diff(u))
            tot = _runs_total(s)
            in_trend = tot >= (min_points - 1)  # a trend of m points has m-1 steps
            flag_u = np.zeros(u.size, dtype=bool)
            flag_u[:-1] |= in_trend
            flag_u[1:] |= in_trend
            out_v = flag_u[gid]
    out = np.zeros(y.size, dtype=bool)
    out[valid] = out_v
    return out


def ihi_astronomical(y: Sequence[float], baseline: Sequence[bool], n_sd: float = 3.0) -> np.ndarray:
    """Astronomical point: outside the baseline mean ± 3 SD (sample SD, ddof = 1).

    IHI's rule is visual ("obviously, even blatantly, different"); these limits are our operationalisation. No point
    is flagged when the baseline SD is 0 or undefined (fewer than 2 baseline points).
    """
    y = np.asarray(y, dtype=float)
    b = y[np.asarray(baseline, dtype=bool)]
    b = b[~np.isnan(b)]
    if b.size < 2:
        return np.zeros(y.size, dtype=bool)
    m, sd = b.mean(), b.std(ddof=1)
    if not sd > 0:
        return np.zeros(y.size, dtype=bool)
    with np.errstate(invalid="ignore"):
        return np.abs(y - m) > n_sd * sd
