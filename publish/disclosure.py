"""Disclosure control for evaluation extracts: no count from 1 to 7 ever leaves the warehouse.

Pure functions over pandas; `publish/release.py` applies them to every table it extracts.

The rules (``../shared/spec/warehouse-interface.md``, "Evaluation extracts")
---------------------------------------------------------------------------
``msds`` (default; the rule NHS England's maternity statistics apply)
    0 stays 0; 1 to 7 becomes 5; everything else is rounded to the nearest multiple of 5.
    Counts are whole numbers, so a count is never exactly halfway between two multiples of 5
    (n / 5 ends in .0, .2, .4, .6 or .8) and no tie-breaking rule is needed; the formula used,
    ``5 * floor((n + 2) / 5)``, is "round half up" should anyone ever feed it a half. So
    8 -> 10, 10 -> 10, 12 -> 10, 13 -> 15. The error is at most 2 for counts of 8 or more and
    at most 4 for 1 to 7 (1 -> 5).
``hes`` (Hospital Episode Statistics style)
    0 stays 0; 1 to 7 is suppressed; everything else is rounded to the nearest 5 as above.

How a suppressed count (``hes``) is represented
    * pandas (what `apply_disclosure` returns): ``pd.NA`` in a nullable ``Int64`` column;
      `suppressed_cells` tells a suppressed cell from a count that was already missing.
    * Parquet: null. The marts never hold a null count, so in practice null means suppressed;
      the README of the release says so.
    * CSV: the literal ``*``. A count that was missing in the warehouse is an empty field, as is
      every statistic that cannot be shown.

Counts and what is recomputed from them
    * Count columns are rounded: numerator, denominator, denominator_total, denominator_known,
      reference_numerator, reference_denominator (`KNOWN_COUNT_COLUMNS`; the release also
      treats any column of those names as a count even if a table spec forgets to declare it).
      Counts must be whole numbers >= 0; anything else raises rather than being published.
    * Proportions of counts (``completeness`` = denominator_known / denominator_total) are
      recomputed from the rounded counts; a table holding such a proportion without the counts
      it is made of is refused, since the true proportion of two small counts can give them away.
    * gap_metrics (`protect_gap_metrics`): numerator, denominator and the reference group's
      numerator and denominator are rounded, then every rate, interval, ratio, difference,
      excess_events and gap_assessment is recomputed from the rounded counts by
      ``publish.gap_metrics.add_statistics`` (imported lazily). A numeric column it does not know
      how to protect is refused. Under ``hes``, a row whose own count is suppressed gets null
      statistics (and gap_assessment ``not calculable``, or ``reference`` for the reference
      row); a row whose reference group is suppressed keeps its own rate and interval but gets
      null comparisons.
    * excess_events (numerator - denominator x reference proportion) is kept, because it is a
      column of the published table, but it is recomputed from the rounded counts and then
      rounded to the nearest multiple of 5 (halves away from zero; it can be negative and
      fractional). Computed from rounded counts it reveals nothing the rounded counts do not,
      so the final rounding is not what protects anyone: it keeps the extract free of any
      count-like value from 1 to 7 (a reader, or an auditor's script, would take "3.2 excess
      events" for a small count) and avoids false precision. Dropping the column was rejected
      because the extract would then differ from the published table the interface defines.
    * A rate, interval or ratio shown with rounded counts is the one those counts give: the
      partner can recompute every statistic from the extract itself.
    * Rounding is monotone, so numerator <= denominator and known <= total still hold, rates
      stay within 0..multiplier and completeness within 0..1; a count is 0 after rounding only
      if it was 0.

What the rule guarantees, and the attack it does not stop
---------------------------------------------------------
Guaranteed (and property-tested): every published count is 0, suppressed, or a multiple of 5;
the only value from 1 to 7 that can appear is 5, under ``msds`` only, where it stands for any
count from 1 to 7 (so a 5 in an ``hes`` extract is a leak, and `count_value_problem` says so).
Hence a total minus the sum of its other parts is also a multiple of 5, and the naive
differencing attack (total - others = the small cell) cannot produce 1, 2, 3, 4, 6 or 7; it
produces 5 only where the cell is already published as 5.

Note on the acceptance check: ``../shared/acceptance/check_interface.py`` (check_release)
flags every CSV count from 1 to 7 *including 5*, so an ``msds`` release that holds any small
count fails it, although 5 is exactly what the spec's MSDS rule publishes for 1..7. An ``hes``
release, or an ``msds`` release without small counts, passes it. This module follows the spec;
the check and the spec have to be reconciled by whoever owns them (tests/test_release.py pins
the disagreement with a strict xfail).

Not guaranteed: that a small cell cannot be recovered exactly. Rounding is deterministic and
each published value says which interval the true value lies in (`DisclosureRule.true_range`:
0 -> 0, 5 -> 1..7, 10 -> 8..12, 5k -> 5k-2..5k+2). An attacker who adds up those intervals
along a relation "total = sum of parts" can pin a cell down:

* one total with three parts: parts 1, 8, 8 publish as 5, 10, 10 and their total 17 as 15.
  The other two parts are at least 8 + 8 = 16 and the total at most 17, so the small cell is
  exactly 1 (and the other two exactly 8). Exhaustive search finds no such case with one or
  two parts (parts 0..39, in the tests) and finds cases with every number of parts from three
  to seven (parts 0..19). `pinned_parts` does the interval arithmetic; tests/test_disclosure.py
  shows both results.
* two overlapping totals (a row and a column total of a two-way table): cells 6, 7, 1 with
  6 + 7 = 13 -> 15 and 6 + 1 = 7 -> 5 give 6 >= 13 - 7 and 6 <= 7 - 1, so exactly 6.
* a total of 1..7 (published 5) over seven parts each published 5: every part is exactly 1.

The warehouse publishes many such relations: gap_metrics' ethnic group counts are sums of
fct_measure_monthly's ethnic code counts (White = A + B + C); LAN rows are sums of site rows;
quarters, rolling 12 months and programme phases are sums of months; denominator_total =
known + not stated + not known. So an extract holding several of these tables, rounded cell by
cell as the spec requires, can in some configurations let a determined analyst recover a small
count exactly. The ``hes`` rule has the same weakness (a ``*`` still means 1..7). Any set of
tables rounded cell by cell carries this kind of risk. Here the extract goes to one evaluation
partner, so what limits it today is the data sharing agreement (no attempt to re-identify, no
publication of small numbers), which the release README restates. Ways to close it,
which are decisions for the information governance lead rather than for this module: publish
coarser grains only (for instance no ethnic-code table beside ethnic groups, one geography and
one period type per extract); make higher-level counts the sums of the rounded lower-level
ones (additive tables; biased, but they add no information); or controlled rounding /
secondary suppression across the whole hierarchy (e.g. tau-argus, sdcTable).

Other residual information, judged acceptable and left as is: meets_completeness_threshold
travels unchanged (it is the programme's quality flag on the true counts, so with rounded
counts it narrows the number of records of unknown ethnicity a little); so do the numbers in
`NON_COUNT_NUMERIC_COLUMNS` (settings, calendar fields, gap_metrics' n_months and
months_flagged, which count months, not people).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "BASE",
    "SMALL_MAX",
    "RULE_NAMES",
    "KNOWN_COUNT_COLUMNS",
    "DERIVED_COUNT_COLUMNS",
    "GAP_STATISTIC_COLUMNS",
    "DEFAULT_PROPORTIONS",
    "NON_COUNT_NUMERIC_COLUMNS",
    "DisclosureRule",
    "rule_from_name",
    "round_to_base",
    "protect_counts",
    "suppressed_cells",
    "apply_disclosure",
    "protect_gap_metrics",
    "count_value_problem",
    "pinned_parts",
]

BASE = 5
SMALL_MAX = 7
RULE_NAMES = ("msds", "hes")
SUPPRESSED_MARK = "*"

# Columns that are counts of people or events wherever they appear.
KNOWN_COUNT_COLUMNS = frozenset({
    "numerator", "denominator", "denominator_total", "denominator_known",
    "reference_numerator", "reference_denominator",
})
# Count-like values derived from counts: recomputed from rounded counts, then rounded to BASE.
DERIVED_COUNT_COLUMNS = frozenset({"excess_events"})
# What add_statistics (re)computes; each one present in a gap_metrics table is replaced.
GAP_STATISTIC_COLUMNS = (
    "rate", "rate_lower_95", "rate_upper_95", "reference_rate",
    "rate_ratio", "rate_ratio_lower_95", "rate_ratio_upper_95",
    "rate_difference", "rate_difference_lower_95", "rate_difference_upper_95",
    "excess_events", "gap_assessment",
)
_OWN_STATISTICS = ("rate", "rate_lower_95", "rate_upper_95")
_COMPARISONS = tuple(c for c in GAP_STATISTIC_COLUMNS if c not in _OWN_STATISTICS and c != "gap_assessment")
# Inputs of add_statistics that a gap_metrics table may lack (taken from elsewhere, then dropped).
_GAP_HELPERS = ("reference_numerator", "reference_denominator", "multiplier", "higher_is_better", "is_reference")
# Numbers that are not counts of people or events (settings, calendar, counts of months) and may
# pass unchanged through a table that holds counts.
NON_COUNT_NUMERIC_COLUMNS = frozenset({
    "multiplier", "completeness_threshold", "year", "month_number", "sort_order", "n_months", "months_flagged",
})
# Where two gap_metrics rows are compared: the same geography, measure and period.
GAP_GROUP_KEYS = ("geography_level", "site_code", "measure_code", "period_type", "period_label")
# proportion column -> (numerator count, denominator count), recomputed after rounding.
DEFAULT_PROPORTIONS: Mapping[str, tuple[str, str]] = {"completeness": ("denominator_known", "denominator_total")}


@dataclass(frozen=True)
class DisclosureRule:
    """A named disclosure rule: ``msds`` (small counts become 5) or ``hes`` (small counts suppressed)."""

    name: str = "msds"

    def __post_init__(self) -> None:
        if self.name not in RULE_NAMES:
            raise ValueError(f"unknown disclosure rule {self.name!r}; choose one of {', '.join(RULE_NAMES)}")

    @property
    def suppresses(self) -> bool:
        """True when counts from 1 to 7 are withheld rather than shown as 5."""
        return self.name == "hes"

    @property
    def suppressed_mark(self) -> str | None:
        """What a CSV shows for a suppressed count (None: this rule never suppresses)."""
        return SUPPRESSED_MARK if self.suppresses else None

    @property
    def description(self) -> str:
        """The rule in plain words, for the manifest and the README."""
        if self.suppresses:
            return (f"HES style: a count of 0 is shown as 0; a count from 1 to {SMALL_MAX} is suppressed "
                    f"(shown as '{SUPPRESSED_MARK}' in CSV files and as null in Parquet files); every other "
                    f"count is rounded to the nearest multiple of {BASE}. Rates, intervals, ratios, "
                    f"differences and excess events are recomputed from the rounded counts, and are left "
                    f"empty where a count they need is suppressed.")
        return (f"NHS England maternity statistics (MSDS): a count of 0 is shown as 0; a count from 1 to "
                f"{SMALL_MAX} is shown as {BASE}; every other count is rounded to the nearest multiple of "
                f"{BASE}. Rates, intervals, ratios, differences and excess events are recomputed from the "
                f"rounded counts.")

    def protect(self, count: int) -> int | None:
        """One count after the rule (None = suppressed). Raises on a negative or fractional count."""
        if isinstance(count, bool) or count != math.floor(count) or count < 0:
            raise ValueError(f"a count must be a whole number >= 0, got {count!r}")
        count = int(count)
        if count == 0:
            return 0
        if count <= SMALL_MAX:
            return None if self.suppresses else BASE
        return BASE * ((count + BASE // 2) // BASE)

    def true_range(self, published: int | None) -> tuple[int, int]:
        """The true counts (inclusive bounds) that publish as `published` (None = suppressed)."""
        if published is None:
            if not self.suppresses:
                raise ValueError("the msds rule never suppresses")
            return (1, SMALL_MAX)
        if published == 0:
            return (0, 0)
        if published % BASE or published < 0:
            raise ValueError(f"{published!r} cannot be a published count")
        if published == BASE:
            if self.suppresses:
                raise ValueError(f"the hes rule never publishes {BASE}")
            return (1, SMALL_MAX)
        low = published - BASE // 2
        return (max(low, SMALL_MAX + 1), published + BASE // 2)


def rule_from_name(name: str | DisclosureRule | None) -> DisclosureRule:
    """`DisclosureRule` from a setting such as ``LAN_DISCLOSURE_RULE`` (case and spaces ignored; None = msds)."""
    if isinstance(name, DisclosureRule):
        return name
    return DisclosureRule((name or "msds").strip().lower())


def round_to_base(values, base: int = BASE) -> np.ndarray:
    """Nearest multiple of `base`, halves away from zero, for any real numbers (NaN stays NaN, no -0.0)."""
    x = pd.to_numeric(pd.Series(values, dtype="object"), errors="raise").astype("float64").to_numpy()
    out = np.sign(x) * np.floor(np.abs(x) / base + 0.5) * base
    return out + 0.0  # turns -0.0 into 0.0


def _whole_counts(series: pd.Series, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(values as int64 with missing set to 0, missing mask); raises on anything but whole numbers >= 0."""
    if pd.api.types.is_bool_dtype(series.dtype) or (
            series.dtype == object and series.map(lambda v: isinstance(v, (bool, np.bool_))).any()):
        raise ValueError(f"column {column!r} holds booleans, not counts")
    numeric = pd.to_numeric(series.astype("object"), errors="coerce")
    missing = series.isna().to_numpy()
    bad = numeric.isna().to_numpy() & ~missing
    values = numeric.fillna(0).to_numpy(dtype="float64")
    bad |= (values < 0) | (values != np.floor(values)) | ~np.isfinite(values)
    if bad.any():
        example = series[bad].iloc[0]
        raise ValueError(f"column {column!r} holds {int(bad.sum())} value(s) that are not whole counts >= 0, "
                         f"e.g. {example!r}")
    return values.astype("int64"), missing


def protect_counts(series: pd.Series, rule: DisclosureRule, column: str = "count") -> pd.Series:
    """A count column after the rule, as nullable Int64 with the same index (suppressed = <NA>)."""
    values, missing = _whole_counts(series, column)
    out = BASE * ((values + BASE // 2) // BASE)
    small = (values >= 1) & (values <= SMALL_MAX)
    out[small] = BASE
    result = pd.Series(pd.array(out, dtype="Int64"), index=series.index, name=series.name)
    hide = missing | (small if rule.suppresses else np.zeros_like(small))
    result[hide] = pd.NA
    return result


def suppressed_cells(frame: pd.DataFrame, count_columns: Iterable[str], rule: DisclosureRule) -> pd.DataFrame:
    """Boolean frame (one column per count column): True where `rule` suppresses the input's count.

    Computed from the frame *before* `apply_disclosure`; it tells a suppressed count (CSV ``*``)
    from one that was missing already (CSV empty).
    """
    out = {}
    for column in count_columns:
        values, missing = _whole_counts(frame[column], column)
        small = (values >= 1) & (values <= SMALL_MAX) & ~missing
        out[column] = small if rule.suppresses else np.zeros(len(frame), dtype=bool)
    return pd.DataFrame(out, index=frame.index, dtype=bool)


def _recompute_proportions(frame: pd.DataFrame, counts: set[str],
                           proportions: Mapping[str, tuple[str, str]] | None) -> None:
    chosen = DEFAULT_PROPORTIONS if proportions is None else proportions
    for column, (num, den) in chosen.items():
        if column not in frame.columns:
            continue
        if num not in counts or den not in counts:
            raise ValueError(f"{column!r} is a proportion of {num!r} and {den!r}, which must be count columns of "
                             f"the table so that it can be recomputed from rounded counts")
        n = frame[num].astype("Float64")
        d = frame[den].astype("Float64")
        frame[column] = (n / d.where(d > 0)).astype("float64")


def apply_disclosure(frame: pd.DataFrame, count_columns: Iterable[str], rule: DisclosureRule,
                     proportions: Mapping[str, tuple[str, str]] | None = None) -> pd.DataFrame:
    """A copy of a plain count table with every count column protected by `rule`.

    Count columns come back as nullable Int64 (suppressed or missing = <NA>). Proportions of
    counts (default `DEFAULT_PROPORTIONS`, applied to those present) are recomputed from the
    rounded counts; pass ``proportions={}`` for none. Other columns are unchanged.
    """
    counts = list(dict.fromkeys(count_columns))
    missing = [c for c in counts if c not in frame.columns]
    if missing:
        raise KeyError(f"count column(s) not in the table: {', '.join(missing)}")
    out = frame.copy()
    for column in counts:
        out[column] = protect_counts(frame[column], rule, column)
    _recompute_proportions(out, set(counts), proportions)
    return out


def _default_add_statistics() -> Callable[..., pd.DataFrame]:
    from publish.gap_metrics import add_statistics  # lazy: written separately, may not exist yet

    return add_statistics


def _reference_mask(frame: pd.DataFrame) -> pd.Series:
    if "is_reference" in frame.columns:
        return frame["is_reference"].fillna(False).astype(bool)
    if {"ethnic_group", "reference_group"} <= set(frame.columns):
        return (frame["ethnic_group"] == frame["reference_group"]).fillna(False).astype(bool)
    if "gap_assessment" in frame.columns:
        return (frame["gap_assessment"] == "reference").fillna(False).astype(bool)
    raise ValueError("cannot tell the reference group's rows: need is_reference, ethnic_group and "
                     "reference_group, or gap_assessment")


def protect_gap_metrics(frame: pd.DataFrame, rule: DisclosureRule, measures: pd.DataFrame | None = None,
                        confidence: float = 0.95,
                        statistics: Callable[..., pd.DataFrame] | None = None) -> pd.DataFrame:
    """A copy of a gap_metrics-like table with rounded counts and every statistic recomputed from them.

    `frame` has numerator and denominator, and either reference_numerator/reference_denominator
    or the reference group's own row in each comparison (`GAP_GROUP_KEYS`, plus reference_group
    when present). multiplier and higher_is_better come from the frame or, when it lacks them,
    from `measures` (measure_code, multiplier, higher_is_better, e.g. marts.dim_measure).
    `statistics` defaults to ``publish.gap_metrics.add_statistics``. The result has exactly the
    columns of `frame`, in its order and row order.
    """
    columns = list(frame.columns)
    for needed in ("numerator", "denominator"):
        if needed not in columns:
            raise KeyError(f"a gap_metrics table needs {needed!r}")
    count_columns = [c for c in columns if c in KNOWN_COUNT_COLUMNS]
    unknown = [c for c in columns
               if c not in KNOWN_COUNT_COLUMNS and c not in GAP_STATISTIC_COLUMNS and c not in NON_COUNT_NUMERIC_COLUMNS
               and pd.api.types.is_numeric_dtype(frame[c].dtype) and not pd.api.types.is_bool_dtype(frame[c].dtype)]
    if unknown:
        raise ValueError(f"gap_metrics column(s) {', '.join(unknown)} are numbers this module does not know how to "
                         f"protect; refusing to publish them as they are")
    add_statistics = statistics or _default_add_statistics()

    work = frame.reset_index(drop=True).copy()
    for column in count_columns:
        work[column] = protect_counts(work[column], rule, column)
    is_reference = _reference_mask(work)
    work["is_reference"] = is_reference

    if not {"reference_numerator", "reference_denominator"} <= set(columns):
        keys = [k for k in (*GAP_GROUP_KEYS, "reference_group") if k in columns]
        if not keys:
            raise ValueError("no reference_numerator/reference_denominator and no keys to find the reference row by")
        reference = work.loc[is_reference, keys + ["numerator", "denominator"]]
        if reference.duplicated(keys).any():
            raise ValueError(f"more than one reference row for the same {', '.join(keys)}")
        reference = reference.rename(columns={"numerator": "reference_numerator",
                                              "denominator": "reference_denominator"})
        merged = work.drop(columns=["reference_numerator", "reference_denominator"], errors="ignore") \
            .merge(reference, on=keys, how="left", validate="many_to_one")
        work["reference_numerator"] = merged["reference_numerator"].astype("Int64").to_numpy()
        work["reference_denominator"] = merged["reference_denominator"].astype("Int64").to_numpy()

    for column in ("multiplier", "higher_is_better"):
        if column not in work.columns:
            if measures is None or not {"measure_code", column} <= set(measures.columns):
                raise ValueError(f"gap_metrics lacks {column!r}: pass `measures` with measure_code and {column}")
            lookup = measures.drop_duplicates("measure_code").set_index("measure_code")[column]
            work[column] = work["measure_code"].map(lookup)
            if work[column].isna().any() and column == "multiplier":
                absent = sorted(set(work.loc[work[column].isna(), "measure_code"]))
                raise ValueError(f"no multiplier for measure(s) {', '.join(map(str, absent))}")

    own_missing = (work["numerator"].isna() | work["denominator"].isna()).to_numpy()
    ref_missing = (work["reference_numerator"].isna() | work["reference_denominator"].isna()).to_numpy()
    # add_statistics sees only whole counts: stand-ins where a count is withheld, results masked below.
    inputs = work.copy()
    for column, stand_in, hidden in (("numerator", 1, own_missing), ("denominator", 2, own_missing),
                                     ("reference_numerator", 1, ref_missing),
                                     ("reference_denominator", 2, ref_missing)):
        values = inputs[column].astype("Int64").to_numpy(dtype="float64", na_value=np.nan)
        values[hidden] = stand_in
        inputs[column] = values.astype("int64")
    inputs = inputs.drop(columns=[c for c in GAP_STATISTIC_COLUMNS if c in inputs.columns])
    result = add_statistics(inputs, confidence=confidence)
    if len(result) != len(work):
        raise ValueError("add_statistics changed the number of rows")
    result = result.reset_index(drop=True)

    out = frame.reset_index(drop=True).copy()
    for column in count_columns:
        out[column] = work[column]
    for column in GAP_STATISTIC_COLUMNS:
        if column not in columns:
            continue
        if column not in result.columns:
            raise ValueError(f"add_statistics did not compute {column!r}")
        if column == "gap_assessment":
            values = result[column].astype("object").to_numpy(copy=True)
            values[own_missing | ref_missing] = "not calculable"
            values[is_reference.to_numpy()] = "reference"
            out[column] = pd.Series(values, dtype=frame[column].dtype)
            continue
        values = pd.to_numeric(result[column], errors="coerce").astype("Float64") \
            .to_numpy(dtype="float64", na_value=np.nan)
        values[own_missing] = np.nan
        if column in _COMPARISONS:
            values[ref_missing] = np.nan
        if column in DERIVED_COUNT_COLUMNS:
            values = round_to_base(values)
        out[column] = values
    out.index = frame.index
    return out[columns]


def count_value_problem(text: str, rule: DisclosureRule, derived: bool = False) -> str | None:
    """Why a count as written in a CSV field breaks `rule` (None if it does not).

    Empty is allowed (missing); ``*`` only under a suppressing rule. Counts must be 0 or whole
    multiples of 5; of the values 1..7 only 5 may appear, and only under ``msds`` (where it
    stands for any count from 1 to 7; under ``hes`` a 5 cannot arise, so one is a leak). A
    derived count (excess_events) may be negative, and may be 5 or -5 under either rule.
    """
    value = text.strip()
    if value == "":
        return None
    if value == SUPPRESSED_MARK:
        return None if rule.suppresses else f"'{SUPPRESSED_MARK}' although the {rule.name} rule never suppresses"
    try:
        number = float(value)
    except ValueError:
        return f"{value!r} is not a number"
    if not math.isfinite(number) or number != math.floor(number):
        return f"{value!r} is not a whole number"
    if number < 0 and not derived:
        return f"{value!r} is negative"
    if 1 <= abs(number) <= SMALL_MAX and not (abs(number) == BASE and (derived or not rule.suppresses)):
        return f"{value!r} is a count from 1 to {SMALL_MAX}"
    if int(number) % BASE:
        return f"{value!r} is not a multiple of {BASE}"
    return None


def pinned_parts(parts: Sequence[int | None], total: int | None, rule: DisclosureRule) -> list[tuple[int, int]]:
    """What an attacker can infer about each part from published parts and their published total.

    Interval arithmetic over `DisclosureRule.true_range`: part i lies in its own range and in
    [total_low - sum of the others' highs, total_high - sum of the others' lows]. Returns the
    inclusive (low, high) bounds per part; low == high means the part is disclosed exactly.
    Sound (the truth always lies inside) and, for one relation, as tight as integer bounds get.
    """
    ranges = [rule.true_range(p) for p in parts]
    total_low, total_high = rule.true_range(total)
    sum_low = sum(r[0] for r in ranges)
    sum_high = sum(r[1] for r in ranges)
    bounds = []
    for low, high in ranges:
        others_low, others_high = sum_low - low, sum_high - high
        bounds.append((max(low, total_low - others_high), min(high, total_high - others_low)))
    return bounds
