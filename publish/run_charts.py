"""Run charts and SPC for the monthly improvement reports.

Everything here is a pure function of numpy arrays or pandas frames. The numbers are meant to be exactly what the two
R packages the maternity teams use would print:

* **qicharts2** (Anhøj, v0.8.1, `R/helper.functions.R`): runs analysis (Anhøj rules) and the centre and control lines
  of `qic()` for the run, i, mr, xbar, s, t, p, c and u charts, including `freeze`, `part`, `exclude` and
  `multiply`. `qic.screenedmr` is TRUE, as `.onAttach` sets it.
* **NHSRplotthedots** (NHS "Making Data Count", `R/ptd_spc_standard.R` and `R/ptd_calculate_point_type.R`): the XmR
  mean, process limits and near limits, outlier screening of moving ranges, `fix_after_n_points`, the four
  special-cause rules in their precedence order, and `point_type`.
* **IHI run-chart rules** (Perla, Provost & Murray 2011, BMJ Qual Saf 20:46-51) around the median: shift, trend and
  astronomical point. See `ihi_*` for how we operationalise each one.

`build_run_chart_points` applies all three to every (site, measure, series type, ethnic group) series of the
warehouse at once, on 2-D arrays (series x month), so ~30,000 series x 60 months take a few seconds. The 1-D functions
are literal ports used by the peer tests; the test suite checks that the vectorised engine agrees with them.

Conventions for `build_run_chart_points` (the choices the peers leave to us):

* **Missing months** (value NaN) are left out of every calculation, as both packages leave out NA values. The rules
  then run on the months that have data, so a run or trend may continue across a gap. Missing months still get an
  output row, with NaN value, False flags and no point type. `n_obs` counts them, as qicharts2's `n.obs` counts NA
  points.
* **Baseline** (it fixes the median, the XmR mean and limits and the astronomical-point limits): the months before
  `baseline_end` (the programme start) that have a value. If there are fewer than `min_baseline_points` of these, we
  use the first `min_baseline_points` months that have a value instead (or all of them, if there are fewer). If
  `baseline_end` is None, every month with a value is the baseline, which is qicharts2's default when there is no
  `freeze`. The baseline always has at least 2 points when the series has 2, so the limits are never NaN.
  `baseline_rule` records which rule applied.
* Anhøj runs analysis and the IHI rules use the median of the baseline as the centre line. They are applied to the
  whole series, like `qic(..., chart = 'run', freeze = n_baseline)`. The XmR chart uses
  `ptd_spc(..., fix_after_n_points = n_baseline, screen_outliers = TRUE)`, with the improvement direction taken from
  `higher_is_better`: True is 'increase', False is 'decrease', NA is 'neutral'.
* A deviation from PTD: if every baseline moving range is 0 (a flat baseline), PTD's screening drops all of them and
  returns NaN limits. We keep the average moving range at 0, so the limits equal the mean.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from datetime import date
from functools import cache, lru_cache

import numpy as np
import pandas as pd

__all__ = [
    "anhoej_limits",
    "runs_analysis",
    "qic",
    "xmr_limits",
    "ptd_seven_point_one_side_mean",
    "ptd_part_of_seven_trend",
    "ptd_seven_point_trend",
    "ptd_two_in_three",
    "ptd_part_of_two_in_three",
    "ptd_special_cause_type",
    "ptd_point_type",
    "ptd_spc",
    "ihi_shift",
    "ihi_trend",
    "ihi_astronomical",
    "build_run_chart_points",
    "SERIES_KEYS",
    "POINT_COLUMNS",
]

# --------------------------------------------------------------------------------------------------------------------
# Anhøj rules (qicharts2 runs.analysis / crsignal)
# --------------------------------------------------------------------------------------------------------------------


@cache
def _qbinom_05_half(size: int) -> int:
    """R `qbinom(0.05, size, 0.5)`, computed exactly.

    This is the smallest k with P(X <= k) >= 0.05, found with integer arithmetic:
    sum_{i<=k} C(size, i) * 20 >= 2**size. An exact tie is impossible, because 5 does not divide a power of 2, so R's
    fuzz factor cannot change the answer.
    """
    if size <= 0:
        return 0
    total = 1 << size
    cum = 0
    c = 1
    for k in range(size + 1):
        cum += c
        if cum * 20 >= total:
            return k
        c = c * (size - k) // (k + 1)
    return size  # pragma: no cover - unreachable


def _longest_run_max(n_useful: int) -> int:
    # R round() is half-to-even. log2(n) + 0.5 is never an integer for integer n (it would need n = 2**(k + 1/2)), so
    # ties cannot occur and Python's round() agrees.
    return int(round(math.log2(n_useful))) + 3


def anhoej_limits(n_useful: int) -> tuple[int, int]:
    """(longest_run_max, n_crossings_min) for `n_useful` useful points, as in qicharts2.

    longest_run_max = round(log2(n)) + 3 (Schilling 2012); n_crossings_min = qbinom(0.05, n - 1, 0.5) (Chen 2010).
    """
    n = int(n_useful)
    if n < 1:
        raise ValueError("n_useful must be >= 1")
    return _longest_run_max(n), _qbinom_05_half(max(n - 1, 0))


@lru_cache(maxsize=8)
def _limit_tables(max_n: int) -> tuple[np.ndarray, np.ndarray]:
    lr = np.zeros(max_n + 1, dtype=np.int64)
    cr = np.zeros(max_n + 1, dtype=np.int64)
    for n in range(1, max_n + 1):
        lr[n], cr[n] = anhoej_limits(n)
    return lr, cr


def runs_analysis(y: Sequence[float], centre: float | Sequence[float]) -> dict:
    """Anhøj runs analysis of `y` around `centre`, as in qicharts2's `runs.analysis` with `method = 'anhoej'`.

    Points that are NaN or exactly on the centre line are not useful: they neither count in a run nor break one.
    `n_obs` is len(y), including NaN points (qicharts2 counts them). If there are no useful points, the run and
    crossing fields are None and `runs_signal` is False.
    """
    y = np.asarray(y, dtype=float)
    cl = np.broadcast_to(np.asarray(centre, dtype=float), y.shape)
    s = np.sign(y - cl)
    s = s[(s != 0) & ~np.isnan(s)]
    n_useful = int(s.size)
    out = dict(n_obs=int(y.size), n_useful=n_useful)
    if n_useful == 0:
        out.update(longest_run=None, longest_run_max=None, n_crossings=None, n_crossings_min=None, runs_signal=False)
        return out
    change = np.flatnonzero(s[1:] != s[:-1]) + 1
    bounds = np.concatenate(([0], change, [n_useful]))
    lengths = np.diff(bounds)
    longest = int(lengths.max())
    crossings = max(int(lengths.size) - 1, 0)
    lr_max, cr_min = anhoej_limits(n_useful)
    out.update(
        longest_run=longest,
        longest_run_max=lr_max,
        n_crossings=crossings,
        n_crossings_min=cr_min,
        runs_signal=bool(longest > lr_max or crossings < cr_min),
    )
    return out


# --------------------------------------------------------------------------------------------------------------------
# qicharts2 qic(): centre and control lines
# --------------------------------------------------------------------------------------------------------------------

QIC_CHARTS = ("run", "i", "mr", "xbar", "s", "t", "p", "c", "u")


def _nanmean(a: np.ndarray) -> float:
    a = np.asarray(a, dtype=float)
    a = a[~np.isnan(a)]
    return float(a.mean()) if a.size else math.nan


def _c4(n: np.ndarray) -> np.ndarray:
    from scipy.special import gammaln

    n = np.asarray(n, dtype=float).copy()
    n[n <= 1] = np.nan
    with np.errstate(invalid="ignore"):
        return np.sqrt(2 / (n - 1)) * np.exp(gammaln(n / 2) - gammaln((n - 1) / 2))


def _qic_part(d: pd.DataFrame, chart: str) -> pd.DataFrame:
    """One facet x part of qic(): compute cl/lcl/ucl in place (qicharts2 `qic.<chart>`)."""
    base = (d["baseline"] & d["include"]).to_numpy()
    y = d["y"].to_numpy(dtype=float)
    n = d["n"].to_numpy(dtype=float)
    nrow = len(d)

    def i_limits(yv: np.ndarray) -> tuple[float, float]:
        cl = _nanmean(yv[base])
        mr = np.abs(np.diff(yv[base] - cl))
        amr = _nanmean(mr)
        # qic.screenedmr = TRUE (set by .onAttach): drop moving ranges >= 3.267 * amr (Nelson 1982).
        with np.errstate(invalid="ignore"):
            mr = mr[mr < 3.267 * amr]
        amr = _nanmean(mr)
        return cl, amr / 1.128

    if chart == "run":
        cl = np.nanmedian(y[base]) if np.any(~np.isnan(y[base])) else math.nan
        d["cl"] = cl
        d["lcl"] = math.nan
        d["ucl"] = math.nan
    elif chart == "i":
        cl, sd = i_limits(y)
        d["cl"], d["lcl"], d["ucl"] = cl, cl - 3 * sd, cl + 3 * sd
    elif chart == "t":
        if np.nanmin(y) <= 0:
            raise ValueError("Time between events must be greater than zero")
        yt = y ** (1 / 3.6)
        cl, sd = i_limits(yt)
        with np.errstate(invalid="ignore"):
            lcl = float(np.power(np.float64(cl - 3 * sd), 3.6))  # NaN (not complex) if negative
        if lcl < 0 or np.isnan(lcl):
            lcl = 0.0
        d["y"] = yt**3.6  # qicharts2 back-transforms y too
        d["cl"], d["lcl"], d["ucl"] = cl**3.6, lcl, (cl + 3 * sd) ** 3.6
    elif chart == "mr":
        ymr = np.concatenate(([math.nan], np.abs(np.diff(y))))
        d["y"] = ymr
        cl = _nanmean(ymr[base])
        d["cl"], d["lcl"], d["ucl"] = cl, 0.0, 3.267 * cl
    elif chart in ("xbar", "s"):
        ylen = d["y_length"].to_numpy(dtype=float)
        ymean = d["y_mean"].to_numpy(dtype=float)
        ysd = d["y_sd"].to_numpy(dtype=float)
        var_n = np.unique(ylen).size > 1
        if var_n:
            # Montgomery 6.31. As in R, sum(y.length[base] - 1) is not NA-filtered: an all-NA subgroup adds -1.
            num = np.nansum((ylen[base] - 1) * ysd[base] ** 2)
            den = np.sum(ylen[base] - 1)
            stdev = math.sqrt(num / den)
        else:
            stdev = _nanmean(ysd[base])
        c4 = _c4(ylen)
        if chart == "xbar":
            cl = np.nansum(ylen[base] * ymean[base]) / np.nansum(ylen[base])
            with np.errstate(invalid="ignore", divide="ignore"):
                a3 = 3 / (c4 * np.sqrt(ylen))
            d["cl"], d["lcl"], d["ucl"] = cl, cl - a3 * stdev, cl + a3 * stdev
        else:
            d["y"] = ysd
            cl = stdev
            with np.errstate(invalid="ignore"):
                c5 = np.sqrt(1 - c4**2)
                b3 = np.fmax(0, 1 - 3 * c5 / c4)  # pmax(0, NA) is NA in R: keep NaN where c4 is NaN
                b3[np.isnan(c4)] = np.nan
                b4 = 1 + 3 * c5 / c4
            d["cl"], d["lcl"], d["ucl"] = cl, b3 * cl, b4 * cl
    elif chart in ("p", "u"):
        ysum = d["y_sum"].to_numpy(dtype=float)
        cl = np.nansum(ysum[base]) / np.nansum(n[base])
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.sqrt(cl * (1 - cl) / n) if chart == "p" else np.sqrt(cl / n)
        ucl, lcl = cl + 3 * sd, cl - 3 * sd
        if chart == "p":
            ucl = np.where((ucl > 1) & np.isfinite(ucl), 1.0, ucl)
        lcl = np.where((lcl < 0) & np.isfinite(lcl), 0.0, lcl)
        d["cl"], d["lcl"], d["ucl"] = cl, lcl, ucl
    elif chart == "c":
        d["y"] = d["y_sum"]
        yc = d["y"].to_numpy(dtype=float)
        cl = _nanmean(yc[base])
        sd = math.sqrt(cl) if cl >= 0 else math.nan
        lcl = cl - 3 * sd
        d["cl"], d["lcl"], d["ucl"] = cl, (0.0 if lcl < 0 else lcl), cl + 3 * sd
    else:  # pragma: no cover - guarded by qic()
        raise ValueError(chart)
    assert len(d) == nrow
    return d


def qic(
    y: Sequence[float],
    n: Sequence[float] | None = None,
    x: Sequence | None = None,
    chart: str = "run",
    freeze: int | None = None,
    part: Sequence[int] | int | None = None,
    exclude: Sequence[int] | None = None,
    multiply: float = 1,
    dots_only: bool = False,
) -> pd.DataFrame:
    """qicharts2 `qic()` for one facet: returns one row per subgroup, with qicharts2's columns (dots as underscores).

    * `x`: subgroup of each observation; observations sharing an x are aggregated as qic does. The default is one
      subgroup per observation. Subgroups are ordered by sorted x, as R's `split()` orders factor levels.
    * `n`: denominators. Given n, y per subgroup is sum(y)/sum(n), and incomplete (y, n) pairs are set to NA.
      Without n, y is the mean of the subgroup's observations.
    * `freeze`: number of leading subgroups that form the baseline. It is ignored when `part` is given, as in R.
    * `part`: break points, i.e. subgroup counts after which a new part starts (R's `part`).
    * `exclude`: **0-based** subgroup positions left out of the centre and limits and out of the runs analysis
      (R's `exclude` is 1-based).
    * `dots_only`: set True when R's x is a factor or character. The runs signal is then forced to FALSE.

    Output columns: x, y_sum, y_length, y_mean, y_sd, n, y, cl, lcl, ucl, part, baseline, include, sigma_signal,
    n_obs, n_useful, longest_run, longest_run_max, n_crossings, n_crossings_min, runs_signal.
    """
    if chart not in QIC_CHARTS:
        raise ValueError(f"chart must be one of {QIC_CHARTS}")
    yv = np.asarray(y, dtype=float)
    got_n = n is not None
    nv = np.asarray(n, dtype=float) if got_n else np.full(yv.shape, np.nan)
    xv = np.arange(1, yv.size + 1) if x is None else np.asarray(x)
    if got_n:
        bad = np.isnan(yv) | np.isnan(nv)
        yv = np.where(bad, np.nan, yv)
        nv = np.where(bad, np.nan, nv)
    raw = pd.DataFrame({"x": xv, "y": yv, "n": nv})
    raw = raw[pd.notna(raw["x"])]
    rows = []
    for xval, g in raw.groupby("x", sort=True):
        gy = g["y"].to_numpy()
        gn = g["n"].to_numpy()
        nn = gy[~np.isnan(gy)]
        y_sum = float(nn.sum()) if (gy.size > 1 or nn.size == gy.size) else math.nan
        y_len = int(nn.size)
        y_mean = float(nn.mean()) if nn.size else math.nan
        y_sd = float(nn.std(ddof=1)) if nn.size > 1 else math.nan
        if got_n:
            n_sum = float(np.nansum(gn))
            with np.errstate(invalid="ignore", divide="ignore"):
                yy = float(np.nansum(gy)) / n_sum if n_sum != 0 else (math.nan if np.nansum(gy) == 0 else math.inf)
        else:
            n_sum = float(gn.sum())  # sum(NA) = NA without na.rm
            yy = y_mean
        rows.append((xval, y_sum, y_len, y_mean, y_sd, n_sum, yy))
    d = pd.DataFrame(rows, columns=["x", "y_sum", "y_length", "y_mean", "y_sd", "n", "y"])
    nrow = len(d)
    breaks = sorted({0, *([part] if isinstance(part, (int, np.integer)) else (part or []))})
    breaks = [b for b in breaks if 0 <= b < nrow]
    part_ids = np.repeat(np.arange(1, len(breaks) + 1), np.diff(breaks + [nrow]))
    d["part"] = part_ids
    xx = np.arange(1, nrow + 1)
    frz = math.inf if (freeze is None or part is not None) else freeze
    d["baseline"] = xx <= frz
    excl = set(int(e) for e in (exclude or []))
    d["include"] = ~np.isin(np.arange(nrow), list(excl))
    pieces = []
    for _, dp in d.groupby("part", sort=True):
        dp = _qic_part(dp.copy(), chart)
        inc = dp["include"].to_numpy()
        ra = runs_analysis(dp["y"].to_numpy(dtype=float)[inc], dp["cl"].to_numpy(dtype=float)[inc])
        for k, v in ra.items():
            dp[k] = v
        pieces.append(dp)
    d = pd.concat(pieces, ignore_index=True)
    for col in ("y", "cl", "lcl", "ucl"):
        d[col] = d[col].astype(float) * multiply
    for col in ("lcl", "ucl"):
        d.loc[~np.isfinite(d[col].to_numpy(dtype=float)), col] = np.nan
    yy = d["y"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        d["sigma_signal"] = (yy > d["ucl"].to_numpy()) | (yy < d["lcl"].to_numpy())
    if dots_only or chart == "mr":
        d["runs_signal"] = False
    return d


# --------------------------------------------------------------------------------------------------------------------
# NHSRplotthedots (XmR, "Making Data Count")
# --------------------------------------------------------------------------------------------------------------------

PTD_LIMIT = 2.66
PTD_LIMIT_CLOSE = 2 * (PTD_LIMIT / 3)
PTD_MR_SCREEN = 3.267
_DIRECTIONS = {"increase": 1, "decrease": -1, "neutral": 0}


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


# special-cause type codes (rule that fired), in PTD precedence order
SC_NONE, SC_OUTSIDE, SC_TREND, SC_TWO_IN_THREE, SC_SEVEN_ONE_SIDE = 0, 1, 2, 3, 4
SPECIAL_CAUSE_RULES = {
    SC_NONE: None,
    SC_OUTSIDE: "outside_limits",
    SC_TREND: "seven_point_trend",
    SC_TWO_IN_THREE: "two_in_three",
    SC_SEVEN_ONE_SIDE: "seven_point_one_side",
}


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


# --------------------------------------------------------------------------------------------------------------------
# IHI run-chart rules (Perla, Provost & Murray 2011)
# --------------------------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------------------------
# Vectorised engine: 2-D arrays, one row per series, one column per month
# --------------------------------------------------------------------------------------------------------------------


def _compress(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, a permutation that puts the True positions first (order kept), and the count of True."""
    order = np.argsort(~mask, axis=1, kind="stable")
    return order, mask.sum(axis=1)


def _prefix_mask(count: np.ndarray, width: int) -> np.ndarray:
    return np.arange(width)[None, :] < count[:, None]


def _run_position_and_total(code: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each valid cell: 1-based position within its run and the total run length.

    A run is a maximal block of equal consecutive codes; invalid cells break runs. Invalid cells get 0.
    """
    S, T = code.shape
    if T == 0:
        z = np.zeros((S, 0), dtype=np.int64)
        return z, z
    idx = np.arange(T)
    start = valid.copy()
    start[:, 1:] &= (code[:, 1:] != code[:, :-1]) | ~valid[:, :-1]
    end = valid.copy()
    end[:, :-1] &= (code[:, :-1] != code[:, 1:]) | ~valid[:, 1:]
    st = np.maximum.accumulate(np.where(start, idx, -1), axis=1)
    en = np.minimum.accumulate(np.where(end, idx, T)[:, ::-1], axis=1)[:, ::-1]
    pos = np.where(valid, idx - st + 1, 0)
    tot = np.where(valid, en - st + 1, 0)
    return pos, tot


def _shift_left(a: np.ndarray, k: int, fill) -> np.ndarray:
    """out[:, j] = a[:, j + k] (fill beyond the end)."""
    out = np.full_like(a, fill)
    if k < a.shape[1]:
        out[:, : a.shape[1] - k] = a[:, k:]
    return out


def _shift_right(a: np.ndarray, k: int, fill) -> np.ndarray:
    """out[:, j] = a[:, j - k] (fill before the start)."""
    out = np.full_like(a, fill)
    if k < a.shape[1]:
        out[:, k:] = a[:, : a.shape[1] - k]
    return out


def _engine(Y: np.ndarray, n_base: np.ndarray, direction: np.ndarray) -> dict[str, np.ndarray]:
    """All statistics for compressed series.

    Y (S x T) holds each series' non-missing values first (NaN after). n_base is the baseline length (in points),
    direction is +1/-1/0. Returns per-series arrays (S,) and per-point arrays (S x T, compressed coordinates).
    """
    S, T = Y.shape
    k = (~np.isnan(Y)).sum(axis=1)
    valid = _prefix_mask(k, T)
    base = _prefix_mask(n_base, T)
    YB = np.where(base, Y, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.nanmedian(YB, axis=1) if T else np.full(S, np.nan)
        b_mean = np.nanmean(YB, axis=1) if T else np.full(S, np.nan)
        b_sd = np.nanstd(YB, axis=1, ddof=1) if T else np.full(S, np.nan)
    out: dict[str, np.ndarray] = {"centre": centre}

    # ---- Anhøj runs analysis and IHI shift: signs around the median, on-median points dropped
    with np.errstate(invalid="ignore"):
        sgn = np.sign(Y - centre[:, None])
    useful = valid & (sgn != 0) & ~np.isnan(sgn)
    order_u, n_useful = _compress(useful)
    su = np.take_along_axis(sgn, order_u, axis=1)
    vu = _prefix_mask(n_useful, T)
    su = np.where(vu, su, 0)
    pos_u, tot_u = _run_position_and_total(su, vu)
    n_runs = ((pos_u == 1) & vu).sum(axis=1)
    longest = tot_u.max(axis=1) if T else np.zeros(S, dtype=np.int64)
    crossings = np.maximum(n_runs - 1, 0)
    lr_tab, cr_tab = _limit_tables(max(int(n_useful.max()) if S else 1, 1))
    lr_max = lr_tab[n_useful]
    cr_min = cr_tab[n_useful]
    has_useful = n_useful > 0
    out.update(
        n_useful=n_useful,
        longest_run=longest,
        longest_run_max=lr_max,
        n_crossings=crossings,
        n_crossings_min=cr_min,
        has_useful=has_useful,
        runs_signal=has_useful & ((longest > lr_max) | (crossings < cr_min)),
    )
    shift_u = vu & (tot_u >= 6)
    shift = np.zeros((S, T), dtype=bool)
    np.put_along_axis(shift, order_u, shift_u, axis=1)
    out["ihi_shift"] = shift

    # ---- IHI trend: drop like values, then runs of 4+ same-signed steps (5+ points)
    prev = _shift_right(Y, 1, np.nan)
    keep = valid & ~(prev == Y)
    gid = np.cumsum(keep, axis=1) - 1
    order_k, m = _compress(keep)
    U = np.take_along_axis(Y, order_k, axis=1)
    with np.errstate(invalid="ignore"):
        steps = np.sign(_shift_left(U, 1, np.nan) - U)  # steps[:, j] = sign(U[j+1] - U[j])
    vs = _prefix_mask(np.maximum(m - 1, 0), T)
    steps = np.where(vs, steps, 0)
    _, tot_s = _run_position_and_total(steps, vs)
    in_trend = vs & (tot_s >= 4)
    flag_u = in_trend | _shift_right(in_trend, 1, False)
    trend = np.take_along_axis(flag_u, np.clip(gid, 0, T - 1) if T else gid, axis=1) & valid
    out["ihi_trend"] = trend

    # ---- IHI astronomical point
    with np.errstate(invalid="ignore"):
        astro = valid & (b_sd > 0)[:, None] & (np.abs(Y - b_mean[:, None]) > 3 * b_sd[:, None])
    out["ihi_astronomical"] = astro

    # ---- XmR (PTD)
    mean = b_mean
    mr = np.abs(Y - prev)
    mr_base = base & _shift_right(base, 1, False)  # moving range j uses points j-1 and j, both in the baseline
    mr = np.where(mr_base, mr, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        amr0 = np.nanmean(mr, axis=1) if T else np.full(S, np.nan)
        with np.errstate(invalid="ignore"):
            kept = np.where(mr < PTD_MR_SCREEN * amr0[:, None], mr, np.nan)
        amr1 = np.nanmean(kept, axis=1) if T else np.full(S, np.nan)
    amr = np.where(amr0 == 0, 0.0, amr1)
    lpl, upl = mean - PTD_LIMIT * amr, mean + PTD_LIMIT * amr
    nlpl, nupl = mean - PTD_LIMIT_CLOSE * amr, mean + PTD_LIMIT_CLOSE * amr
    with np.errstate(invalid="ignore"):
        outside = valid & ((upl[:, None] < Y) | (lpl[:, None] > Y))
        rtm = np.where(valid, np.sign(Y - mean[:, None]), 0.0)
        rtm = np.nan_to_num(rtm)
        close = valid & ~outside & ((nlpl[:, None] > Y) | (nupl[:, None] < Y))
    out.update(
        xmr_mean=mean,
        xmr_lpl=lpl,
        xmr_upl=upl,
        xmr_nlpl=nlpl,
        xmr_nupl=nupl,
        ptd_outside=outside,
        ptd_rtm=np.where(valid, rtm, np.nan),
        ptd_close=close,
    )

    # 7 points on one side of the mean (0 breaks), back-filled over the 7 points
    nz = valid & (rtm != 0)
    pos_r, _ = _run_position_and_total(np.where(nz, rtm, 0), nz)
    side7 = nz & (pos_r >= 7)
    p_side = side7.copy()
    for o in range(1, 7):
        p_side |= _shift_left(side7, o, False)
    p_side &= valid

    # 7-point trend (6 strict steps; ties break), back-filled
    with np.errstate(invalid="ignore"):
        st = np.sign(_shift_left(Y, 1, np.nan) - Y)  # st[:, j] = sign(Y[j+1] - Y[j])
    vst = _prefix_mask(np.maximum(k - 1, 0), T)
    stc = np.where(vst & (st != 0), st, 0)
    pos_t, _ = _run_position_and_total(stc, vst & (st != 0))
    trend_end = _shift_right(pos_t >= 6, 1, False)  # point j+1 ends 6 equal steps j-5..j
    p_trend = trend_end.copy()
    for o in range(1, 7):
        p_trend |= _shift_left(trend_end, o, False)
    p_trend &= valid

    # 2 of 3 close to the limits, all 3 on one side
    c = close.astype(np.int64)
    r = rtm.astype(np.int64)
    win = (c + _shift_left(c, 1, 0) + _shift_left(c, 2, 0) >= 2) & (
        np.abs(r + _shift_left(r, 1, 0) + _shift_left(r, 2, 0)) == 3
    )  # window starting at j
    two = win | _shift_right(win, 1, False) | _shift_right(win, 2, False)
    p_two = two & close

    # rule precedence and side
    sdy = st  # step to the right
    sdy_left = _shift_right(st, 1, np.nan)
    nxt = _shift_left(p_trend, 1, False)
    use_right = nxt & p_trend
    last_step = np.take_along_axis(st, np.clip(k - 2, 0, max(T - 1, 0))[:, None], axis=1) if T else st
    right = np.where(_prefix_mask(np.maximum(k - 1, 0), T), sdy, last_step)
    trend_side = np.where(use_right, right, np.nan_to_num(sdy_left))
    above = np.where(rtm > 0, 1.0, -1.0)
    code = np.select(
        [outside, p_trend, p_two, p_side],
        [SC_OUTSIDE, SC_TREND, SC_TWO_IN_THREE, SC_SEVEN_ONE_SIDE],
        SC_NONE,
    )
    side = np.select(
        [outside, p_trend, p_two | p_side],
        [np.where(rtm == 1, 1.0, -1.0), np.where(trend_side == 1, 1.0, -1.0), above],
        0.0,
    )
    side = np.where(valid, side, 0.0)
    code = np.where(valid, code, SC_NONE)
    v = side * direction[:, None]
    neutral = direction[:, None] == 0
    pt = np.where(
        neutral,
        np.where(side > 0, 3, np.where(side < 0, 4, 0)),
        np.where(v > 0, 1, np.where(v < 0, 2, 0)),
    )
    out.update(ptd_code=code, ptd_point_type=np.where(valid, pt, -1))
    return out


_POINT_TYPES = np.array(
    [
        "common_cause",
        "special_cause_improvement",
        "special_cause_concern",
        "special_cause_neutral_high",
        "special_cause_neutral_low",
    ],
    dtype=object,
)


def _labels(names: list, codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """String column from integer codes into `names` (None -> NA), without building 1.8M Python objects."""
    return pd.array(names, dtype="str").take(np.asarray(codes, dtype=np.int64))


SERIES_KEYS = ["geography_level", "site_code", "measure_code", "series_type", "ethnic_group"]

POINT_COLUMNS = [
    *SERIES_KEYS,
    "month_start_date",
    "value",
    "higher_is_better",
    "improvement_direction",
    "baseline_rule",
    "n_baseline",
    "is_baseline",
    "centre_line",
    "n_obs",
    "n_useful",
    "longest_run",
    "longest_run_max",
    "n_crossings",
    "n_crossings_min",
    "runs_signal",
    "ihi_shift",
    "ihi_trend",
    "ihi_astronomical",
    "xmr_mean",
    "xmr_lpl",
    "xmr_upl",
    "xmr_nlpl",
    "xmr_nupl",
    "ptd_outside_limits",
    "ptd_close_to_limits",
    "ptd_relative_to_mean",
    "ptd_special_cause_rule",
    "ptd_special_cause",
    "point_type",
]


def build_run_chart_points(
    series: pd.DataFrame, baseline_end: date | None, min_baseline_points: int = 12
) -> pd.DataFrame:
    """Per series x month: value, baseline median, Anhøj runs analysis, IHI flags, XmR limits and PTD point type.

    `series` has the SERIES_KEYS columns, month_start_date, value (float, NaN if no data that month) and
    higher_is_better (bool or NA; the first non-null value of each series is used). Returns one row per input row,
    with the POINT_COLUMNS columns, sorted by series (NA keys last) and month. month_start_date comes back as
    python dates if it came in as dates, else as datetime64. The baseline rules are in the module docstring. A
    series x month that appears twice is an error.
    """
    missing = [c for c in [*SERIES_KEYS, "month_start_date", "value", "higher_is_better"] if c not in series.columns]
    if missing:
        raise ValueError(f"series is missing columns {missing}")
    if min_baseline_points < 1:
        raise ValueError("min_baseline_points must be >= 1")
    df = series[[*SERIES_KEYS, "month_start_date", "value", "higher_is_better"]].copy()
    months_as_dates = not pd.api.types.is_datetime64_any_dtype(df["month_start_date"])
    df["month_start_date"] = pd.to_datetime(df["month_start_date"]).astype("datetime64[ns]")
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in POINT_COLUMNS})

    sid = df.groupby(SERIES_KEYS, sort=True, dropna=False).ngroup().to_numpy()
    months, mid = np.unique(df["month_start_date"].to_numpy(), return_inverse=True)
    S, T = int(sid.max()) + 1, months.size
    if pd.Index(sid * T + mid).has_duplicates:
        raise ValueError("series has more than one row for a series x month")
    V = np.full((S, T), np.nan)
    V[sid, mid] = pd.to_numeric(df["value"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    present = np.zeros((S, T), dtype=bool)
    present[sid, mid] = True
    valid0 = ~np.isnan(V)

    # improvement direction: first non-null higher_is_better per series
    hib = df["higher_is_better"].astype("boolean")
    first_hib = pd.Series(hib.to_numpy(), index=sid).dropna().groupby(level=0).first()
    hib_s = pd.array([pd.NA] * S, dtype="boolean")
    hib_s[first_hib.index.to_numpy()] = first_hib.to_numpy(dtype=bool)
    direction = np.where(hib_s.isna(), 0, np.where(hib_s.fillna(False).to_numpy(dtype=bool), 1, -1))

    # baseline length, in non-missing points
    k = valid0.sum(axis=1)
    if baseline_end is None:
        n_base = k.copy()
        rule = np.full(S, "all_points", dtype=object)
    else:
        pre = (valid0 & (months < np.datetime64(pd.Timestamp(baseline_end), "ns"))[None, :]).sum(axis=1)
        enough = pre >= min_baseline_points
        n_base = np.where(enough, pre, np.minimum(min_baseline_points, k))
        rule = np.where(enough, "pre_programme", "first_n_points").astype(object)
    n_base = np.where(k >= 2, np.maximum(n_base, 2), n_base)

    order0, _ = _compress(valid0)
    Y = np.take_along_axis(V, order0, axis=1)
    res = _engine(Y, n_base, direction.astype(float))

    def back(a: np.ndarray, fill) -> np.ndarray:
        o = np.full(a.shape, fill, dtype=a.dtype)
        np.put_along_axis(o, order0, a, axis=1)
        return o

    isb_c = _prefix_mask(n_base, T) & _prefix_mask(k, T)
    per_point = {
        "is_baseline": back(isb_c, False),
        "ihi_shift": back(res["ihi_shift"], False),
        "ihi_trend": back(res["ihi_trend"], False),
        "ihi_astronomical": back(res["ihi_astronomical"], False),
        "ptd_outside_limits": back(res["ptd_outside"], False),
        "ptd_close_to_limits": back(res["ptd_close"], False),
        "ptd_relative_to_mean": back(res["ptd_rtm"], np.nan),
        "ptd_code": back(res["ptd_code"], SC_NONE),
        "ptd_pt": back(res["ptd_point_type"], -1),
    }

    # flatten to the present cells, ordered by series then month
    rows_s, rows_t = np.nonzero(present)
    out = pd.DataFrame(index=np.arange(rows_s.size))
    keys = df.drop_duplicates(subset=SERIES_KEYS).copy()
    keys["_sid"] = keys.groupby(SERIES_KEYS, sort=True, dropna=False).ngroup()
    keys = keys.set_index("_sid").sort_index()
    for c in SERIES_KEYS:
        out[c] = keys[c].array.take(rows_s)  # keeps the input dtype; fast for arrow-backed strings
    out["month_start_date"] = months[rows_t]
    if months_as_dates:  # python dates in (as run_chart_series gives), python dates out
        out["month_start_date"] = pd.to_datetime(out["month_start_date"]).dt.date
    out["value"] = V[rows_s, rows_t]
    out["higher_is_better"] = hib_s[rows_s]
    out["improvement_direction"] = _labels(["decrease", "neutral", "increase"], direction[rows_s] + 1)
    rule_codes = {"pre_programme": 0, "first_n_points": 1, "all_points": 2}
    out["baseline_rule"] = _labels(list(rule_codes), np.array([rule_codes[r] for r in rule], dtype=np.int64)[rows_s])
    out["n_baseline"] = np.minimum(n_base, k)[rows_s]
    out["is_baseline"] = per_point["is_baseline"][rows_s, rows_t]
    out["centre_line"] = res["centre"][rows_s]
    out["n_obs"] = present.sum(axis=1)[rows_s]
    has = res["has_useful"][rows_s]
    out["n_useful"] = res["n_useful"][rows_s]
    for c in ("longest_run", "longest_run_max", "n_crossings", "n_crossings_min"):
        out[c] = pd.array(np.where(has, res[c][rows_s], 0), dtype="Int64")
        out.loc[~has, c] = pd.NA
    out["runs_signal"] = res["runs_signal"][rows_s]
    for c in ("ihi_shift", "ihi_trend", "ihi_astronomical"):
        out[c] = per_point[c][rows_s, rows_t]
    for c in ("xmr_mean", "xmr_lpl", "xmr_upl", "xmr_nlpl", "xmr_nupl"):
        out[c] = res[c][rows_s]
    out["ptd_outside_limits"] = per_point["ptd_outside_limits"][rows_s, rows_t]
    out["ptd_close_to_limits"] = per_point["ptd_close_to_limits"][rows_s, rows_t]
    out["ptd_relative_to_mean"] = per_point["ptd_relative_to_mean"][rows_s, rows_t]
    code = per_point["ptd_code"][rows_s, rows_t]
    out["ptd_special_cause_rule"] = _labels([SPECIAL_CAUSE_RULES[i] for i in range(5)], code)
    out["ptd_special_cause"] = code != SC_NONE
    pt = per_point["ptd_pt"][rows_s, rows_t]
    out["point_type"] = _labels([*_POINT_TYPES, None], np.where(pt >= 0, pt, len(_POINT_TYPES)))
    return out[POINT_COLUMNS]
