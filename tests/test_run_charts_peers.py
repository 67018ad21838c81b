"""The test oracles (tests/oracles/: literal ports of qicharts2 and NHSRplotthedots) and production's `anhoej_limits`
against the numbers printed or stored by the peer packages (see tests/peers/SOURCES.md). tests/test_run_charts.py then
checks the production engine against these oracles, and its p-chart limits against qicharts2's rows directly.

Covered, with the number of peer rows each test checks (the tests assert these counts):

* spc_runs_limits_anhoej.csv: all 91 rows (n = 10..100), `*_docs` and `*_computed` columns -> `anhoej_limits`.
* spc_qicharts2_expected_points.csv: all 13 cases, 420 points. Per point: y, cl, lcl, ucl (1e-9 relative), sigma_signal,
  part, baseline, include and the runs analysis (n_obs, n_useful, longest_run, longest_run_max, n_crossings,
  n_crossings_min, runs_signal) -> `qic`. Chart types: xbar (3 cases, one with NA observations), s (2), i with
  freeze, mr with freeze, p (2: varying n; exclude + part), c with exclude + freeze, u (2: one with multiply), t.
* spc_qicharts2_expected_summary_hai.csv: all 25 summary rows (hai_1..hai_4, u charts, facets, multiply, factor x)
  -> runs analysis, aLCL/CL/aUCL (1e-9 relative), runs_signal and sigma_signal counts.
* spc_rules_plotthedots.csv: all 41 rows. There are 39 rule vectors (7-point one side, part of 7, 7-point trend,
  2 in 3, part of 2 in 3, 8 nhspy trend vectors), the end-to-end opposite-sides case and the precedence definition.
  The precedence row is a definition, not a vector; we check it on constructed series where several rules fire.
* spc_xmr_limits_plotthedots.csv: all 14 rows, at their printed precision (7 or 3 significant digits, or exact float
  equality for the nhspy tuples, or 2 dp / 0 dp for the nhspy demo), plus the point-level statements in
  `expected_points`.

Skipped, and why:

* qicharts2 `method = 'bestbox'` / `'cutbox'` (the `bestbox_*` / `cutbox_*` columns of spc_runs_limits_anhoej.csv):
  not implemented. The maternity reports use qicharts2's default `method = 'anhoej'`.
* No peer vector exists for qicharts2's 'run' chart itself. Its centre (the median of the baseline) is covered by
  tests/test_run_charts.py, and the runs analysis it feeds is the same code checked here on all 13 + 25 cases.
* The qicharts2 `notes` column (free text attached to points): the charts annotate the sites' reported changes
  instead (publish/charts.py).
* The nhspy demo case's `relative_to_mean` uses nhspy's own convention (+1 if value >= mean). PTD uses sign(), which
  we follow, so that column is not compared. Its special-cause flags agree anyway.
* IHI run-chart rules: none of the peers publishes vectors for them. They are tested in tests/test_run_charts.py
  against worked examples from Perla et al. 2011.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from publish.run_charts import anhoej_limits
from tests.oracles.plotthedots import (
    ptd_part_of_seven_trend,
    ptd_part_of_two_in_three,
    ptd_seven_point_one_side_mean,
    ptd_seven_point_trend,
    ptd_spc,
    ptd_two_in_three,
    xmr_limits,
)
from tests.oracles.qicharts2 import qic

REF = Path(__file__).parent / "peers"


def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / name)


def _vec(s) -> np.ndarray:
    return np.array([float(v) for v in str(s).split(";")])


# --------------------------------------------------------------------------------------------------------------------
# Anhøj limits
# --------------------------------------------------------------------------------------------------------------------


def test_anhoej_limits_every_docs_row():
    t = _csv("spc_runs_limits_anhoej.csv")
    assert len(t) == 91 and t["n_useful"].tolist() == list(range(10, 101))
    checked = 0
    for r in t.itertuples():
        lr, cr = anhoej_limits(r.n_useful)
        assert (lr, cr) == (r.longest_run_max_docs, r.n_crossings_min_docs), r.n_useful
        assert (lr, cr) == (r.longest_run_max_computed, r.n_crossings_min_computed), r.n_useful
        checked += 1
    assert checked == 91


def test_anhoej_limits_small_n_match_r():
    # R: round(log2(1:9)) + 3 and qbinom(0.05, 0:8, 0.5)
    assert [anhoej_limits(n) for n in range(1, 10)] == [
        (3, 0),
        (4, 0),
        (5, 0),
        (5, 0),
        (5, 0),
        (6, 1),
        (6, 1),
        (6, 1),
        (6, 2),
    ]


# --------------------------------------------------------------------------------------------------------------------
# qicharts2 expected points
# --------------------------------------------------------------------------------------------------------------------

QIC_FLOAT_COLS = ["y", "cl", "lcl", "ucl"]
QIC_EXACT_COLS = [
    "sigma_signal",
    "part",
    "baseline",
    "include",
    "n_obs",
    "n_useful",
    "longest_run",
    "longest_run_max",
    "n_crossings",
    "n_crossings_min",
    "runs_signal",
]
QIC_CASES = {  # case_id -> (chart, expected number of points)
    "ex_6.3_1": ("xbar", 25),
    "ex_6.3_2": ("s", 25),
    "ex_6.4_1": ("xbar", 25),
    "ex_6.4_2": ("s", 25),
    "ex_6.5_3": ("i", 40),
    "ex_6.5_4": ("mr", 40),
    "ex_7.1_5": ("p", 94),
    "tbl_7.4_1": ("p", 25),
    "ex_7.3_3": ("c", 46),
    "ex_7.4_1": ("u", 20),
    "ex_7.5_1": ("u", 10),
    "ex_7.6_1": ("t", 20),
    "NA_test": ("xbar", 25),
}


def _qic_args(call: str) -> dict:
    """Translate the recorded R call into qic() keyword arguments (exclude becomes 0-based)."""
    a: dict = {"chart": re.search(r"chart = '(\w+)'", call).group(1)}
    if m := re.search(r"freeze = (\d+)", call):
        a["freeze"] = int(m.group(1))
    if m := re.search(r"part = (\d+)", call):
        a["part"] = [int(m.group(1))]
    if m := re.search(r"exclude = c\(([\d, ]+)\)", call):
        a["exclude"] = [int(v) - 1 for v in m.group(1).split(",")]
    if m := re.search(r"multiply = (\d+)", call):
        a["multiply"] = int(m.group(1))
    leftover = re.sub(r"(chart|freeze|part|exclude|multiply|data|notes) = [^,)]+(\([^)]*\))?", "", call)
    assert "=" not in leftover, f"unhandled qic argument in {call}"
    return a


@pytest.fixture(scope="module")
def qic_expected() -> pd.DataFrame:
    return _csv("spc_qicharts2_expected_points.csv")


@pytest.fixture(scope="module")
def qic_inputs() -> pd.DataFrame:
    return _csv("spc_qicharts2_inputs.csv")


def test_qicharts2_case_inventory(qic_expected):
    got = {c: (g["chart"].iloc[0], len(g)) for c, g in qic_expected.groupby("case_id")}
    assert got == QIC_CASES
    assert len(qic_expected) == 420


@pytest.mark.parametrize("case_id", sorted(QIC_CASES))
def test_qicharts2_expected_points(case_id, qic_expected, qic_inputs):
    exp = qic_expected[qic_expected["case_id"] == case_id].reset_index(drop=True)
    chart, n_points = QIC_CASES[case_id]
    assert len(exp) == n_points
    tab = qic_inputs[qic_inputs["table"] == exp["input_table"].iloc[0]].sort_values("row")
    assert len(tab) > 0
    args = _qic_args(exp["qic_call"].iloc[0])
    assert args["chart"] == chart
    n = tab["n"].to_numpy(dtype=float) if tab["n"].notna().any() else None
    got = qic(tab["y"].to_numpy(dtype=float), n=n, x=tab["x"].to_numpy(), **args)
    assert len(got) == n_points
    np.testing.assert_array_equal(got["x"].to_numpy(dtype=float), exp["x"].to_numpy(dtype=float))
    for col in QIC_FLOAT_COLS:
        np.testing.assert_allclose(
            got[col].to_numpy(dtype=float),
            exp[col].to_numpy(dtype=float),
            rtol=1e-9,
            atol=0,
            equal_nan=True,
            err_msg=f"{case_id}.{col}",
        )
    for col in QIC_EXACT_COLS:
        e = exp[col].astype(float).to_numpy()
        g = pd.Series(got[col]).astype(float).to_numpy()
        np.testing.assert_array_equal(g, e, err_msg=f"{case_id}.{col}")


# --------------------------------------------------------------------------------------------------------------------
# qicharts2 hospital infections summaries (u charts)
# --------------------------------------------------------------------------------------------------------------------


def _summary(d: pd.DataFrame) -> dict:
    """qicharts2 summary.qic() for one facet with one part."""
    assert d["part"].nunique() == 1
    return dict(
        part=int(d["part"].iloc[0]),
        n_obs=d["n_obs"].iloc[0],
        n_useful=d["n_useful"].iloc[0],
        longest_run=d["longest_run"].iloc[0],
        longest_run_max=d["longest_run_max"].iloc[0],
        n_crossings=d["n_crossings"].iloc[0],
        n_crossings_min=d["n_crossings_min"].iloc[0],
        runs_signal=int(d["runs_signal"].max()),
        aLCL=d["lcl"].mean(),
        CL=d["cl"].mean(),
        aUCL=d["ucl"].mean(),
        sigma_signal=int(d["sigma_signal"].sum()),
    )


def test_qicharts2_hospital_infections_summaries():
    exp = _csv("spc_qicharts2_expected_summary_hai.csv")
    h = _csv("spc_qicharts2_inputs_hospital_infections.csv")
    assert len(exp) == 25 and len(h) == 432
    got: dict[tuple[str, str, str], dict] = {}
    # hai_1: qic(month, n, days, data = hospital_infections, chart = 'u'): all rows aggregated per month
    got["hai_1", "1", "1"] = _summary(qic(h["n"], h["days"], x=h["month"], chart="u"))
    # hai_2: facets = ~ infection
    for inf, g in h.groupby("infection"):
        got["hai_2", inf, "1"] = _summary(qic(g["n"], g["days"], x=g["month"], chart="u"))
    # hai_3: facets = hospital ~ infection
    for (hos, inf), g in h.groupby(["hospital", "infection"]):
        got["hai_3", hos, inf] = _summary(qic(g["n"], g["days"], x=g["month"], chart="u"))
    # hai_4: x = reorder(hospital, days) on the subset month >= 2016-07-01 (factor levels ordered by mean days over
    # the whole subset); a factor x makes qic dots-only, so the runs signal is forced to FALSE; multiply = 10000.
    sub = h[h["month"] >= "2016-07-01"]
    level = {hos: i for i, hos in enumerate(sub.groupby("hospital")["days"].mean().sort_values().index)}
    for inf, g in sub.groupby("infection"):
        got["hai_4", inf, "1"] = _summary(
            qic(g["n"], g["days"], x=g["hospital"].map(level), chart="u", multiply=10000, dots_only=True)
        )
    checked = 0
    for r in exp.itertuples():
        g = got[(r.case_id, str(r.facet1), str(r.facet2))]
        for col in (
            "part",
            "n_obs",
            "n_useful",
            "longest_run",
            "longest_run_max",
            "n_crossings",
            "n_crossings_min",
            "runs_signal",
            "sigma_signal",
        ):
            assert g[col] == getattr(r, col), (r.case_id, r.facet1, r.facet2, col)
        for col in ("aLCL", "CL", "aUCL"):
            e = getattr(r, col)
            assert g[col] == pytest.approx(e, rel=1e-9, abs=0), (r.case_id, r.facet1, r.facet2, col)
        checked += 1
    assert checked == 25


# --------------------------------------------------------------------------------------------------------------------
# NHSRplotthedots / nhspy rule vectors
# --------------------------------------------------------------------------------------------------------------------

RULE_FUNCTIONS = {
    "seven_point_one_side_mean(relative_to_mean)": lambda a, b: ptd_seven_point_one_side_mean(a),
    "part_of_seven_trend(flags)": lambda a, b: ptd_part_of_seven_trend(a),
    "seven_point_trend(y)": lambda a, b: ptd_seven_point_trend(a),
    "two_in_three(close_to_limits, relative_to_mean)": lambda a, b: ptd_two_in_three(a, b),
    "part_of_two_in_three(two_in_three(close, rtm), close)": lambda a, b: ptd_part_of_two_in_three(
        ptd_two_in_three(a, b), a
    ),
}


def test_plotthedots_rule_vectors():
    t = _csv("spc_rules_plotthedots.csv")
    assert len(t) == 41
    vectors = t[t["function"].isin(RULE_FUNCTIONS)]
    assert len(vectors) == 39
    checked = 0
    for r in vectors.itertuples():
        a = _vec(r.input_1)
        b = _vec(r.input_2) if pd.notna(r.input_2) else None
        got = RULE_FUNCTIONS[r.function](a, b)
        np.testing.assert_array_equal(got, _vec(r.expected), err_msg=r.case_id)
        checked += 1
    assert checked == 39


def test_plotthedots_end_to_end_opposite_sides():
    t = _csv("spc_rules_plotthedots.csv")
    rows = t[t["case_id"] == "e2e_opposite_sides"]
    assert len(rows) == 1
    r = rows.iloc[0]
    d = ptd_spc(_vec(r["input_1"]), improvement_direction="increase")
    assert d["point_type"].tail(2).tolist() == r["expected"].split(";")


def test_plotthedots_precedence():
    t = _csv("spc_rules_plotthedots.csv")
    rows = t[t["case_id"] == "special_cause_precedence"]
    assert len(rows) == 1
    assert rows.iloc[0]["expected"] == (
        "outside limits > 7 point trend > 2 in 3 > 7 points one side of mean > common cause"
    )
    # 1) a point outside the limits at the end of a 7-point rising trend, all above the mean
    y = np.array([1.0, -1.0] * 9 + [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 6.0])
    d = ptd_spc(y, fix_after_n_points=18)
    assert xmr_limits(y, fix_after_n_points=18)["upl"] < 6.0
    assert d["special_cause_rule"].iloc[-1] == "outside_limits"
    assert (d["special_cause_rule"].iloc[-7:-1] == "seven_point_trend").all()
    # 2) 2 in 3 close to the limits, inside a 7-points-above-the-mean run: 2 in 3 wins on the close points
    y = np.array([0, 1, -1] * 6 + [0.5, 0.6, 0.5, 2.6, 0.4, 2.7, 0.5])
    d = ptd_spc(y, fix_after_n_points=18)
    lim = xmr_limits(y, fix_after_n_points=18)
    assert lim["nupl"] < 2.6 < 2.7 < lim["upl"]
    assert d["special_cause_rule"].iloc[-4] == "two_in_three"
    assert d["special_cause_rule"].iloc[-2] == "two_in_three"
    assert d["special_cause_rule"].iloc[-1] == "seven_point_one_side"
    assert d["special_cause_rule"].iloc[-7] == "seven_point_one_side"
    assert d["point_type"].iloc[-1] == "special_cause_improvement"
    assert ptd_spc(y, "decrease", fix_after_n_points=18)["point_type"].iloc[-1] == "special_cause_concern"


# --------------------------------------------------------------------------------------------------------------------
# NHSRplotthedots / nhspy XmR limits
# --------------------------------------------------------------------------------------------------------------------


def _sig(v: float, digits: int) -> float:
    return float(f"{v:.{digits}g}")


def test_plotthedots_xmr_limits():
    t = _csv("spc_xmr_limits_plotthedots.csv")
    assert len(t) == 14
    checked = 0
    for r in t.itertuples():
        y = _vec(r.values)
        screen = "screen_outliers=FALSE" not in r.options
        lim = xmr_limits(y, screen_outliers=screen)
        d = ptd_spc(y, screen_outliers=screen)
        if r.precision.startswith("7 significant"):
            digits = 7
        elif r.precision.startswith("3 significant"):
            digits = 3
        else:
            digits = None
        if digits is not None:
            for key, col in (("mean", "expected_mean"), ("lpl", "expected_lpl"), ("upl", "expected_upl")):
                assert _sig(lim[key], digits) == _sig(getattr(r, col), digits), (r.case_id, key)
        elif r.precision == "exact float equality in peer test":
            for key in ("mean", "lpl", "upl", "nlpl", "nupl"):
                assert lim[key] == pytest.approx(getattr(r, f"expected_{key}"), rel=1e-15, abs=1e-15), (r.case_id, key)
        else:
            assert r.case_id == "nhspy_demo_case" and r.precision == "mean 2 dp; limits 0 dp"
            assert round(lim["mean"], 2) == r.expected_mean
            assert round(lim["lpl"]) == r.expected_lpl and round(lim["upl"]) == r.expected_upl
        # point-level statements
        pts = r.expected_points if isinstance(r.expected_points, str) else ""
        if "common_cause" in pts:
            assert (d["point_type"] == "common_cause").all(), r.case_id
        if "outside_limits=FALSE" in pts:
            assert not d["outside_limits"].any(), r.case_id
        if r.case_id == "nhspy_demo_case":
            assert d["outside_limits"].tolist() == [i == 11 for i in range(15)]
            assert d["special_cause_flag"].tolist() == [i == 11 for i in range(15)]
            assert not d["close_to_limits"].any()
        checked += 1
    assert checked == 14


def test_plotthedots_screening_changes_limits_as_printed():
    # r2 vs r3: same data, only screen_outliers differs; the mean must not change
    t = _csv("spc_xmr_limits_plotthedots.csv").set_index("case_id")
    y = _vec(t.loc["ptd_std_r2", "values"])
    a, b = xmr_limits(y, screen_outliers=True), xmr_limits(y, screen_outliers=False)
    assert a["mean"] == b["mean"]
    assert b["upl"] - b["lpl"] > a["upl"] - a["lpl"]
