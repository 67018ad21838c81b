"""Disclosure control for evaluation extracts: no count from 1 to 7 ever leaves the warehouse.

The rules are applied in SQL, by the dbt macros of ``dbt_project/macros/disclosure.sql`` in the release models
(``dbt_project/models/release/``); this module is their reference in Python: the rule's name and description
for the release's manifest and README, the bounds an attacker can infer (`pinned_parts`), and the value
checks the tests hold the macros to.

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

`DisclosureRule.protect` gives a count as shown (macro ``disclosure_shown_count``),
`DisclosureRule.working_count` the value the statistics are computed from (macro ``disclosure_count``).

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
    * Release schema, Parquet and the partner's copy: null; the release models keep a
      ``<count>_hidden`` flag beside each count (not released) that tells a hidden cell from a count
      the site did not submit.
    * CSV: the literal ``*``. A count that was missing in the warehouse is an empty field, as is
      every statistic that cannot be shown.

Counts and what is recomputed from them
    * Count columns are protected: numerator, denominator, denominator_total, denominator_known,
      reference_numerator, reference_denominator: in a release model, every column with
      ``meta: {disclosure: count}``, tested by ``disclosure_safe_count``; the release's own check
      and the partner copy's asset check look at every count column again.
    * Proportions of counts (``completeness`` = denominator_known / denominator_total) are
      recomputed from the working values (under ``hes``: empty if either count is hidden), since
      the true proportion of two small counts can give them away.
    * gap_metrics: numerator, denominator and the reference group's numerator and denominator
      are rounded to their working values, then every rate, interval, ratio, difference,
      excess_events and gap_assessment is recomputed from them with the same statistics macros
      as marts.gap_metrics, and the counts from 1 to 7 are hidden. Under ``msds`` every
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
counts it narrows the number of records of unknown ethnicity a little); so do the
other numbers that are not counts of people (settings, calendar fields, gap_metrics' n_months and
months_flagged, which count months, not people).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BASE",
    "SMALL_MAX",
    "RULE_NAMES",
    "DisclosureRule",
    "rule_from_name",
    "count_value_problem",
    "pinned_parts",
]

BASE = 5
SMALL_MAX = 7
RULE_NAMES = ("msds", "hes")
SUPPRESSED_MARK = "*"


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
