"""Test oracle: line-by-line ports of qicharts2 (Anhøj, v0.8.1, `R/helper.functions.R`).

`runs_analysis` (runs.analysis with method = 'anhoej') and `qic()` for the run, i, mr, xbar, s, t, p, c and u charts,
including `freeze`, `part`, `exclude` and `multiply`; `qic.screenedmr` is TRUE, as `.onAttach` sets it. Used only by
the tests: they check these ports against the peer rows in tests/peers/, then check the production engine
(`publish.run_charts`) against these ports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from publish.run_charts import anhoej_limits


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
