"""Disclosure control (publish/disclosure.py, the Python reference of the dbt macros that apply it; the macros are
held to it in tests/test_release.py): the rules, their guarantees, and what they do not stop.

Under both rules a count from 1 to 7 is hidden (None / <NA>; ``*`` in CSV); under msds its
statistics are computed from the working value 5, under hes they are withheld.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publish.disclosure import (
    BASE,
    SMALL_MAX,
    DisclosureRule,
    count_value_problem,
    pinned_parts,
    rule_from_name,
)

MSDS = DisclosureRule("msds")
HES = DisclosureRule("hes")
RULES = [MSDS, HES]
SMALL = range(1, SMALL_MAX + 1)


counts = st.integers(min_value=0, max_value=10**9)
small_ish = st.integers(min_value=0, max_value=60)


def check_published_count(value, rule: DisclosureRule) -> None:
    """What every published count must be: hidden, 0, or a multiple of 5 that is at least 10."""
    if value is None:
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
