"""Disclosure control for evaluation extracts: no count from 1 to 7 ever leaves the warehouse.

Pure functions over pandas; `publish/release.py` applies them to every table it extracts.

The rules (``../shared/spec/warehouse-interface.md``, "Evaluation extracts")
---------------------------------------------------------------------------
Both rules round every count the same way, to its *working value*: 0 stays 0; 1 to 7 becomes 5;
everything else is rounded to the nearest multiple of 5. Counts are whole numbers, so a count is
never exactly halfway between two multiples of 5 (n / 5 ends in .0, .2, .4, .6 or .8) and no
tie-breaking rule is needed; the formula used, ``5 * floor((n + 2) / 5)``, is "round half up"
should anyone ever feed it a half. So 8 -> 10, 10 -> 10, 12 -> 10, 13 -> 15. The error is at most
2 for counts of 8 or more and at most 4 for 1 to 7 (1 -> 5). Under both rules a count from 1 to 7
is *hidden*: its cell is never shown (`DisclosureRule.hides_small_counts`). The rules differ only
in what happens to the statistics that need such a count:

``msds`` (default; NHS England's maternity statistics convention)
    The hidden count is taken as 5 (its working value) wherever rates, intervals, ratios,
    differences, excess events and completeness are recomputed, so those statistics are shown,
    computed from 5; they are indicative only, since the true count may be anything from 1 to 7.
``hes`` (Hospital Episode Statistics style)
    The hidden count has no working value (`DisclosureRule.suppresses`): the statistics that
    need it are left empty.

`DisclosureRule.protect` gives a count as shown, `DisclosureRule.working_count` the value the
statistics are computed from; `protect_counts` and `working_counts` do the same for a column.

Reconciling the spec with itself and with the acceptance check
    The spec says "1 to 7 becomes 5 ... and rates and intervals are recomputed from the rounded
    counts" and also "An extract never holds a count from 1 to 7"; the acceptance check
    (``../shared/acceptance/check_interface.py``) rejects every count column value from 1 to 7,
    5 included. Both sentences hold, and the check passes, if the 5 that MSDS substitutes for a
    count of 1 to 7 is used for the arithmetic but never shown. So under ``msds`` a count of 1
    to 7 is shown exactly as under ``hes`` (``*`` / null), while the statistics of its row are
    computed from 5 instead of being withheld. No count column of any extract file under either
    rule holds a value from 1 to 7, and ``5`` never appears in one (`count_value_problem`). A
    partner can get the 5 back from a shown rate and denominator (rate x denominator /
    multiplier); that tells them only what the ``*`` says, that the count is from 1 to 7.

How a hidden count is represented (both rules)
    * pandas (what `apply_disclosure` returns): ``pd.NA`` in a nullable ``Int64`` column;
      `suppressed_cells` tells a hidden cell from a count that was already missing.
    * Parquet: null. The marts never hold a null count, so in practice null means hidden; the
      README of the release says so.
    * CSV: the literal ``*``. A count that was missing in the warehouse is an empty field, as is
      every statistic that cannot be shown.

Counts and what is recomputed from them
    * Count columns are protected: numerator, denominator, denominator_total, denominator_known,
      reference_numerator, reference_denominator (`KNOWN_COUNT_COLUMNS`; the release also
      treats any column of those names as a count even if a table spec forgets to declare it).
      Counts must be whole numbers >= 0; anything else raises rather than being published.
    * Proportions of counts (``completeness`` = denominator_known / denominator_total) are
      recomputed from the working values (under ``hes``: empty if either count is hidden); a
      table holding such a proportion without the counts it is made of is refused, since the
      true proportion of two small counts can give them away.
    * gap_metrics (`protect_gap_metrics`): numerator, denominator and the reference group's
      numerator and denominator are rounded to their working values, then every rate, interval,
      ratio, difference, excess_events and gap_assessment is recomputed from them by
      ``publish.gap_metrics.add_statistics`` (imported lazily), and the counts from 1 to 7 are
      hidden. A numeric column it does not know how to protect is refused. Under ``msds`` every
      row keeps its statistics. Under ``hes``, a row whose own count is hidden gets null
      statistics (and gap_assessment ``not calculable``, or ``reference`` for the reference
      row); a row whose reference group's count is hidden keeps its own rate and interval but
      gets null comparisons.
    * excess_events (numerator - denominator x reference proportion) is kept, because it is a
      column of the published table, but it is recomputed from the working values and then
      rounded to the nearest multiple of 5 (halves away from zero; it can be negative and
      fractional). Computed from working values it reveals nothing the shown counts and rates
      do not, so the final rounding is not what protects anyone: it avoids false precision and
      keeps any value from 1 to 7 other than +-5 out of the extract. It may be 5 or -5 under
      either rule; that is left as is: it is a difference between observed and expected
      events, not a count of anyone (check_interface.py does not treat it as one), and hiding
      a 5 there would hide nothing, since the rates of the same row give it back. Dropping
      the column was rejected because the extract would then differ from the published table
      the interface defines.
    * A rate, interval or ratio shown is the one the working values give: the partner can
      recompute every statistic from the extract itself, taking a ``*`` as 5 under ``msds``.
    * Rounding is monotone, so numerator <= denominator and known <= total still hold for the
      working values, rates stay within 0..multiplier and completeness within 0..1; a count is
      0 after rounding only if it was 0.

What the rule guarantees, and the attack it does not stop
---------------------------------------------------------
Guaranteed (and property-tested): every shown count is 0 or a multiple of 5 that is at least
10; a count from 1 to 7 is hidden (``*`` / null) under both rules, so no shown count is from 1
to 7 and a 5 in a count column is a leak under either rule (`count_value_problem` says so).
Every working value is 0, 5 (for 1..7, ``msds`` only) or a multiple of 5, so even an attacker
who takes a hidden count back as 5 from its row's rate finds that a total minus the sum of its
other parts is a multiple of 5: the naive differencing attack (total - others = the small cell)
cannot produce 1, 2, 3, 4, 6 or 7, and it produces 5 for a small cell only where that cell is
hidden anyway.

Not guaranteed: that a small cell cannot be recovered exactly. Rounding is deterministic and
each shown value says which interval the true value lies in (`DisclosureRule.true_range`:
0 -> 0, hidden -> 1..7, 10 -> 8..12, 5k -> 5k-2..5k+2). An attacker who adds up those intervals
along a relation "total = sum of parts" can pin a cell down:

* one total with three parts: parts 1, 8, 8 show as *, 10, 10 and their total 17 as 15.
  The other two parts are at least 8 + 8 = 16 and the total at most 17, so the small cell is
  exactly 1 (and the other two exactly 8). Exhaustive search finds no such case with one or
  two parts (parts 0..39, in the tests) and finds cases with every number of parts from three
  to seven (parts 0..19). `pinned_parts` does the interval arithmetic; tests/test_disclosure.py
  shows both results.
* two overlapping totals (a row and a column total of a two-way table): cells 6, 7, 1 with
  6 + 7 = 13 -> 15 and 6 + 1 = 7 -> * give 6 >= 13 - 7 and 6 <= 7 - 1, so exactly 6.
* a total of 1..7 (hidden) over seven parts each hidden: every part is exactly 1.

The warehouse publishes many such relations: gap_metrics' ethnic group counts are sums of
fct_measure_monthly's ethnic code counts (White = A + B + C); LAN rows are sums of site rows;
quarters, rolling 12 months and programme phases are sums of months; denominator_total =
known + not stated + not known. So an extract holding several of these tables, rounded cell by
cell as the spec requires, can in some configurations let a determined analyst recover a small
count exactly. Both rules have this weakness, since they hide the same cells and a ``*``
still means 1..7 (under ``msds`` the working value 5 that a rate gives back says no more). Any set of
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
    "working_counts",
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
KNOWN_COUNT_COLUMNS = frozenset(
    {
        "numerator",
        "denominator",
        "denominator_total",
        "denominator_known",
        "reference_numerator",
        "reference_denominator",
    }
)
# Count-like values derived from counts: recomputed from rounded counts, then rounded to BASE.
DERIVED_COUNT_COLUMNS = frozenset({"excess_events"})
# What add_statistics (re)computes; each one present in a gap_metrics table is replaced.
GAP_STATISTIC_COLUMNS = (
    "rate",
    "rate_lower_95",
    "rate_upper_95",
    "reference_rate",
    "rate_ratio",
    "rate_ratio_lower_95",
    "rate_ratio_upper_95",
    "rate_difference",
    "rate_difference_lower_95",
    "rate_difference_upper_95",
    "excess_events",
    "gap_assessment",
)
_OWN_STATISTICS = ("rate", "rate_lower_95", "rate_upper_95")
_COMPARISONS = tuple(c for c in GAP_STATISTIC_COLUMNS if c not in _OWN_STATISTICS and c != "gap_assessment")
# Inputs of add_statistics that a gap_metrics table may lack (taken from elsewhere, then dropped).
_GAP_HELPERS = ("reference_numerator", "reference_denominator", "multiplier", "higher_is_better", "is_reference")
# Numbers that are not counts of people or events (settings, calendar, counts of months) and may
# pass unchanged through a table that holds counts.
NON_COUNT_NUMERIC_COLUMNS = frozenset(
    {
        "multiplier",
        "completeness_threshold",
        "year",
        "month_number",
        "sort_order",
        "n_months",
        "months_flagged",
    }
)
# Where two gap_metrics rows are compared: the same geography, measure and period.
GAP_GROUP_KEYS = ("geography_level", "site_code", "measure_code", "period_type", "period_label")
# proportion column -> (numerator count, denominator count), recomputed after rounding.
DEFAULT_PROPORTIONS: Mapping[str, tuple[str, str]] = {"completeness": ("denominator_known", "denominator_total")}


@dataclass(frozen=True)
class DisclosureRule:
    """A named disclosure rule: ``msds`` or ``hes``; both hide counts from 1 to 7 (module docstring).

    ``msds`` computes the statistics of a hidden count as if it were 5; ``hes`` withholds them.
    """

    name: str = "msds"

    def __post_init__(self) -> None:
        if self.name not in RULE_NAMES:
            raise ValueError(f"unknown disclosure rule {self.name!r}; choose one of {', '.join(RULE_NAMES)}")

    @property
    def hides_small_counts(self) -> bool:
        """True: under every rule a count from 1 to 7 is never shown (CSV ``*``, Parquet null)."""
        return True

    @property
    def suppresses(self) -> bool:
        """True when the statistics that need a count from 1 to 7 are withheld (``hes``).

        False for ``msds``, which computes them as if the count were 5. Either way the count
        itself is hidden (`hides_small_counts`).
        """
        return self.name == "hes"

    @property
    def small_count_stand_in(self) -> int | None:
        """The working value of a count from 1 to 7: 5 under ``msds``, None (no statistics) under ``hes``."""
        return None if self.suppresses else BASE

    @property
    def suppressed_mark(self) -> str:
        """What a CSV shows for a hidden count (the same under both rules)."""
        return SUPPRESSED_MARK

    @property
    def description(self) -> str:
        """The rule in plain words, for the manifest and the README."""
        hidden = (
            f"a count of 0 is shown as 0; a count from 1 to {SMALL_MAX} is not shown ('{SUPPRESSED_MARK}' "
            f"in CSV files, null (empty) in Parquet files); every other count is rounded to the nearest "
            f"multiple of {BASE}."
        )
        if self.suppresses:
            return (
                f"HES style: {hidden} Rates, intervals, ratios, differences, excess events and completeness "
                f"are recomputed from the rounded counts, and are left empty where a count they need is "
                f"not shown."
            )
        return (
            f"NHS England maternity statistics (MSDS): {hidden} Rates, intervals, ratios, differences, "
            f"excess events and completeness are recomputed from the rounded counts; for a count that is "
            f"not shown they are computed as if it were {BASE}, NHS England's maternity statistics "
            f"convention, so they are indicative only."
        )

    def working_count(self, count: int) -> int | None:
        """The value statistics are computed from (None: withheld). Raises on a negative or fractional count.

        0 -> 0; 1..7 -> 5 under ``msds``, None under ``hes``; otherwise the nearest multiple of 5.
        Never written to a count column as such: see `protect`.
        """
        if isinstance(count, bool) or count != math.floor(count) or count < 0:
            raise ValueError(f"a count must be a whole number >= 0, got {count!r}")
        count = int(count)
        if count == 0:
            return 0
        if count <= SMALL_MAX:
            return self.small_count_stand_in
        return BASE * ((count + BASE // 2) // BASE)

    def protect(self, count: int) -> int | None:
        """One count as shown (None = hidden: ``*`` / null). Raises on a negative or fractional count."""
        value = self.working_count(count)
        return None if value == BASE else value

    def true_range(self, published: int | None) -> tuple[int, int]:
        """The true counts (inclusive bounds) that are shown as `published` (None = hidden)."""
        if published is None:
            return (1, SMALL_MAX)
        if published == 0:
            return (0, 0)
        if published % BASE or published < 0:
            raise ValueError(f"{published!r} cannot be a published count")
        if published == BASE:
            raise ValueError(f"no rule shows a count as {BASE}: a count from 1 to {SMALL_MAX} is hidden")
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
        series.dtype == object and series.map(lambda v: isinstance(v, (bool, np.bool_))).any()
    ):
        raise ValueError(f"column {column!r} holds booleans, not counts")
    numeric = pd.to_numeric(series.astype("object"), errors="coerce")
    missing = series.isna().to_numpy()
    bad = numeric.isna().to_numpy() & ~missing
    values = numeric.fillna(0).to_numpy(dtype="float64")
    bad |= (values < 0) | (values != np.floor(values)) | ~np.isfinite(values)
    if bad.any():
        example = series[bad].iloc[0]
        raise ValueError(
            f"column {column!r} holds {int(bad.sum())} value(s) that are not whole counts >= 0, e.g. {example!r}"
        )
    return values.astype("int64"), missing


def _small_and_missing(series: pd.Series, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(nearest-multiple-of-5 values as int64, mask of counts 1..7, mask of missing)."""
    values, missing = _whole_counts(series, column)
    small = (values >= 1) & (values <= SMALL_MAX) & ~missing
    return BASE * ((values + BASE // 2) // BASE), small, missing


def working_counts(series: pd.Series, rule: DisclosureRule, column: str = "count") -> pd.Series:
    """A count column's working values (`DisclosureRule.working_count`), nullable Int64, same index.

    What statistics are computed from: 1..7 is 5 under ``msds`` and <NA> under ``hes``; missing
    stays <NA>. Never published as counts (see `protect_counts`).
    """
    out, small, missing = _small_and_missing(series, column)
    out[small] = BASE
    result = pd.Series(pd.array(out, dtype="Int64"), index=series.index, name=series.name)
    result[missing | (small if rule.small_count_stand_in is None else np.zeros_like(small))] = pd.NA
    return result


def protect_counts(series: pd.Series, rule: DisclosureRule, column: str = "count") -> pd.Series:
    """A count column as shown, nullable Int64 with the same index (hidden 1..7 or missing = <NA>)."""
    out, small, missing = _small_and_missing(series, column)
    result = pd.Series(pd.array(out, dtype="Int64"), index=series.index, name=series.name)
    result[missing | small] = pd.NA
    return result


def suppressed_cells(frame: pd.DataFrame, count_columns: Iterable[str], rule: DisclosureRule) -> pd.DataFrame:
    """Boolean frame (one column per count column): True where `rule` hides the input's count (1..7).

    The same cells under both rules (`DisclosureRule.hides_small_counts`). Computed from the
    frame *before* `apply_disclosure`; it tells a hidden count (CSV ``*``) from one that was
    missing already (CSV empty).
    """
    out = {}
    for column in count_columns:
        _, small, _ = _small_and_missing(frame[column], column)
        out[column] = small if rule.hides_small_counts else np.zeros(len(frame), dtype=bool)
    return pd.DataFrame(out, index=frame.index, dtype=bool)


def _recompute_proportions(
    frame: pd.DataFrame, working: pd.DataFrame, counts: set[str], proportions: Mapping[str, tuple[str, str]] | None
) -> None:
    chosen = DEFAULT_PROPORTIONS if proportions is None else proportions
    for column, (num, den) in chosen.items():
        if column not in frame.columns:
            continue
        if num not in counts or den not in counts:
            raise ValueError(
                f"{column!r} is a proportion of {num!r} and {den!r}, which must be count columns of "
                f"the table so that it can be recomputed from rounded counts"
            )
        n = working[num].astype("Float64")
        d = working[den].astype("Float64")
        frame[column] = (n / d.where(d > 0)).astype("float64")


def apply_disclosure(
    frame: pd.DataFrame,
    count_columns: Iterable[str],
    rule: DisclosureRule,
    proportions: Mapping[str, tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """A copy of a plain count table with every count column protected by `rule`.

    Count columns come back as nullable Int64 as shown (hidden 1..7 or missing = <NA>).
    Proportions of counts (default `DEFAULT_PROPORTIONS`, applied to those present) are
    recomputed from the working values (a hidden count is 5 under ``msds``; under ``hes`` the
    proportion is <NA>); pass ``proportions={}`` for none. Other columns are unchanged.
    """
    counts = list(dict.fromkeys(count_columns))
    missing = [c for c in counts if c not in frame.columns]
    if missing:
        raise KeyError(f"count column(s) not in the table: {', '.join(missing)}")
    out = frame.copy()
    working = pd.DataFrame(index=frame.index)
    for column in counts:
        out[column] = protect_counts(frame[column], rule, column)
        working[column] = working_counts(frame[column], rule, column)
    _recompute_proportions(out, working, set(counts), proportions)
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
    raise ValueError(
        "cannot tell the reference group's rows: need is_reference, ethnic_group and reference_group, or gap_assessment"
    )


def protect_gap_metrics(
    frame: pd.DataFrame,
    rule: DisclosureRule,
    measures: pd.DataFrame | None = None,
    confidence: float = 0.95,
    statistics: Callable[..., pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """A copy of a gap_metrics-like table with protected counts and every statistic recomputed.

    Statistics come from the counts' working values (a hidden count is 5 under ``msds``; under
    ``hes`` what needs it is null); count columns come back as shown (hidden 1..7 = <NA>).

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
    unknown = [
        c
        for c in columns
        if c not in KNOWN_COUNT_COLUMNS
        and c not in GAP_STATISTIC_COLUMNS
        and c not in NON_COUNT_NUMERIC_COLUMNS
        and pd.api.types.is_numeric_dtype(frame[c].dtype)
        and not pd.api.types.is_bool_dtype(frame[c].dtype)
    ]
    if unknown:
        raise ValueError(
            f"gap_metrics column(s) {', '.join(unknown)} are numbers this module does not know how to "
            f"protect; refusing to publish them as they are"
        )
    add_statistics = statistics or _default_add_statistics()

    work = frame.reset_index(drop=True).copy()
    for column in count_columns:  # working values: what the statistics are computed from
        work[column] = working_counts(work[column], rule, column)
    is_reference = _reference_mask(work)
    work["is_reference"] = is_reference

    if not {"reference_numerator", "reference_denominator"} <= set(columns):
        keys = [k for k in (*GAP_GROUP_KEYS, "reference_group") if k in columns]
        if not keys:
            raise ValueError("no reference_numerator/reference_denominator and no keys to find the reference row by")
        reference = work.loc[is_reference, keys + ["numerator", "denominator"]]
        if reference.duplicated(keys).any():
            raise ValueError(f"more than one reference row for the same {', '.join(keys)}")
        reference = reference.rename(
            columns={"numerator": "reference_numerator", "denominator": "reference_denominator"}
        )
        merged = work.drop(columns=["reference_numerator", "reference_denominator"], errors="ignore").merge(
            reference, on=keys, how="left", validate="many_to_one"
        )
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
    for column, stand_in, hidden in (
        ("numerator", 1, own_missing),
        ("denominator", 2, own_missing),
        ("reference_numerator", 1, ref_missing),
        ("reference_denominator", 2, ref_missing),
    ):
        values = inputs[column].astype("Int64").to_numpy(dtype="float64", na_value=np.nan)
        values[hidden] = stand_in
        inputs[column] = values.astype("int64")
    inputs = inputs.drop(columns=[c for c in GAP_STATISTIC_COLUMNS if c in inputs.columns])
    result = add_statistics(inputs, confidence=confidence)
    if len(result) != len(work):
        raise ValueError("add_statistics changed the number of rows")
    result = result.reset_index(drop=True)

    out = frame.reset_index(drop=True).copy()
    for column in count_columns:  # as shown: 1..7 hidden under both rules
        out[column] = protect_counts(out[column], rule, column)
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
        values = (
            pd.to_numeric(result[column], errors="coerce").astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
        )
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

    Empty is allowed (missing), and so is ``*`` (a hidden count, under both rules). Counts must
    be 0 or whole multiples of 5 of at least 10: no value from 1 to 7 may appear, 5 included,
    since both rules hide a count from 1 to 7 rather than showing it (a 5 is a leaked working
    value). A derived count (excess_events) is never hidden, may be negative, and may be 5 or
    -5 under either rule (module docstring).
    """
    value = text.strip()
    if value == "":
        return None
    if value == SUPPRESSED_MARK:
        if derived:
            return f"'{SUPPRESSED_MARK}' although a derived count is never hidden"
        return None if rule.hides_small_counts else f"'{SUPPRESSED_MARK}' although the {rule.name} rule never hides"
    try:
        number = float(value)
    except ValueError:
        return f"{value!r} is not a number"
    if not math.isfinite(number) or number != math.floor(number):
        return f"{value!r} is not a whole number"
    if number < 0 and not derived:
        return f"{value!r} is negative"
    if 1 <= abs(number) <= SMALL_MAX and not (derived and abs(number) == BASE):
        return f"{value!r} is a count from 1 to {SMALL_MAX}"
    if int(number) % BASE:
        return f"{value!r} is not a multiple of {BASE}"
    return None


def pinned_parts(parts: Sequence[int | None], total: int | None, rule: DisclosureRule) -> list[tuple[int, int]]:
    """What an attacker can infer about each part from shown parts and their shown total (None = hidden).

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
