"""``add_statistics``: the gap statistics in pandas, kept only for the evaluation release writer.

The published tables ``gap_metrics`` and ``gap_metrics_by_ethnic_category`` are dbt models
(``dbt_project/models/marts/gap_metrics.sql``), their statistics dbt macros, one per formula
(``dbt_project/macros/statistics/``, composed by ``gap_statistics``). Their decisions are documented
there and in the models' yml.

``add_statistics(frame)`` computes the same columns as the macro ``gap_statistics`` from numerator,
denominator, reference_numerator, reference_denominator, multiplier, higher_is_better (True / False /
<NA>) and is_reference. ``publish.disclosure.protect_gap_metrics`` (the release writer) recomputes the
statistics from disclosure-rounded counts with it. Once the release recomputes them in dbt models with
``gap_statistics``, this module and ``publish.statistics`` go.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from publish import statistics as st

__all__ = [
    "GAP_COLUMNS",
    "GAP_CATEGORY_COLUMNS",
    "INPUT_COLUMNS",
    "add_statistics",
    "gap_columns",
    "interval_suffix",
]

#: Columns add_statistics reads (and the only ones it depends on).
INPUT_COLUMNS = [
    "numerator",
    "denominator",
    "reference_numerator",
    "reference_denominator",
    "multiplier",
    "higher_is_better",
    "is_reference",
]

_STAT_COLUMNS = [
    "rate",
    "rate_lower_95",
    "rate_upper_95",
    "reference_group",
    "reference_numerator",
    "reference_denominator",
    "reference_rate",
    "rate_ratio",
    "rate_ratio_lower_95",
    "rate_ratio_upper_95",
    "rate_difference",
    "rate_difference_lower_95",
    "rate_difference_upper_95",
    "excess_events",
    "gap_assessment",
    "meets_completeness_threshold",
    "months_flagged",
    "n_months",
    "multiplier",
    "higher_is_better",
    "is_reference",
]
_KEY_COLUMNS = [
    "geography_level",
    "site_code",
    "measure_code",
    "period_type",
    "period_label",
    "period_start",
    "period_end",
]

#: Column order of gap_metrics before the completeness columns (level="group").
GAP_COLUMNS: list[str] = _KEY_COLUMNS + ["ethnic_group", "numerator", "denominator"] + _STAT_COLUMNS
#: The same for gap_metrics_by_ethnic_category.
GAP_CATEGORY_COLUMNS: list[str] = (
    _KEY_COLUMNS + ["ethnic_code", "ethnic_label", "ethnic_group", "numerator", "denominator"] + _STAT_COLUMNS
)

PERIOD_TYPES = ["month", "quarter", "rolling_12_months", "programme_phase"]
ASSESSMENTS = ["reference", "not calculable", "worse", "better", "higher", "lower", "no clear difference"]


def gap_columns(level: Literal["group", "category"] = "group") -> list[str]:
    return list(GAP_COLUMNS if level == "group" else GAP_CATEGORY_COLUMNS)


def interval_suffix(confidence: float) -> str:
    """Column suffix for a confidence level: 0.95 -> '95', 0.998 -> '99_8'."""
    text = f"{confidence * 100:.10f}".rstrip("0").rstrip(".")
    return text.replace(".", "_")


def _float(frame: pd.DataFrame, column: str) -> np.ndarray:
    return st.as_float_array(frame[column])


def add_statistics(frame: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Return a copy of ``frame`` with the rate, ratio, difference, excess and assessment columns.

    It reads only the columns in :data:`INPUT_COLUMNS`. Any column it writes is replaced. Missing
    counts (NA) make the statistics that need them NULL, and make the comparison
    ``not calculable``.
    """
    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise KeyError(f"add_statistics needs columns {missing}")
    sfx = interval_suffix(confidence)
    out = frame.copy(deep=False)  # copy-on-write (pandas 3): the caller's frame is never modified

    x1, n1 = _float(frame, "numerator"), _float(frame, "denominator")
    x2, n2 = _float(frame, "reference_numerator"), _float(frame, "reference_denominator")
    mult = _float(frame, "multiplier")
    hib = frame["higher_is_better"].astype("boolean")
    is_ref = frame["is_reference"].astype("boolean").fillna(False).to_numpy(dtype=bool)

    w1_lo, w1_hi = st.wilson_interval(x1, n1, confidence)
    w2_lo, w2_hi = st.wilson_interval(x2, n2, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1 = np.where(np.isfinite(w1_lo), x1 / n1, np.nan)
        p2 = np.where(np.isfinite(w2_lo), x2 / n2, np.nan)
        excess = np.where(n2 > 0, x1 - n1 * p2, np.nan)
    rate, rate_lo, rate_hi = p1 * mult, w1_lo * mult, w1_hi * mult
    ref_rate = p2 * mult
    ratio, ratio_lo, ratio_hi = st.risk_ratio_log_interval(x1, n1, x2, n2, confidence)
    diff, diff_lo, diff_hi = st.newcombe_combine(p1, w1_lo, w1_hi, p2, w2_lo, w2_hi)

    counts = np.stack([x1, n1, x2, n2])
    calculable = (np.isfinite(counts) & (counts > 0)).all(axis=0) & np.isfinite(ratio_lo) & np.isfinite(ratio_hi)
    # Not calculable: no ratio, no intervals. The difference estimate stays where both rates exist.
    ratio = np.where(calculable, ratio, np.nan)
    ratio_lo = np.where(calculable, ratio_lo, np.nan)
    ratio_hi = np.where(calculable, ratio_hi, np.nan)
    diff_lo = np.where(calculable, diff_lo, np.nan)
    diff_hi = np.where(calculable, diff_hi, np.nan)
    diff = diff * mult

    # The reference group's own row.
    own = is_ref & np.isfinite(rate)
    ratio = np.where(is_ref, np.where(own, 1.0, np.nan), ratio)
    diff = np.where(is_ref, np.where(own, 0.0, np.nan), diff)
    excess = np.where(is_ref, np.where(own, 0.0, np.nan), excess)
    for arr in (ratio_lo, ratio_hi, diff_lo, diff_hi):
        arr[is_ref] = np.nan

    above = calculable & (ratio_lo > 1.0)
    below = calculable & (ratio_hi < 1.0)
    hib_true = hib.fillna(False).to_numpy(dtype=bool)
    hib_false = (~hib).fillna(False).to_numpy(dtype=bool)
    hib_na = hib.isna().to_numpy(dtype=bool)
    code = np.select(
        [
            is_ref,
            ~calculable,
            (above & hib_false) | (below & hib_true),
            (above & hib_true) | (below & hib_false),
            above & hib_na,
            below & hib_na,
        ],
        [ASSESSMENTS.index(a) for a in ("reference", "not calculable", "worse", "better", "higher", "lower")],
        default=ASSESSMENTS.index("no clear difference"),
    ).astype(np.int8)
    assessment = pa.DictionaryArray.from_arrays(pa.array(code), pa.array(ASSESSMENTS)).cast(pa.string())

    out["rate"] = rate
    out[f"rate_lower_{sfx}"] = rate_lo
    out[f"rate_upper_{sfx}"] = rate_hi
    out["reference_rate"] = ref_rate
    out["rate_ratio"] = ratio
    out[f"rate_ratio_lower_{sfx}"] = ratio_lo
    out[f"rate_ratio_upper_{sfx}"] = ratio_hi
    out["rate_difference"] = diff
    out[f"rate_difference_lower_{sfx}"] = diff_lo * mult
    out[f"rate_difference_upper_{sfx}"] = diff_hi * mult
    out["excess_events"] = excess
    out["gap_assessment"] = pd.Series(assessment.to_pandas(), index=frame.index).astype("str")
    return out
