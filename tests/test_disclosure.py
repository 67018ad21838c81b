"""Disclosure control (publish/disclosure.py): the rules, their guarantees, and what they do not stop.

Under both rules a count from 1 to 7 is hidden (None / <NA>; ``*`` in CSV); under msds its
statistics are computed from the working value 5, under hes they are withheld.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publish.disclosure import (
    BASE,
    SMALL_MAX,
    DisclosureRule,
    apply_disclosure,
    count_value_problem,
    pinned_parts,
    protect_counts,
    protect_gap_metrics,
    round_to_base,
    rule_from_name,
    suppressed_cells,
    working_counts,
)

MSDS = DisclosureRule("msds")
HES = DisclosureRule("hes")
RULES = [MSDS, HES]
SMALL = range(1, SMALL_MAX + 1)

try:
    from publish.gap_metrics import add_statistics as real_add_statistics
except ImportError:  # written by someone else; may not exist yet
    real_add_statistics = None
needs_gap_metrics = pytest.mark.skipif(
    real_add_statistics is None,
    reason="publish/gap_metrics.py (add_statistics) is not importable yet; these tests check the statistics "
    "recomputed from rounded counts and will run once it exists",
)

counts = st.integers(min_value=0, max_value=10**9)
small_ish = st.integers(min_value=0, max_value=60)


def stub_add_statistics(frame: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """A plain stand-in with add_statistics' signature, for testing the plumbing around it only."""
    z = 1.959963984540054
    out = frame.copy()
    x, n = out["numerator"].astype(float), out["denominator"].astype(float)
    rx, rn = out["reference_numerator"].astype(float), out["reference_denominator"].astype(float)
    m = out["multiplier"].astype(float)

    def wilson(a, b):
        b = b.where(b > 0)
        p = a / b
        centre, half = p + z * z / (2 * b), z * np.sqrt(p * (1 - p) / b + z * z / (4 * b * b))
        return (centre - half) / (1 + z * z / b), (centre + half) / (1 + z * z / b)

    lo, hi = wilson(x, n)
    out["rate"] = x / n.where(n > 0) * m
    out["rate_lower_95"], out["rate_upper_95"] = lo * m, hi * m
    out["reference_rate"] = rx / rn.where(rn > 0) * m
    ratio = out["rate"] / out["reference_rate"]
    ok = (x > 0) & (n > 0) & (rx > 0) & (rn > 0)
    se = np.sqrt((1 / x - 1 / n + 1 / rx - 1 / rn).where(ok))
    out["rate_ratio"] = ratio.where(ok)
    out["rate_ratio_lower_95"], out["rate_ratio_upper_95"] = ratio * np.exp(-z * se), ratio * np.exp(z * se)
    out["rate_difference"] = out["rate"] - out["reference_rate"]
    out["rate_difference_lower_95"] = out["rate_difference"] - 1.0
    out["rate_difference_upper_95"] = out["rate_difference"] + 1.0
    out["excess_events"] = x - n * rx / rn.where(rn > 0)
    out["gap_assessment"] = np.where(
        out["is_reference"], "reference", np.where(ok, "no clear difference", "not calculable")
    )
    return out


def check_published_count(value, rule: DisclosureRule) -> None:
    """What every published count must be: hidden, 0, or a multiple of 5 that is at least 10."""
    if value is None or value is pd.NA:
        assert rule.hides_small_counts
        return
    assert value >= 0 and value % BASE == 0
    assert not 1 <= value <= SMALL_MAX  # not even 5, under either rule


# --- the rule on one count -----------------------------------------------------------------------


@given(counts)
def test_msds_hides_1_to_7_computes_with_5_and_rounds_the_rest(n):
    out, working = MSDS.protect(n), MSDS.working_count(n)
    check_published_count(out, MSDS)
    assert (working == 0) == (n == 0) and working % BASE == 0
    if n in SMALL:
        assert out is None and working == 5  # hidden, but computed with as 5
    else:
        assert out == working
    if n >= 8:
        assert abs(out - n) <= 2 and out >= 10  # nearest multiple of 5; never back into 1..7
    assert abs(working - n) <= 4


@given(counts)
def test_hes_hides_1_to_7_withholds_its_statistics_and_rounds_the_rest(n):
    out = HES.protect(n)
    check_published_count(out, HES)
    assert out == MSDS.protect(n)  # both rules show exactly the same counts
    if n in SMALL:
        assert out is None and HES.working_count(n) is None
    else:
        assert HES.working_count(n) == MSDS.working_count(n) == out


def test_worked_examples():
    numbers = (0, 1, 2, 5, 7, 8, 10, 12, 13, 17, 18, 1234)
    assert [MSDS.working_count(n) for n in numbers] == [0, 5, 5, 5, 5, 10, 10, 10, 15, 15, 20, 1235]
    shown = [0, None, None, None, None, 10, 10, 10, 15, 15, 20, 1235]
    assert [MSDS.protect(n) for n in numbers] == [HES.protect(n) for n in numbers] == shown
    assert [HES.working_count(n) for n in (0, 1, 7, 8, 12, 13)] == [0, None, None, 10, 10, 15]


@pytest.mark.parametrize("bad", [-1, 2.5, True])
def test_a_count_must_be_a_whole_number_at_least_0(bad):
    with pytest.raises(ValueError):
        MSDS.protect(bad)
    with pytest.raises(ValueError):
        HES.working_count(bad)
    with pytest.raises(ValueError):
        protect_counts(pd.Series([3, bad], dtype="object"), MSDS, "numerator")


def test_rule_from_name():
    assert rule_from_name(" HES ") == HES
    assert rule_from_name(None) == MSDS
    assert rule_from_name(MSDS) is MSDS
    with pytest.raises(ValueError, match="msds, hes"):
        rule_from_name("round")
    assert "1 to 7" in MSDS.description and "'*'" in HES.description
    assert "'*'" in MSDS.description and "as if it were 5" in MSDS.description and "indicative" in MSDS.description
    assert "left empty" in HES.description
    assert MSDS.hides_small_counts and HES.hides_small_counts
    assert not MSDS.suppresses and HES.suppresses  # suppresses: statistics withheld
    assert MSDS.suppressed_mark == HES.suppressed_mark == "*"
    assert MSDS.small_count_stand_in == 5 and HES.small_count_stand_in is None


@given(counts, st.sampled_from(RULES))
def test_true_range_holds_every_count_that_publishes_the_same(n, rule):
    low, high = rule.true_range(rule.protect(n))
    assert low <= n <= high
    assert all(rule.protect(m) == rule.protect(n) for m in (low, high))


@pytest.mark.parametrize("rule", RULES)
def test_true_range_of_a_hidden_count_and_of_a_5(rule):
    assert rule.true_range(None) == (1, SMALL_MAX)
    with pytest.raises(ValueError, match="no rule shows a count as 5"):
        rule.true_range(5)


# --- tables --------------------------------------------------------------------------------------


@st.composite
def count_tables(draw):
    size = draw(st.integers(min_value=0, max_value=40))
    denominator = draw(st.lists(st.one_of(small_ish, counts), min_size=size, max_size=size))
    numerator = [draw(st.integers(min_value=0, max_value=d)) for d in denominator]
    known = [draw(st.integers(min_value=0, max_value=d)) for d in denominator]
    return pd.DataFrame(
        {
            "site_code": [f"S{i}" for i in range(size)],
            "numerator": numerator,
            "denominator": denominator,
            "denominator_total": denominator,
            "denominator_known": known,
            "completeness": [k / d if d else None for k, d in zip(known, denominator)],
        }
    )


@given(count_tables(), st.sampled_from(RULES))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_apply_disclosure_leaves_no_visible_count_from_1_to_7(table, rule):
    columns = ["numerator", "denominator", "denominator_total", "denominator_known"]
    out = apply_disclosure(table, columns, rule)
    hidden = suppressed_cells(table, columns, rule)
    assert hidden.equals(suppressed_cells(table, columns, MSDS if rule == HES else HES))  # same cells hidden
    assert list(out.columns) == list(table.columns) and out.index.equals(table.index)
    assert out["site_code"].equals(table["site_code"])
    for column in columns:
        assert str(out[column].dtype) == "Int64"
        for before, after, was_hidden in zip(table[column], out[column], hidden[column]):
            check_published_count(None if after is pd.NA else int(after), rule)
            assert was_hidden == (after is pd.NA) == (before in SMALL)
            if after is not pd.NA:
                assert after == MSDS.protect(before)
    working = {c: working_counts(table[c], rule, c) for c in columns}
    for column in columns:  # working values: shown counts, and 5 (msds) or <NA> (hes) where hidden
        expected_working = out[column].mask(hidden[column], rule.small_count_stand_in)
        assert working[column].astype("Float64").fillna(-1).equals(expected_working.astype("Float64").fillna(-1))
    known = working["numerator"].notna() & working["denominator"].notna()
    assert (working["numerator"][known] <= working["denominator"][known]).all()  # rounding is monotone
    # completeness is recomputed from the working values, so it stays within 0..1
    expected = working["denominator_known"].astype("Float64") / working["denominator_total"].astype("Float64")
    expected = expected.where(working["denominator_total"].astype("Float64") > 0).astype("float64")
    assert np.allclose(out["completeness"].to_numpy(float), expected.to_numpy(float), equal_nan=True)
    assert ((out["completeness"].dropna() >= 0) & (out["completeness"].dropna() <= 1)).all()
    if not rule.suppresses:  # msds: completeness is there wherever the total is above 0
        assert out["completeness"].notna().tolist() == (table["denominator_total"] > 0).tolist()


def test_apply_disclosure_keeps_missing_counts_missing_and_accepts_any_numeric_dtype():
    table = pd.DataFrame(
        {"numerator": pd.array([None, 3, 40], dtype="Int64"), "denominator": np.array([4.0, 9.0, 41.0])}
    )
    for rule in RULES:
        out = apply_disclosure(table, ["numerator", "denominator"], rule)
        assert out["numerator"].tolist() == [pd.NA, pd.NA, 40] and out["denominator"].tolist() == [pd.NA, 10, 40]
        assert suppressed_cells(table, ["numerator"], rule)["numerator"].tolist() == [False, True, False]
        assert suppressed_cells(table, ["denominator"], rule)["denominator"].tolist() == [True, False, False]
    assert working_counts(table["numerator"], MSDS).tolist() == [pd.NA, 5, 40]
    assert working_counts(table["numerator"], HES).tolist() == [pd.NA, pd.NA, 40]


def test_completeness_of_a_hidden_count_is_computed_from_5_under_msds_only():
    table = pd.DataFrame({"denominator_total": [50, 4], "denominator_known": [3, 4], "completeness": [0.06, 1.0]})
    columns = ["denominator_total", "denominator_known"]
    msds, hes = apply_disclosure(table, columns, MSDS), apply_disclosure(table, columns, HES)
    for out in (msds, hes):
        assert out["denominator_known"].tolist() == [pd.NA, pd.NA]
        assert out["denominator_total"].tolist() == [50, pd.NA]
    assert msds["completeness"].tolist() == [0.1, 1.0]  # 5 / 50 and 5 / 5
    assert hes["completeness"].isna().all()


def test_apply_disclosure_refuses_a_proportion_it_cannot_recompute():
    table = pd.DataFrame({"denominator_total": [9], "denominator_known": [2], "completeness": [2 / 9]})
    with pytest.raises(ValueError, match="completeness"):
        apply_disclosure(table, ["denominator_total"], MSDS)
    with pytest.raises(KeyError):
        apply_disclosure(table, ["numerator"], MSDS)


@given(st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), max_size=30))
def test_round_to_base_gives_multiples_of_5_within_2_5(values):
    out = round_to_base(values)
    assert np.all(np.mod(out, BASE) == 0) and np.all(np.abs(out - np.asarray(values, float)) <= 2.5)
    assert not np.any(np.signbit(out) & (out == 0))


@pytest.mark.parametrize("rule", RULES)
def test_count_value_problem(rule):
    for text in ("", "*", "0", "10", "10.0", "1235"):
        assert count_value_problem(text, rule) is None, text
    for text in ("1", "3", "5", "5.0", "7", "7.0", "12", "2.5", "-5", "-10", "x"):
        assert count_value_problem(text, rule), text
    assert "from 1 to 7" in count_value_problem("5", rule)  # no rule shows 5: a 5 is a leaked working value
    for text in ("5", "-5.0", "0", "-10", "15"):
        assert count_value_problem(text, rule, derived=True) is None, text
    for text in ("-3.0", "2", "*", "2.5"):
        assert count_value_problem(text, rule, derived=True), text


# --- totals and parts: what can and cannot be worked out ------------------------------------------


@given(st.lists(small_ish, min_size=1, max_size=12), st.sampled_from(RULES))
def test_total_minus_other_parts_never_shows_a_small_count(parts, rule):
    """The naive attack: total minus the other parts, each taken at the most an attacker can get.

    That is the working value: the shown count, or under msds the 5 that a hidden count's rate
    gives back (rate x denominator / multiplier). Under hes a hidden count cannot be subtracted.
    """
    total = rule.working_count(sum(parts))
    known = [rule.working_count(p) for p in parts]
    if total is None or any(p is None for p in known):
        return
    for i, part in enumerate(parts):
        difference = total - (sum(known) - known[i])
        assert difference % BASE == 0  # so never 1, 2, 3, 4, 6 or 7
        if part in SMALL and difference == BASE:
            assert rule.protect(part) is None  # it says no more than the hidden cell's own row


@given(st.lists(small_ish, min_size=1, max_size=12), st.sampled_from(RULES))
def test_pinned_parts_is_sound(parts, rule):
    bounds = pinned_parts([rule.protect(p) for p in parts], rule.protect(sum(parts)), rule)
    assert all(low <= part <= high for part, (low, high) in zip(parts, bounds))


@pytest.mark.parametrize("rule", RULES)
def test_a_total_with_one_or_two_parts_never_pins_a_small_count(rule):
    for size in (1, 2):
        for parts in itertools.product(range(0, 40), repeat=size):
            bounds = pinned_parts([rule.protect(p) for p in parts], rule.protect(sum(parts)), rule)
            for part, (low, high) in zip(parts, bounds):
                if part in SMALL:
                    assert low < high, parts


@pytest.mark.parametrize("rule", RULES)
def test_known_limitation_three_parts_and_a_total_can_pin_a_small_count(rule):
    """Documented in publish/disclosure.py: cell-by-cell rounding does not stop interval reasoning.

    1, 8, 8 show as *, 10, 10 and their total 17 as 15: the others are at least 16, the
    total at most 17, so the first part is exactly 1. If this starts failing, the rule changed:
    update the module docstring and the README text.
    """
    parts = [1, 8, 8]
    bounds = pinned_parts([rule.protect(p) for p in parts], rule.protect(sum(parts)), rule)
    assert bounds == [(1, 1), (8, 8), (8, 8)]
    # the two-way table example of the docstring: 6 + 7 = 13 -> 15 and 6 + 1 = 7 -> 5
    row = pinned_parts([rule.protect(6), rule.protect(7)], rule.protect(13), rule)[0]
    column = pinned_parts([rule.protect(6), rule.protect(1)], rule.protect(7), rule)[0]
    assert max(row[0], column[0]) == min(row[1], column[1]) == 6


# --- gap metrics ---------------------------------------------------------------------------------


def gap_frame(rows) -> pd.DataFrame:
    """rows: (site, ethnic_group, numerator, denominator); reference group White; PPH1500 per 1000."""
    frame = pd.DataFrame(rows, columns=["site_code", "ethnic_group", "numerator", "denominator"])
    frame.insert(0, "geography_level", np.where(frame["site_code"] == "LAN", "lan", "site"))
    frame.insert(2, "measure_code", "PPH1500")
    frame.insert(3, "period_type", "month")
    frame.insert(4, "period_label", "2024-03")
    frame["reference_group"] = "White"
    for column in (
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
    ):
        frame[column] = 123.456  # stands for statistics computed from the true counts
    frame["gap_assessment"] = np.where(frame["ethnic_group"] == "White", "reference", "worse")
    return frame


MEASURES = pd.DataFrame({"measure_code": ["PPH1500"], "multiplier": [1000], "higher_is_better": [False]})
ROWS = [
    ("BARTS", "White", 9, 412),
    ("BARTS", "Asian or Asian British", 3, 88),
    ("BARTS", "Black or Black British", 0, 57),
    ("BSOL", "White", 2, 9),
    ("BSOL", "Asian or Asian British", 13, 301),
    ("LAN", "White", 11, 421),
    ("LAN", "Asian or Asian British", 16, 389),
]


@pytest.mark.parametrize("rule", RULES)
def test_protect_gap_metrics_rounds_counts_and_recomputes_statistics(rule):
    frame = gap_frame(ROWS)
    out = protect_gap_metrics(frame, rule, measures=MEASURES, statistics=stub_add_statistics)
    assert list(out.columns) == list(frame.columns) and len(out) == len(frame)
    assert (
        out.drop(columns=[c for c in frame.columns if frame[c].dtype == float]).columns
        == frame.drop(columns=[c for c in frame.columns if frame[c].dtype == float]).columns
    ).all()
    for value in [*out["numerator"], *out["denominator"]]:
        check_published_count(None if value is pd.NA else int(value), rule)
    assert not (out.select_dtypes("float") == 123.456).any().any()  # nothing from the true counts
    working = {
        c: out[c].astype("Float64").fillna(np.nan if rule.suppresses else 5).astype(float)
        for c in ("numerator", "denominator")
    }  # no count is missing here: <NA> means hidden
    rate = working["numerator"] / working["denominator"] * 1000
    assert np.allclose(out["rate"], rate, equal_nan=True)
    excess = out["excess_events"].dropna()
    assert (excess % BASE == 0).all()
    assert (out.loc[frame["ethnic_group"] == "White", "gap_assessment"] == "reference").all()
    barts_asian = out.iloc[1]
    reference_rate = 10 / 410 * 1000
    # its numerator 3 is hidden under both rules, and so is the numerator of BSOL's reference group (2 of 9)
    assert barts_asian["numerator"] is pd.NA and barts_asian["denominator"] == 90
    bsol_white, bsol_asian = out.iloc[3], out.iloc[4]
    assert bsol_white["numerator"] is pd.NA and bsol_white["denominator"] == 10
    assert bsol_asian["rate"] == pytest.approx(15 / 300 * 1000)  # its own counts are shown under both rules
    if rule.suppresses:  # hes: no statistics that need a hidden count
        assert np.isnan(barts_asian["rate"]) and barts_asian["gap_assessment"] == "not calculable"
        assert np.isnan(bsol_white["rate"]) and bsol_white["gap_assessment"] == "reference"
        assert np.isnan(bsol_asian["reference_rate"]) and np.isnan(bsol_asian["rate_ratio"])
        assert np.isnan(bsol_asian["excess_events"]) and bsol_asian["gap_assessment"] == "not calculable"
    else:  # msds: the hidden counts are computed with as 5
        assert barts_asian["rate"] == pytest.approx(5 / 90 * 1000)
        assert barts_asian["reference_rate"] == pytest.approx(reference_rate)
        assert barts_asian["excess_events"] == round_to_base([5 - 90 * 10 / 410])[0]
        assert barts_asian["gap_assessment"] != "not calculable"
        assert bsol_white["rate"] == pytest.approx(5 / 10 * 1000) and bsol_white["gap_assessment"] == "reference"
        assert bsol_asian["reference_rate"] == pytest.approx(5 / 10 * 1000)
        assert bsol_asian["rate_ratio"] == pytest.approx((15 / 300) / (5 / 10))
        assert bsol_asian["excess_events"] == round_to_base([15 - 300 * 5 / 10])[0] == -135
        assert out[["rate", "rate_lower_95", "rate_upper_95", "reference_rate"]].notna().all().all()


def test_protect_gap_metrics_uses_reference_columns_when_present_and_keeps_the_index():
    frame = gap_frame(ROWS[:3]).assign(multiplier=1000, higher_is_better=False)
    frame["reference_numerator"], frame["reference_denominator"] = 9, 412
    frame.index = [10, 11, 12]
    out = protect_gap_metrics(frame, MSDS, statistics=stub_add_statistics)
    assert out.index.tolist() == [10, 11, 12]
    assert out["reference_numerator"].tolist() == [10] * 3 and out["reference_denominator"].tolist() == [410] * 3
    frame["reference_numerator"] = 4  # a hidden reference count: computed with as 5, never shown
    for rule in RULES:
        out = protect_gap_metrics(frame, rule, statistics=stub_add_statistics)
        assert out["reference_numerator"].isna().all()
        if rule.suppresses:
            assert out["reference_rate"].isna().all()
        else:
            assert np.allclose(out["reference_rate"], 5 / 410 * 1000)


def test_protect_gap_metrics_refuses_what_it_cannot_protect():
    with pytest.raises(ValueError, match="mean_age"):
        protect_gap_metrics(gap_frame(ROWS).assign(mean_age=31.5), MSDS, MEASURES, statistics=stub_add_statistics)
    with pytest.raises(ValueError, match="multiplier"):
        protect_gap_metrics(gap_frame(ROWS), MSDS, statistics=stub_add_statistics)
    with pytest.raises(ValueError, match="more than one reference row"):
        protect_gap_metrics(gap_frame(ROWS + [ROWS[0]]), MSDS, MEASURES, statistics=stub_add_statistics)


@needs_gap_metrics
@pytest.mark.parametrize("rule", RULES)
def test_protect_gap_metrics_statistics_are_add_statistics_of_the_rounded_counts(rule):
    frame = gap_frame(ROWS)
    out = protect_gap_metrics(frame, rule, measures=MEASURES)
    rounded = frame.assign(
        numerator=[MSDS.working_count(n) for n in frame["numerator"]],
        denominator=[MSDS.working_count(n) for n in frame["denominator"]],
        multiplier=1000,
        higher_is_better=False,
        is_reference=frame["ethnic_group"] == "White",
    )
    reference = rounded[rounded["is_reference"]].set_index("site_code")
    rounded["reference_numerator"] = rounded["site_code"].map(reference["numerator"])
    rounded["reference_denominator"] = rounded["site_code"].map(reference["denominator"])
    expected = real_add_statistics(rounded.drop(columns=["rate", "gap_assessment"]))
    visible = ~frame["numerator"].between(1, SMALL_MAX) | (not rule.suppresses)
    visible &= ~rounded["site_code"].eq("BSOL") | (not rule.suppresses)
    for column in (
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
    ):
        assert np.allclose(
            out.loc[visible, column].to_numpy(float),
            pd.to_numeric(expected.loc[visible, column]).to_numpy(float),
            equal_nan=True,
        ), column
    assert np.allclose(
        out.loc[visible, "excess_events"].to_numpy(float),
        round_to_base(expected.loc[visible, "excess_events"]),
        equal_nan=True,
    )
    assert (out.loc[visible, "gap_assessment"] == expected.loc[visible, "gap_assessment"]).all()
    assert ((out["rate"].isna()) | (out["rate"] >= out["rate_lower_95"] - 1e-9)).all()
