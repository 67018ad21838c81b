"""Run charts and SPC for the monthly improvement reports: the rules production applies, vectorised.

`build_run_chart_points` takes every (site, measure, series type, ethnic group) monthly series of the warehouse at once,
on 2-D arrays (series x month), so ~30,000 series x 60 months take a few seconds. Its numbers are meant to be exactly
what the R packages the maternity teams use would print; literal 1-D ports of those packages live in `tests/oracles/`
and the tests check this engine against them, and them against the peers' own rows (`tests/peers/`).

* **Run chart** (every series): centre line = median of the baseline; **Anhøj runs analysis** as qicharts2
  (longest run > round(log2(n_useful)) + 3, or crossings < qbinom(0.05, n_useful - 1, 0.5)); **IHI run-chart rules**
  (Perla, Provost & Murray 2011, BMJ Qual Saf 20:46-51): shift (6), trend (5) and astronomical point (beyond the
  baseline mean +- 3 SD, our reading of a visual rule).
* **Control limits, by chart type** (`chart_type`, `control_centre_line`, `lower_limit`, `upper_limit`):
  * `p` for a group's rate, a proportion whose denominator varies month to month (qicharts2's p chart): centre
    = sum(numerator) / sum(denominator) over the baseline, limits centre +- 3 sqrt(centre (1 - centre) / n_i) for each
    month's denominator n_i, clipped to [0, 1], times the measure's multiplier. A point outside is a special cause.
  * `xmr` for a gap (a rate difference, no denominator of its own): NHSRplotthedots' XmR chart ("Making Data Count"):
    mean, limits mean +- 2.66 x mean moving range (moving ranges screened at 3.267 x their mean), and its four
    special-cause rules in their precedence order, with `point_type` read through the measure's direction.
* **Too sparse for runs rules** (`signal_note`): a run chart says nothing when the baseline median is 0 (most months
  have no event, so every month with one is "above the median") or when there are fewer than 10 useful
  observations (points not on the median). Then no runs signal is raised: Anhøj runs, IHI shift and the "7 points on
  one side" rule are all off, and `signal_note` says why. The minimum follows Anhøj J, Olesen AV. Run charts
  revisited: a simulation study of run chart rules for detection of non-random variation in health care processes.
  PLoS One 2014;9(11):e113825, and Anhøj J. Diagnostic value of run chart analysis: using likelihood ratios to compare
  run chart rules on simulated data series. PLoS One 2015;10(3):e0121349: the rules' limits are only defined, and
  their false-signal rates only acceptable, from about 10 useful observations.

Conventions (the choices the peers leave to us):

* **Missing months** (value NaN) are left out of every calculation, as both packages leave out NA values. The rules
  then run on the months that have data, so a run or trend may continue across a gap. Missing months still get an
  output row, with NaN value, False flags and no point type. `n_obs` counts them, as qicharts2's `n.obs` counts NA
  points.
* **Baseline** (it fixes the median, the control limits and the astronomical-point limits): the months before
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
* A p chart whose baseline has no event (or only events) has no limits (they would be 0 wide): `lower_limit` and
  `upper_limit` are empty and `signal_note` says so.
"""

from __future__ import annotations

import math
import warnings
from datetime import date
from functools import cache, lru_cache

import numpy as np
import pandas as pd

__all__ = [
    "anhoej_limits",
    "p_chart_limits",
    "build_run_chart_points",
    "SERIES_KEYS",
    "POINT_COLUMNS",
    "MIN_USEFUL_OBSERVATIONS",
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


# --------------------------------------------------------------------------------------------------------------------
# NHSRplotthedots (XmR, "Making Data Count")
# --------------------------------------------------------------------------------------------------------------------

PTD_LIMIT = 2.66
PTD_LIMIT_CLOSE = 2 * (PTD_LIMIT / 3)
PTD_MR_SCREEN = 3.267
_DIRECTIONS = {"increase": 1, "decrease": -1, "neutral": 0}

# special-cause type codes (rule that fired), in PTD precedence order
SC_NONE, SC_OUTSIDE, SC_TREND, SC_TWO_IN_THREE, SC_SEVEN_ONE_SIDE = 0, 1, 2, 3, 4
SPECIAL_CAUSE_RULES = {
    SC_NONE: None,
    SC_OUTSIDE: "outside_limits",
    SC_TREND: "seven_point_trend",
    SC_TWO_IN_THREE: "two_in_three",
    SC_SEVEN_ONE_SIDE: "seven_point_one_side",
}


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
    "numerator",
    "denominator",
    "higher_is_better",
    "improvement_direction",
    "baseline_rule",
    "n_baseline",
    "is_baseline",
    "centre_line",
    "chart_type",
    "control_centre_line",
    "lower_limit",
    "upper_limit",
    "sigma_signal",
    "signal_note",
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


#: Anhøj & Olesen 2014 / Anhøj 2015: below this many useful observations (points not on the median) the runs rules
#: are not applied.
MIN_USEFUL_OBSERVATIONS = 10
CHART_TYPES = ("p", "xmr")


def p_chart_limits(
    numerator: np.ndarray, denominator: np.ndarray, baseline: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """qicharts2's p chart, row by row of 2-D arrays (series x month): (centre, lower, upper) as proportions.

    centre = sum(numerator) / sum(denominator) over the `baseline` cells of the row; for each month
    centre +- 3 sqrt(centre (1 - centre) / denominator), the lower clipped at 0 and the upper at 1. Months with no
    denominator (0 or NaN) get NaN limits. centre has shape (series,); the limits (series, month).
    """
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    base = np.asarray(baseline, dtype=bool) & (den > 0) & ~np.isnan(num)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = np.where(base, num, 0).sum(axis=1) / np.where(base, den, 0).sum(axis=1)
        sd = np.sqrt(centre[:, None] * (1 - centre[:, None]) / np.where(den > 0, den, np.nan))
    lower = np.maximum(centre[:, None] - 3 * sd, 0.0)
    upper = np.minimum(centre[:, None] + 3 * sd, 1.0)
    return centre, np.where(np.isnan(sd), np.nan, lower), np.where(np.isnan(sd), np.nan, upper)


def _sparse_notes(centre: np.ndarray, n_useful: np.ndarray, has_values: np.ndarray) -> np.ndarray:
    """Per series: why no runs signal is computed (None when the runs rules apply)."""
    notes = np.full(centre.shape, None, dtype=object)
    few = has_values & (n_useful < MIN_USEFUL_OBSERVATIONS)
    for i in np.flatnonzero(few):
        notes[i] = (
            f"Only {int(n_useful[i])} useful observations (months not on the median): the runs rules need at least "
            f"{MIN_USEFUL_OBSERVATIONS} (Anhøj & Olesen 2014), so no runs signal is computed."
        )
    notes[has_values & (centre == 0)] = (
        "Baseline median is 0 (most months have no event): a month with one event would count as a run above the "
        "median, so no runs signal is computed (Anhøj & Olesen 2014)."
    )
    notes[~has_values] = "No data."
    return notes


def build_run_chart_points(
    series: pd.DataFrame, baseline_end: date | None, min_baseline_points: int = 12, *, sparse_rule: bool = True
) -> pd.DataFrame:
    """Per series x month: value, baseline median, Anhøj runs analysis, IHI flags, control limits and point type.

    `series` has the SERIES_KEYS columns, month_start_date, value (float, NaN if no data that month) and
    higher_is_better (bool or NA; the first non-null value of each series is used). Optional columns: numerator,
    denominator, multiplier (default 1) and chart_type (`p` or `xmr`, default `xmr`; the first of each series is
    used). A `p` series needs numerator and denominator, and value = numerator / denominator x multiplier.
    Returns one row per input row, with the POINT_COLUMNS columns, sorted by series (NA keys last) and month.
    month_start_date comes back as python dates if it came in as dates, else as datetime64. The baseline rules are in
    the module docstring. A series x month that appears twice is an error. `sparse_rule=False` turns the sparse
    series rule off (the tests use it to compare with the plain peer algorithms).
    """
    missing = [c for c in [*SERIES_KEYS, "month_start_date", "value", "higher_is_better"] if c not in series.columns]
    if missing:
        raise ValueError(f"series is missing columns {missing}")
    if min_baseline_points < 1:
        raise ValueError("min_baseline_points must be >= 1")
    df = series[[*SERIES_KEYS, "month_start_date", "value", "higher_is_better"]].copy()
    for col, default in (("numerator", np.nan), ("denominator", np.nan), ("multiplier", 1.0), ("chart_type", "xmr")):
        df[col] = series[col] if col in series.columns else default
    bad_types = set(df["chart_type"].dropna()) - set(CHART_TYPES)
    if bad_types:
        raise ValueError(f"unknown chart_type {sorted(bad_types)}; expected one of {CHART_TYPES}")
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
    NUM = np.full((S, T), np.nan)
    NUM[sid, mid] = pd.to_numeric(df["numerator"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    DEN = np.full((S, T), np.nan)
    DEN[sid, mid] = pd.to_numeric(df["denominator"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    first = pd.DataFrame({"sid": sid, "chart_type": df["chart_type"].to_numpy(), "multiplier": df["multiplier"]})
    first = first.dropna().groupby("sid").first().reindex(np.arange(S))
    is_p = first["chart_type"].eq("p").to_numpy()
    multiplier = pd.to_numeric(first["multiplier"]).fillna(1.0).to_numpy(dtype=float)
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

    # p chart for the series that are proportions; the XmR limits stay for the others
    p_centre, p_lower, p_upper = p_chart_limits(NUM, DEN, per_point["is_baseline"] & valid0)
    p_degenerate = is_p & ~((p_centre > 0) & (p_centre < 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        prop = NUM / np.where(DEN > 0, DEN, np.nan)
        p_out = valid0 & ((prop > p_upper) | (prop < p_lower)) & ~p_degenerate[:, None]
    control_centre = np.where(is_p, p_centre * multiplier, res["xmr_mean"])
    lower = np.where(is_p[:, None], p_lower * multiplier[:, None], res["xmr_lpl"][:, None])
    upper = np.where(is_p[:, None], p_upper * multiplier[:, None], res["xmr_upl"][:, None])
    lower[p_degenerate] = np.nan
    upper[p_degenerate] = np.nan
    lower[~valid0] = np.nan
    upper[~valid0] = np.nan
    side = np.sign(np.nan_to_num(prop - p_centre[:, None]))
    p_code = np.where(p_out, SC_OUTSIDE, SC_NONE)
    direction_pt = direction[:, None].astype(float)
    p_pt = np.where(
        ~valid0,
        -1,
        np.where(
            ~p_out,
            0,
            np.where(
                direction_pt == 0,
                np.where(side > 0, 3, 4),
                np.where(side * direction_pt > 0, 1, 2),
            ),
        ),
    )
    xmr_out = back(res["ptd_outside"], False)
    sigma = np.where(is_p[:, None], p_out, xmr_out & valid0)
    per_point["ptd_outside_limits"] = np.where(is_p[:, None], p_out, per_point["ptd_outside_limits"])
    per_point["ptd_close_to_limits"] &= ~is_p[:, None]
    per_point["ptd_relative_to_mean"] = np.where(
        is_p[:, None], np.where(valid0, np.sign(prop - p_centre[:, None]), np.nan), per_point["ptd_relative_to_mean"]
    )
    per_point["ptd_code"] = np.where(is_p[:, None], p_code, per_point["ptd_code"])
    per_point["ptd_pt"] = np.where(is_p[:, None], p_pt, per_point["ptd_pt"])
    xmr_cols = {c: np.where(is_p, np.nan, res[c]) for c in ("xmr_mean", "xmr_lpl", "xmr_upl", "xmr_nlpl", "xmr_nupl")}

    # too sparse for the runs rules: no Anhøj, IHI shift or 7-on-one-side signal, and a note why
    notes = _sparse_notes(res["centre"], res["n_useful"], k > 0)
    if not sparse_rule:
        notes = np.where(k > 0, None, notes).astype(object)
    runs_off = pd.notna(notes)
    runs_signal = res["runs_signal"] & ~runs_off
    per_point["ihi_shift"] &= ~runs_off[:, None]
    one_side = runs_off[:, None] & (per_point["ptd_code"] == SC_SEVEN_ONE_SIDE)
    per_point["ptd_code"] = np.where(one_side, SC_NONE, per_point["ptd_code"])
    per_point["ptd_pt"] = np.where(one_side, 0, per_point["ptd_pt"])
    p_notes = np.where(
        p_degenerate & (k > 0),
        "No event in the baseline (or every case an event): no p-chart limits.",
        None,
    )
    notes = np.array(
        [" ".join(x for x in (a, b) if x) or None for a, b in zip(notes, p_notes)] if S else [], dtype=object
    )

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
    out["numerator"] = NUM[rows_s, rows_t]
    out["denominator"] = DEN[rows_s, rows_t]
    out["higher_is_better"] = hib_s[rows_s]
    out["improvement_direction"] = _labels(["decrease", "neutral", "increase"], direction[rows_s] + 1)
    rule_codes = {"pre_programme": 0, "first_n_points": 1, "all_points": 2}
    out["baseline_rule"] = _labels(list(rule_codes), np.array([rule_codes[r] for r in rule], dtype=np.int64)[rows_s])
    out["n_baseline"] = np.minimum(n_base, k)[rows_s]
    out["is_baseline"] = per_point["is_baseline"][rows_s, rows_t]
    out["centre_line"] = res["centre"][rows_s]
    out["chart_type"] = _labels(list(CHART_TYPES), np.where(is_p, 0, 1)[rows_s])
    out["control_centre_line"] = control_centre[rows_s]
    out["lower_limit"] = lower[rows_s, rows_t]
    out["upper_limit"] = upper[rows_s, rows_t]
    out["sigma_signal"] = sigma[rows_s, rows_t]
    out["signal_note"] = pd.array(notes[rows_s] if S else [], dtype="str")
    out["n_obs"] = present.sum(axis=1)[rows_s]
    has = res["has_useful"][rows_s]
    out["n_useful"] = res["n_useful"][rows_s]
    for c in ("longest_run", "longest_run_max", "n_crossings", "n_crossings_min"):
        out[c] = pd.array(np.where(has, res[c][rows_s], 0), dtype="Int64")
        out.loc[~has, c] = pd.NA
    out["runs_signal"] = runs_signal[rows_s]
    for c in ("ihi_shift", "ihi_trend", "ihi_astronomical"):
        out[c] = per_point[c][rows_s, rows_t]
    for c in ("xmr_mean", "xmr_lpl", "xmr_upl", "xmr_nlpl", "xmr_nupl"):
        out[c] = xmr_cols[c][rows_s]
    out["ptd_outside_limits"] = per_point["ptd_outside_limits"][rows_s, rows_t]
    out["ptd_close_to_limits"] = per_point["ptd_close_to_limits"][rows_s, rows_t]
    out["ptd_relative_to_mean"] = per_point["ptd_relative_to_mean"][rows_s, rows_t]
    code = per_point["ptd_code"][rows_s, rows_t]
    out["ptd_special_cause_rule"] = _labels([SPECIAL_CAUSE_RULES[i] for i in range(5)], code)
    out["ptd_special_cause"] = code != SC_NONE
    pt = per_point["ptd_pt"][rows_s, rows_t]
    out["point_type"] = _labels([*_POINT_TYPES, None], np.where(pt >= 0, pt, len(_POINT_TYPES)))
    return out[POINT_COLUMNS]
