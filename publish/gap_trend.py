"""The gap's trend: a comparative segmented (interrupted time series) quasi-Poisson regression.

As ``../shared/spec/warehouse-interface.md`` ("gap_trend") defines it, for one geography x measure x
ethnic group, on the monthly counts of the group (G = 1) and of the reference group (G = 0):

    ln E[events] = b0 + b1 G + b2 t + b3 G t + b4 P + b5 G P + b6 P s + b7 G P s  (+ site terms for the LAN)

with offset ln(denominator), t = months since the first month in the model, P = 1 from the programme start,
s = months since the programme start (0 before it). Fitted by maximum likelihood with statsmodels' GLM
(Poisson family, log link; IRLS) and standard errors scaled by the Pearson dispersion chi2 / (n - p)
(R's quasipoisson); the LAN's by the same IRLS with the site terms absorbed (fit_glm_absorbed). Published:
exp(12 b3), exp(b5), exp(12 b7) with Wald 95 % intervals, and exp(b1), the modelled gap in the first month, so
that the fitted gap exp(b1 + b3 t + b5 P + b7 P s) can be drawn.

A row whose denominator is 0 is left out. No model is fitted with fewer than 6 months on either side of the
programme start, or where a group has no events on one side (the estimate would be infinite), or where
the design is not of full rank; a fit that fails or does not converge gives no estimates either. Then the
estimates are null and ``fit_note`` says why: never a NaN or an infinity, never an exception.

Each row carries ``input_hash``: the sha256 of what its fit reads (its monthly rows, the programme start, the
reference group, this module's source and statsmodels' version). Given the previous fits, an unchanged series is
not fitted again: a file for one site-month refits that site's series and the LAN's, not every site's.

Pure functions, no Dagster. Tested against R's glm (tests/peers/its_*.csv, tests/test_gap_trend_peers.py).
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

__all__ = [
    "MIN_MONTHS_EACH_SIDE",
    "TREND_COLUMNS",
    "GlmFit",
    "comparative_design",
    "fit_glm",
    "fit_glm_absorbed",
    "fit_gap_trend",
    "fit_gap_trends",
    "input_hash",
    "month_index",
]

Z_95 = float(stats.norm.ppf(0.975))  # 1.959963984540054
MIN_MONTHS_EACH_SIDE = 6
#: IRLS as R's glm.fit runs it (statsmodels' arguments for it).
MAX_ITERATIONS, ATOL, RTOL = 25, 1e-9, 1e-8
NOT_CONVERGED = f"the fit did not converge in {MAX_ITERATIONS} iterations"
NOT_FULL_RANK = "the design is not of full rank (a term is constant or collinear)"
PERFECT_SEPARATION = "Perfect separation or prediction detected, parameter may not be identified"
TERMS = ["const", "G", "t", "G:t", "P", "G:P", "P:s", "G:P:s"]
#: Published quantity -> (model term, months it is scaled by).
QUANTITIES = {
    "baseline_gap_level": ("G", 1),
    "baseline_gap_trend_per_year": ("G:t", 12),
    "gap_level_change": ("G:P", 1),
    "gap_slope_change_per_year": ("G:P:s", 12),
}
KEY_COLUMNS = ["geography_level", "site_code", "measure_code", "ethnic_group"]
TREND_COLUMNS = [
    *KEY_COLUMNS,
    "reference_group",
    "first_month",
    "n_observations",
    "months_before",
    "months_after",
    "dispersion",
    *(f"{q}{sfx}" for q in QUANTITIES for sfx in ("", "_lower_95", "_upper_95")),
    "converged",
    "fit_note",
]
#: What every fit depends on besides its rows: this module's code and statsmodels' version.
_FIT_CODE = hashlib.sha256(Path(__file__).read_bytes() + sm.__version__.encode()).hexdigest()
_HASHED = ["site_code", "month_index", "G", "events", "denominator"]


@dataclass(frozen=True)
class GlmFit:
    """One GLM fit: coefficients and standard errors by term name (empty when not fitted)."""

    params: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    bse: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    dispersion: float | None = None
    n_observations: int = 0
    converged: bool | None = None
    note: str | None = None

    @property
    def fitted(self) -> bool:
        return self.note is None


class _PoissonStartedAsR(sm.families.Poisson):
    """statsmodels' Poisson family, with IRLS started where R's poisson()$initialize starts: mu = y + 0.1."""

    def starting_mu(self, y):
        return np.asarray(y, dtype=float) + 0.1


def fit_glm(y: np.ndarray, design: pd.DataFrame, offset: np.ndarray, quasi: bool = True) -> GlmFit:
    """Poisson GLM, log link, with an offset, fitted by statsmodels' IRLS; Pearson-scaled (quasi-Poisson)
    standard errors when `quasi`, else scale 1.

    The IRLS runs as R's glm.fit does (start mu = y + 0.1; stop when |change in deviance| / (|deviance| + 0.1)
    < 1e-8; at most 25 iterations) and the dispersion is computed as summary.glm does: the sum of the final
    working weights times the squared working residuals, over n - p. That is Pearson's chi2 / (n - p) at the
    fitted means, and it reproduces R's reported figures to ~1e-14 rather than ~1e-6.

    Any failure (rank-deficient design, no convergence, perfect separation, non-finite estimate) gives a
    GlmFit without estimates and a note saying why."""
    n, p = design.shape
    if n <= p:
        return GlmFit(n_observations=n, note=f"too few observations for the model ({n} rows, {p} terms)")
    x = design.to_numpy(dtype=float)
    if np.linalg.matrix_rank(x.T @ x, hermitian=True) < p:  # on the p x p Gram matrix: cheap for the LAN's many rows
        return GlmFit(n_observations=n, note=NOT_FULL_RANK)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # perfect separation and convergence warnings become failures
            model = sm.GLM(y, design, family=_PoissonStartedAsR(), offset=offset)
            result = model.fit(scale=1.0, maxiter=MAX_ITERATIONS, tol=1e-8, atol=ATOL, rtol=RTOL)
    except Exception as exc:  # noqa: BLE001 - a model that cannot be fitted is a fact to report, not a crash
        return _not_fitted(n, exc)
    if not result.converged:
        return GlmFit(n_observations=n, converged=False, note=NOT_CONVERGED)
    dispersion = float(np.sum(model.weights * result.resid_working**2) / result.df_resid) if quasi else 1.0
    return _estimates(design.columns, result.params, result.normalized_cov_params, dispersion, n)


def fit_glm_absorbed(
    y: np.ndarray, design: pd.DataFrame, groups: pd.Series, offset: np.ndarray, quasi: bool = True
) -> GlmFit:
    """fit_glm with one intercept per group absorbed instead of estimated: the LAN model's site terms.

    `design` holds the other terms, without a constant. Each IRLS step is fit_glm's weighted least squares on
    the design plus one indicator per group, solved as Frisch-Waugh-Lovell solves it: the working response and
    the design less their weighted group means give the coefficients, the group means of what is left the
    intercepts. The coefficients, their covariance, the dispersion (over n - terms - groups) and the stopping
    rule are fit_glm's on the full design, to rounding (tests/test_gap_change.py holds them to 1e-9); a step
    solves a least squares on the design's seven columns instead of one more column per site, which made the
    LAN's fits 40 times slower. statsmodels has no absorbed fixed effects for a GLM; its Poisson family gives
    the link, the weights, the deviance and R's starting values here, as it does for fit_glm."""
    codes = pd.factorize(groups, sort=True)[0]
    n_groups, (n, k) = int(codes.max()) + 1, design.shape
    if n <= k + n_groups:
        return GlmFit(n_observations=n, note=f"too few observations for the model ({n} rows, {k + n_groups} terms)")
    x = design.to_numpy(dtype=float)
    plain = _less_group_means(x, codes, np.ones(n))
    if np.linalg.matrix_rank(plain.T @ plain, hermitian=True) < k:
        return GlmFit(n_observations=n, note=NOT_FULL_RANK)
    family = _PoissonStartedAsR()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # as fit_glm: overflow and the like become failures
            mu = family.starting_mu(y)
            lin_pred, deviance = family.predict(mu), family.deviance(y, mu)
            for _ in range(MAX_ITERATIONS):
                weights = family.weights(mu)
                working = lin_pred + family.link.deriv(mu) * (y - mu) - offset
                root, within = np.sqrt(weights), _less_group_means(x, codes, weights)
                response = root * _less_group_means(working, codes, weights)
                beta = np.linalg.lstsq(root[:, None] * within, response, rcond=None)[0]
                level = _group_means(working - x @ beta, codes, weights)
                lin_pred = x @ beta + level[codes] + offset
                mu = family.fitted(lin_pred)
                if np.allclose(mu - y, 0):
                    raise ValueError(PERFECT_SEPARATION)  # statsmodels' warning, which fit_glm turns into an error
                previous, deviance = deviance, family.deviance(y, mu)
                if np.allclose(previous, deviance, atol=ATOL, rtol=RTOL):  # statsmodels' test, in its order
                    break
            else:
                return GlmFit(n_observations=n, converged=False, note=NOT_CONVERGED)
            whitened = np.linalg.pinv(root[:, None] * within)  # as statsmodels' last weighted least squares
            resid_working = family.link.deriv(mu) * (y - mu)
            dispersion = float(np.sum(weights * resid_working**2) / (n - k - n_groups)) if quasi else 1.0
    except Exception as exc:  # noqa: BLE001 - as fit_glm
        return _not_fitted(n, exc)
    return _estimates(design.columns, beta, whitened @ whitened.T, dispersion, n)


def _group_means(values: np.ndarray, codes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean of `values` (n, or n x k) in each group."""
    totals = np.bincount(codes, weights=weights)
    if values.ndim == 1:
        return np.bincount(codes, weights=weights * values) / totals
    return np.column_stack([np.bincount(codes, weights=weights * column) for column in values.T]) / totals[:, None]


def _less_group_means(values: np.ndarray, codes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return values - _group_means(values, codes, weights)[codes]


def _not_fitted(n: int, exc: Exception) -> GlmFit:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return GlmFit(n_observations=n, converged=False, note=f"the model could not be fitted: {reason}"[:300])


def _estimates(terms: pd.Index, params, normalized_cov: np.ndarray, dispersion: float, n: int) -> GlmFit:
    """A converged fit's estimates, standard errors scaled by the dispersion; a note if any is not finite."""
    params = pd.Series(np.asarray(params), index=terms)
    bse = pd.Series(np.sqrt(dispersion * np.diag(normalized_cov)), index=terms)
    if not (np.isfinite(params).all() and np.isfinite(bse).all() and np.isfinite(dispersion)):
        return GlmFit(n_observations=n, converged=True, note="the fit gave a non-finite estimate")
    return GlmFit(params=params, bse=bse, dispersion=dispersion, n_observations=n, converged=True)


def month_index(months: pd.Series) -> pd.Series:
    """Months (dates or 'YYYY-MM' text) as consecutive integers: year x 12 + month - 1."""
    stamps = pd.to_datetime(months.astype(str).str.slice(0, 7), format="%Y-%m")
    return (stamps.dt.year * 12 + stamps.dt.month - 1).astype("int64")


def comparative_design(rows: pd.DataFrame, start_index: int) -> pd.DataFrame:
    """The interface's design matrix for rows with columns month_index, G (0/1) and, for the LAN, site_code.

    t counts months from the first month in `rows`; P = 1 from `start_index` on; s = months since it
    (0 before); one indicator per site but the first (in code order) when there are several sites. (The LAN's
    fit absorbs the site terms rather than estimate them from these indicators: fit_glm_absorbed.)"""
    design = _comparative_terms(rows, start_index)
    if _sites(rows) > 1:
        sites = sorted(rows["site_code"].unique())[1:]
        terms = {f"site[{site}]": (rows["site_code"] == site).astype(float) for site in sites}
        design = pd.concat([design, pd.DataFrame(terms, index=rows.index)], axis=1)
    return design


def _sites(rows: pd.DataFrame) -> int:
    return rows["site_code"].nunique() if "site_code" in rows else 1


def _comparative_terms(rows: pd.DataFrame, start_index: int) -> pd.DataFrame:
    """The design's terms but the site indicators."""
    t = rows["month_index"] - rows["month_index"].min()
    g = rows["G"].astype(float)
    p = (rows["month_index"] >= start_index).astype(float)
    s = (rows["month_index"] - start_index).clip(lower=0).astype(float) * p
    return pd.DataFrame(
        {
            "const": 1.0,
            "G": g,
            "t": t.astype(float),
            "G:t": g * t,
            "P": p,
            "G:P": g * p,
            "P:s": p * s,
            "G:P:s": g * p * s,
        },
        index=rows.index,
    )


def _null_estimates() -> dict:
    return {f"{q}{sfx}": None for q in QUANTITIES for sfx in ("", "_lower_95", "_upper_95")}


def fit_gap_trend(rows: pd.DataFrame, start_index: int) -> dict:
    """Fit one comparative model. `rows`: month_index, G, events, denominator (and site_code for the LAN),
    one row per (site,) month and G. Returns the published fields (estimates null with a fit_note when no
    model is fitted) and the GlmFit itself under `fit`."""
    rows = rows[rows["denominator"] > 0].sort_values([c for c in ("site_code", "month_index", "G") if c in rows])
    months = rows["month_index"].drop_duplicates()
    before, after = int((months < start_index).sum()), int((months >= start_index).sum())
    out = {
        "first_month": int(months.min()) if len(months) else None,
        "n_observations": len(rows),
        "months_before": before,
        "months_after": after,
        "dispersion": None,
        **_null_estimates(),
        "converged": None,
        "fit_note": None,
    }
    if before < MIN_MONTHS_EACH_SIDE or after < MIN_MONTHS_EACH_SIDE:
        out["fit_note"] = (
            f"not fitted: {before} months with data before the programme start and {after} from it "
            f"(at least {MIN_MONTHS_EACH_SIDE} needed on each side)"
        )
        return out | {"fit": GlmFit(n_observations=len(rows), note=out["fit_note"])}
    side = np.where(rows["month_index"] >= start_index, "from", "before")
    events = rows.groupby([rows["G"].to_numpy(), side])["events"].sum()
    for g, who in ((1, "the group"), (0, "the reference group")):
        for when in ("before", "from"):
            if events.get((g, when), 0) <= 0:
                out["fit_note"] = f"not fitted: no events in {who} {when} the programme start (infinite estimate)"
                return out | {"fit": GlmFit(n_observations=len(rows), note=out["fit_note"])}
    events, offset = rows["events"].to_numpy(dtype=float), np.log(rows["denominator"].to_numpy(dtype=float))
    if _sites(rows) > 1:
        fit = fit_glm_absorbed(
            events, _comparative_terms(rows, start_index).drop(columns="const"), rows["site_code"], offset
        )
    else:
        fit = fit_glm(events, comparative_design(rows, start_index), offset)
    out["converged"] = fit.converged
    if not fit.fitted:
        out["fit_note"] = fit.note
        return out | {"fit": fit}
    out["dispersion"] = fit.dispersion
    for quantity, (term, k) in QUANTITIES.items():
        beta, se = float(fit.params[term]), float(fit.bse[term])
        values = np.exp(k * np.array([beta, beta - Z_95 * se, beta + Z_95 * se]))
        if not np.isfinite(values).all():
            out |= {**_null_estimates(), "dispersion": None, "fit_note": "the fit gave an infinite estimate"}
            return out | {"fit": fit}
        out[quantity], out[f"{quantity}_lower_95"], out[f"{quantity}_upper_95"] = (float(v) for v in values)
    return out | {"fit": fit}


def input_hash(rows: pd.DataFrame, start_index: int, reference_group: str) -> str:
    """sha256 of what one fit reads: its rows (in a fixed order), the programme start, the reference group, the code."""
    ordered = rows[_HASHED].sort_values(_HASHED[:3], kind="stable")
    return _digest(*_hash_arrays(ordered), start_index, reference_group)


def _hash_arrays(ordered: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The site codes and the numeric columns of rows already in input_hash's order, as arrays to slice."""
    return (
        ordered["site_code"].astype(str).to_numpy(dtype=object),
        ordered[_HASHED[1:]].to_numpy(dtype="float64", na_value=np.nan),
    )


def _digest(sites: np.ndarray, values: np.ndarray, start_index: int, reference_group: str) -> str:
    digest = hashlib.sha256(f"{_FIT_CODE}|{start_index}|{reference_group}|".encode())
    digest.update("\x1f".join(sites).encode())
    digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def _previous_records(previous: pd.DataFrame | None) -> dict[tuple, dict]:
    """The previous fits by key, as fit_gap_trends builds its records (first_month as a month index)."""
    if previous is None or previous.empty or "input_hash" not in previous:
        return {}
    out = {}
    for record in previous[[*TREND_COLUMNS, "input_hash"]].to_dict("records"):
        first = record["first_month"]
        record["first_month"] = None if pd.isna(first) else first.year * 12 + first.month - 1
        out[tuple(record[k] for k in KEY_COLUMNS)] = record
    return out


def fit_gap_trends(
    monthly: pd.DataFrame, programme_start: str, reference_group: str, previous: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Every site and the LAN x measure x non-reference group, from monthly site-level counts.

    `monthly`: one row per site x measure x month x ethnic group (the reference group's included) with
    site_code, measure_code, month (date or 'YYYY-MM'), ethnic_group, numerator, denominator. A site row is
    fitted on that site's months; a LAN row on every site's months with site terms. `previous`: the last
    result (with input_hash); a row whose inputs hash the same is taken from it instead of fitted again."""
    start_index = int(month_index(pd.Series([programme_start])).iloc[0])
    data = monthly.assign(month_index=month_index(monthly["month"]))
    data = data.rename(columns={"numerator": "events"})
    reference = data[data["ethnic_group"] == reference_group]
    groups = sorted(set(data["ethnic_group"]) - {reference_group})
    earlier = _previous_records(previous)
    records = []
    for measure, by_measure in data.groupby("measure_code", sort=True):
        ref = reference[reference["measure_code"] == measure].assign(G=0)
        for group in groups:
            own = by_measure[by_measure["ethnic_group"] == group].assign(G=1)
            # in input_hash's order once, so that each site's rows are a slice and hash without sorting again
            both = pd.concat([own, ref], ignore_index=True)[_HASHED].sort_values(
                _HASHED[:3], kind="stable", ignore_index=True
            )
            sites, values = _hash_arrays(both)
            starts = [0, *(np.flatnonzero(sites[1:] != sites[:-1]) + 1)] if len(sites) else []
            codes, bounds = sites[starts], [*starts[1:], len(both)][: len(starts)]
            geographies = [("site", code, slice(a, b)) for code, a, b in zip(codes, starts, bounds, strict=True)]
            geographies.append(("lan", "LAN", slice(0, len(both))))
            for level, code, part in geographies:
                digest = _digest(sites[part], values[part], start_index, reference_group)
                known = earlier.get((level, code, measure, group))
                if known is not None and known["input_hash"] == digest:
                    records.append(known)
                    continue
                fitted = fit_gap_trend(both.iloc[part], start_index)
                fitted.pop("fit")
                records.append(
                    {
                        "geography_level": level,
                        "site_code": code,
                        "measure_code": measure,
                        "ethnic_group": group,
                        "reference_group": reference_group,
                        **fitted,
                        "input_hash": digest,
                    }
                )
    frame = pd.DataFrame.from_records(records, columns=[*TREND_COLUMNS, "input_hash"])
    first = pd.to_numeric(frame["first_month"]).astype("Int64")
    frame["first_month"] = pd.Series(
        [None if pd.isna(i) else date(int(i) // 12, int(i) % 12 + 1, 1) for i in first], dtype="date32[pyarrow]"
    )
    for column in ("n_observations", "months_before", "months_after"):
        frame[column] = frame[column].astype("int64")
    frame["converged"] = frame["converged"].astype("boolean")
    frame["fit_note"] = frame["fit_note"].astype("string")
    estimates = [c for c in TREND_COLUMNS if c == "dispersion" or c.startswith(tuple(QUANTITIES))]
    frame[estimates] = frame[estimates].astype("Float64")
    return frame
