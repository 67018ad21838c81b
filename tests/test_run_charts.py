"""publish.run_charts: IHI rules, baseline rules, p charts, the sparse-series rule, and the vectorised engine checked
against the 1-D test oracles (tests/oracles/).

The peer vectors (qicharts2, NHSRplotthedots, nhspy) are in tests/test_run_charts_peers.py. This module checks:

* the IHI run-chart rules (Perla, Provost & Murray 2011) on hand-worked examples, since no peer publishes vectors;
* that `build_run_chart_points`, which works on 2-D arrays, gives exactly what the literal 1-D ports give when run
  series by series (a hypothesis property with NaN months, absent months, ties and points on the median);
* that its baseline median and runs analysis equal `qic(chart = 'run', freeze = n_baseline)`;
* that its XmR limits reproduce the PTD snapshot (ptd_std_r1) when the whole series is the baseline;
* output shape and conventions, plus a timing guard at national scale (marked slow).
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publish.run_charts import (
    MIN_USEFUL_OBSERVATIONS,
    POINT_COLUMNS,
    SERIES_KEYS,
    build_run_chart_points,
    p_chart_limits,
)
from tests.oracles.ihi import ihi_astronomical, ihi_shift, ihi_trend
from tests.oracles.plotthedots import ptd_spc
from tests.oracles.qicharts2 import qic, runs_analysis

PROGRAMME_START = date(2023, 1, 1)


def _frame(values_by_series: dict[tuple, list[float]], start="2021-01-01", hib=True) -> pd.DataFrame:
    rows = []
    for key, vals in values_by_series.items():
        months = pd.date_range(start, periods=len(vals), freq="MS")
        for m, v in zip(months, vals):
            rows.append((*key, m, v, hib))
    return pd.DataFrame(rows, columns=[*SERIES_KEYS, "month_start_date", "value", "higher_is_better"])


def _key(site="S1", measure="PPH1500", stype="group_rate", group="White"):
    return ("site", site, measure, stype, group)


# --------------------------------------------------------------------------------------------------------------------
# IHI rules
# --------------------------------------------------------------------------------------------------------------------


def test_ihi_shift_points_on_median_neither_count_nor_break():
    y = [6, 7, 5, 8, 9, 6, 7, 3]
    assert ihi_shift(y, 5).tolist() == [True, True, False, True, True, True, True, False]
    assert not ihi_shift([6, 7, 8, 9, 6, 3], 5).any()  # only 5 above
    assert ihi_shift([4, 4, 4, 4, 4, 4], 5).all()
    assert ihi_shift([6, np.nan, 7, 8, 9, 6, 7], 5).tolist() == [True, False, True, True, True, True, True]


def test_ihi_trend_like_values_ignored():
    assert ihi_trend([1, 2, 3, 4, 5]).all()
    assert not ihi_trend([1, 2, 3, 4]).any()
    assert ihi_trend([1, 2, 2, 3, 4, 5]).all()  # the repeated 2 neither makes nor breaks the trend
    assert not ihi_trend([1, 2, 2, 3, 4]).any()  # only 4 distinct rising values
    assert ihi_trend([5, 4, 4, 3, 2, 1]).all()
    assert not ihi_trend([1, 2, 3, 2, 3, 4, 5]).any()
    assert ihi_trend([1, 2, 3, 4, 5, 4]).tolist() == [True] * 5 + [False]
    assert ihi_trend([1, np.nan, 2, 3, 4, 5]).tolist() == [True, False, True, True, True, True]
    assert not ihi_trend([3, 3, 3, 3, 3, 3]).any()


def test_ihi_astronomical_uses_baseline_mean_and_3_sd():
    base = [10, 11, 9, 10, 11, 9, 10, 11, 9, 10, 11, 9]
    y = np.array(base + [12, 30, 10, -5], dtype=float)
    flags = ihi_astronomical(y, np.arange(y.size) < 12)
    assert flags.tolist() == [False] * 13 + [True, False, True]
    assert not ihi_astronomical([5, 5, 5, 9], [True, True, True, False]).any()  # SD 0: no flags


def test_runs_analysis_excludes_points_on_centre():
    r = runs_analysis([1, 2, 3, 3, 4, 5, np.nan], 3)
    assert r == dict(
        n_obs=7, n_useful=4, longest_run=2, longest_run_max=5, n_crossings=1, n_crossings_min=0, runs_signal=False
    )
    r = runs_analysis([3, 3, np.nan], 3)
    assert r["n_useful"] == 0 and r["longest_run"] is None and r["runs_signal"] is False


# --------------------------------------------------------------------------------------------------------------------
# build_run_chart_points: conventions
# --------------------------------------------------------------------------------------------------------------------


def test_build_columns_rows_and_baseline_rules():
    rng = np.random.default_rng(3)
    long_pre = list(rng.normal(50, 5, 48))  # 24 months before the programme start
    short = list(rng.normal(20, 2, 30))  # starts 2022-07: only 6 months before the start
    df = pd.concat(
        [
            _frame({_key(group="White"): long_pre}),
            _frame({_key(group="Asian"): short}, start="2022-07-01"),
        ],
        ignore_index=True,
    )
    out = build_run_chart_points(df, PROGRAMME_START)
    assert list(out.columns) == POINT_COLUMNS
    assert len(out) == len(df)
    w = out[out["ethnic_group"] == "White"]
    a = out[out["ethnic_group"] == "Asian"]
    assert (w["baseline_rule"] == "pre_programme").all() and (w["n_baseline"] == 24).all()
    assert w["centre_line"].iloc[0] == pytest.approx(np.median(long_pre[:24]), rel=1e-15)
    assert w["is_baseline"].tolist() == [True] * 24 + [False] * 24
    assert (a["baseline_rule"] == "first_n_points").all() and (a["n_baseline"] == 12).all()
    assert a["centre_line"].iloc[0] == pytest.approx(np.median(short[:12]), rel=1e-15)
    assert w["month_start_date"].is_monotonic_increasing
    out_all = build_run_chart_points(df, None)
    assert (out_all["baseline_rule"] == "all_points").all()
    assert out_all[out_all["ethnic_group"] == "Asian"]["n_baseline"].iloc[0] == 30


def test_build_missing_months_and_short_series():
    vals = [np.nan, 3.0, np.nan, 5.0, 4.0]
    df = pd.concat(
        [
            _frame({_key(group="White"): vals}),
            _frame({_key(group="Black"): [np.nan, 7.0, np.nan]}),
            _frame({_key(group="Mixed"): [np.nan, np.nan]}),
        ],
        ignore_index=True,
    )
    out = build_run_chart_points(df, PROGRAMME_START)
    w = out[out["ethnic_group"] == "White"]
    assert w["centre_line"].notna().all() and w["xmr_lpl"].notna().all() and w["xmr_upl"].notna().all()
    assert (w["n_obs"] == 5).all() and (w["n_baseline"] == 3).all()
    assert w["point_type"].isna().tolist() == [True, False, True, False, False]
    assert not w.loc[w["value"].isna(), ["ihi_shift", "ihi_trend", "ihi_astronomical", "ptd_special_cause"]].any().any()
    b = out[out["ethnic_group"] == "Black"]
    assert (b["centre_line"] == 7.0).all() and b["xmr_upl"].isna().all()  # one value: no limits possible
    m = out[out["ethnic_group"] == "Mixed"]
    assert m["centre_line"].isna().all() and m["longest_run"].isna().all() and not m["runs_signal"].any()


def test_build_baseline_has_at_least_two_points_when_possible():
    # one month before the start and min_baseline_points=1: the baseline is widened to 2 points so limits exist
    df = _frame({_key(): [5.0, 7.0, 6.0, 8.0]}, start="2022-12-01")
    out = build_run_chart_points(df, PROGRAMME_START, min_baseline_points=1)
    assert (out["baseline_rule"] == "pre_programme").all() and (out["n_baseline"] == 2).all()
    assert out["centre_line"].iloc[0] == 6.0
    assert out["xmr_mean"].iloc[0] == 6.0 and out["xmr_upl"].iloc[0] == pytest.approx(6.0 + 2.66 * 2.0)


def test_build_flat_baseline_keeps_zero_width_limits():
    # PTD would return NaN limits here (every moving range is 0 and screening drops them all); we keep amr = 0
    out = build_run_chart_points(_frame({_key(): [0.0] * 12 + [0.0, 1.0]}, start="2022-01-01"), PROGRAMME_START)
    assert (out["xmr_lpl"] == 0).all() and (out["xmr_upl"] == 0).all()
    assert out["ptd_outside_limits"].tolist() == [False] * 13 + [True]
    assert not out["ihi_astronomical"].any()  # baseline SD 0: no astronomical flags


def test_build_improvement_direction_and_point_type():
    y = [10, 11, 9, 10, 11, 9, 10, 11, 9, 10, 11, 9, 30]
    for hib, direction, pt in [
        (True, "increase", "special_cause_improvement"),
        (False, "decrease", "special_cause_concern"),
        (None, "neutral", "special_cause_neutral_high"),
    ]:
        out = build_run_chart_points(_frame({_key(): y}, hib=hib), PROGRAMME_START)
        assert (out["improvement_direction"] == direction).all()
        assert out["point_type"].iloc[-1] == pt
        assert out["ptd_special_cause_rule"].iloc[-1] == "outside_limits"
        assert out["ihi_astronomical"].iloc[-1]


def test_build_rejects_duplicate_series_month():
    df = _frame({_key(): [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="more than one row"):
        build_run_chart_points(pd.concat([df, df.iloc[[0]]]), PROGRAMME_START)


def test_build_xmr_reproduces_plotthedots_snapshot():
    ref = Path(__file__).parent / "peers" / "spc_xmr_limits_plotthedots.csv"
    t = pd.read_csv(ref).set_index("case_id")
    checked = 0
    for case in ("ptd_std_r1", "ptd_std_r2"):
        y = [float(v) for v in t.loc[case, "values"].split(";")]
        out = build_run_chart_points(_frame({_key(): y}), None)
        for col, exp in (("xmr_mean", "expected_mean"), ("xmr_lpl", "expected_lpl"), ("xmr_upl", "expected_upl")):
            assert float(f"{out[col].iloc[0]:.7g}") == float(f"{t.loc[case, exp]:.7g}")
        checked += 1
    assert checked == 2


def test_build_centre_and_runs_equal_qic_run_chart():
    rng = np.random.default_rng(11)
    checked = 0
    for _i in range(40):
        y = rng.integers(0, 6, size=int(rng.integers(2, 61))).astype(float)
        out = build_run_chart_points(_frame({_key(): list(y)}), PROGRAMME_START, sparse_rule=False)
        nb = int(out["n_baseline"].iloc[0])
        q = qic(y, chart="run", freeze=nb)
        assert out["centre_line"].iloc[0] == q["cl"].iloc[0]
        for col in (
            "n_obs",
            "n_useful",
            "longest_run",
            "longest_run_max",
            "n_crossings",
            "n_crossings_min",
            "runs_signal",
        ):
            assert out[col].iloc[0] == q[col].iloc[0], col
        checked += 1
    assert checked == 40


# --------------------------------------------------------------------------------------------------------------------
# Vectorised engine == per-series reference built from the 1-D functions
# --------------------------------------------------------------------------------------------------------------------


def _reference(values: np.ndarray, months: np.ndarray, baseline_end, min_base: int, hib) -> pd.DataFrame:
    valid = ~np.isnan(values)
    y = values[valid]
    k = y.size
    if baseline_end is None:
        nb, rule = k, "all_points"
    else:
        pre = int((valid & (months < np.datetime64(baseline_end))).sum())
        nb, rule = (pre, "pre_programme") if pre >= min_base else (min(min_base, k), "first_n_points")
    if k >= 2:
        nb = max(nb, 2)
    direction = "neutral" if hib is None else ("increase" if hib else "decrease")
    res = pd.DataFrame({"value": values})
    res["baseline_rule"] = rule
    res["n_baseline"] = min(nb, k)
    base_mask = np.zeros(values.size, dtype=bool)
    base_mask[np.flatnonzero(valid)[:nb]] = True
    res["is_baseline"] = base_mask
    centre = float(np.median(y[:nb])) if k else np.nan
    res["centre_line"] = centre
    ra = runs_analysis(values, centre)
    for c, v in ra.items():
        res[c] = v
    res["ihi_shift"] = ihi_shift(values, centre)
    res["ihi_trend"] = ihi_trend(values)
    res["ihi_astronomical"] = ihi_astronomical(values, base_mask)
    res["improvement_direction"] = direction
    for c in ("ptd_outside_limits", "ptd_close_to_limits", "ptd_special_cause"):
        res[c] = False
    res["ptd_relative_to_mean"] = np.nan
    res["ptd_special_cause_rule"] = None
    res["point_type"] = None
    if k:
        d = ptd_spc(y, direction, screen_outliers=True, fix_after_n_points=nb)
        for c, src in (
            ("xmr_mean", "mean"),
            ("xmr_lpl", "lpl"),
            ("xmr_upl", "upl"),
            ("xmr_nlpl", "nlpl"),
            ("xmr_nupl", "nupl"),
        ):
            res[c] = d[src].iloc[0]
        idx = np.flatnonzero(valid)
        res.loc[idx, "ptd_outside_limits"] = d["outside_limits"].to_numpy()
        res.loc[idx, "ptd_close_to_limits"] = d["close_to_limits"].to_numpy()
        res.loc[idx, "ptd_relative_to_mean"] = d["relative_to_mean"].to_numpy()
        res.loc[idx, "ptd_special_cause"] = d["special_cause_flag"].to_numpy()
        res["ptd_special_cause_rule"] = res["ptd_special_cause_rule"].astype(object)
        res.loc[idx, "ptd_special_cause_rule"] = d["special_cause_rule"].astype(object).to_numpy()
        res["point_type"] = res["point_type"].astype(object)
        res.loc[idx, "point_type"] = d["point_type"].to_numpy()
    else:
        for c in ("xmr_mean", "xmr_lpl", "xmr_upl", "xmr_nlpl", "xmr_nupl"):
            res[c] = np.nan
    return res


_value = st.one_of(st.just(np.nan), st.integers(0, 6).map(float), st.floats(0, 6, allow_nan=False).map(float))
_series = st.tuples(
    st.lists(_value, min_size=0, max_size=40),
    st.lists(st.booleans(), min_size=40, max_size=40),  # which months are present as rows
    st.sampled_from([True, False, None]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    series=st.lists(_series, min_size=1, max_size=6),
    base_idx=st.one_of(st.none(), st.integers(0, 40)),
    min_base=st.integers(1, 14),
)
def test_engine_matches_per_series_reference(series, base_idx, min_base):
    months_all = pd.date_range("2020-01-01", periods=40, freq="MS")
    baseline_end = None if base_idx is None else (months_all[0] + pd.DateOffset(months=base_idx)).date()
    frames, refs = [], []
    for i, (vals, present, hib) in enumerate(series):
        n = len(vals)
        keep = np.array(present[:n], dtype=bool)
        if n and not keep.any():
            keep[0] = True
        months = months_all[:n][keep].to_numpy()
        v = np.array(vals, dtype=float)[keep]
        key = _key(group=f"G{i}")
        frames.append(
            pd.DataFrame(
                {
                    **{c: [key[j]] * v.size for j, c in enumerate(SERIES_KEYS)},
                    "month_start_date": months,
                    "value": v,
                    "higher_is_better": pd.array([hib] * v.size, dtype="boolean"),
                }
            )
        )
        ref = _reference(
            v, months, None if baseline_end is None else pd.Timestamp(baseline_end).to_datetime64(), min_base, hib
        )
        ref["ethnic_group"] = key[4]
        refs.append(ref)
    df = pd.concat(frames, ignore_index=True)
    out = build_run_chart_points(df, baseline_end, min_baseline_points=min_base, sparse_rule=False)
    assert len(out) == len(df)
    ref = pd.concat(refs, ignore_index=True).sort_values("ethnic_group", kind="stable").reset_index(drop=True)
    out = out.reset_index(drop=True)
    assert out["ethnic_group"].tolist() == ref["ethnic_group"].tolist()
    np.testing.assert_array_equal(out["value"].to_numpy(float), ref["value"].to_numpy(float))
    for c in ("centre_line", "xmr_mean", "xmr_lpl", "xmr_upl", "xmr_nlpl", "xmr_nupl", "ptd_relative_to_mean"):
        np.testing.assert_allclose(
            out[c].to_numpy(float), ref[c].to_numpy(float), rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=c
        )
    for c in ("n_obs", "n_useful", "longest_run", "longest_run_max", "n_crossings", "n_crossings_min"):
        a = pd.Series(out[c]).astype("Float64").fillna(-1).to_numpy(float)
        b = pd.Series(ref[c]).astype("Float64").fillna(-1).to_numpy(float)
        np.testing.assert_array_equal(a, b, err_msg=c)
    for c in (
        "baseline_rule",
        "n_baseline",
        "is_baseline",
        "runs_signal",
        "ihi_shift",
        "ihi_trend",
        "ihi_astronomical",
        "improvement_direction",
        "ptd_outside_limits",
        "ptd_close_to_limits",
        "ptd_special_cause",
    ):
        assert out[c].tolist() == ref[c].tolist(), c
    for c in ("ptd_special_cause_rule", "point_type"):
        assert [None if pd.isna(v) else v for v in out[c]] == [None if pd.isna(v) else v for v in ref[c]], c


def test_engine_matches_reference_on_long_trending_series():
    # hypothesis rarely builds 7-point trends and long shifts; force them
    rng = np.random.default_rng(5)
    data = {}
    for i in range(60):
        base = rng.normal(10, 1, 24)
        kind = i % 4
        if kind == 0:
            tail = 10 + np.cumsum(np.abs(rng.normal(0.5, 0.3, 36)))
        elif kind == 1:
            tail = 10 - np.cumsum(np.abs(rng.normal(0.5, 0.3, 36)))
        elif kind == 2:
            tail = rng.normal(12, 0.5, 36)
        else:
            tail = np.round(rng.normal(10, 2, 36))
        data[_key(group=f"G{i:02d}")] = list(np.concatenate([base, tail]))
    df = _frame(data, hib=True)
    out = build_run_chart_points(df, PROGRAMME_START, sparse_rule=False).reset_index(drop=True)
    for _i, (key, vals) in enumerate(sorted(data.items())):
        ref = _reference(
            np.array(vals),
            pd.date_range("2021-01-01", periods=60, freq="MS").to_numpy(),
            np.datetime64("2023-01-01"),
            12,
            True,
        )
        o = out[out["ethnic_group"] == key[4]].reset_index(drop=True)
        for c in ("ihi_shift", "ihi_trend", "ihi_astronomical", "ptd_special_cause", "point_type", "runs_signal"):
            assert o[c].tolist() == ref[c].tolist(), (key, c)
    assert out["ptd_special_cause_rule"].eq("seven_point_trend").any()
    assert out["ihi_shift"].any() and out["ihi_trend"].any()


# --------------------------------------------------------------------------------------------------------------------
# national scale
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_build_national_scale_under_30_seconds():
    rng = np.random.default_rng(0)
    n_series, n_months = 30_000, 60
    months = pd.date_range("2021-01-01", periods=n_months, freq="MS")
    df = pd.DataFrame(
        {
            "geography_level": "site",
            "site_code": np.repeat([f"S{i // 210:03d}" for i in range(n_series)], n_months),
            "measure_code": np.repeat([f"M{(i // 14) % 15}" for i in range(n_series)], n_months),
            "series_type": np.repeat(["group_rate", "gap_vs_reference"] * (n_series // 2), n_months),
            "ethnic_group": np.repeat([f"E{(i // 2) % 7}" for i in range(n_series)], n_months),
            "month_start_date": np.tile(months.to_numpy(), n_series),
            "value": rng.poisson(20, n_series * n_months) / 10.0,
            "higher_is_better": pd.array(
                np.repeat(rng.choice([True, False, None], n_series), n_months), dtype="boolean"
            ),
        }
    )
    df.loc[rng.random(len(df)) < 0.05, "value"] = np.nan
    t0 = time.perf_counter()
    out = build_run_chart_points(df, PROGRAMME_START)
    elapsed = time.perf_counter() - t0
    assert len(out) == n_series * n_months
    assert out.groupby(SERIES_KEYS).ngroups == n_series
    assert out[["centre_line", "xmr_lpl", "xmr_upl"]].notna().all().all()
    assert elapsed < 30, elapsed


# --------------------------------------------------------------------------------------------------------------------
# p chart (qicharts2 chart = 'p') and the sparse-series rule
# --------------------------------------------------------------------------------------------------------------------

PEERS = Path(__file__).parent / "peers"


@pytest.mark.parametrize("case_id", ["tbl_7.4_1", "ex_7.1_5"])
def test_p_chart_limits_match_qicharts2_rows(case_id):
    """Production p-chart limits against qicharts2's own rows: varying denominators (tbl_7.4_1), and a chart in two
    parts with two excluded points (ex_7.1_5: each part's baseline is its included points)."""
    exp = pd.read_csv(PEERS / "spc_qicharts2_expected_points.csv")
    exp = exp[exp["case_id"] == case_id].reset_index(drop=True)
    inputs = pd.read_csv(PEERS / "spc_qicharts2_inputs.csv")
    tab = inputs[inputs["table"] == exp["input_table"].iloc[0]].sort_values("row").reset_index(drop=True)
    assert len(tab) == len(exp) and (tab["x"].to_numpy() == exp["x"].to_numpy()).all()
    checked = 0
    for _, rows in exp.groupby("part"):
        idx = rows.index.to_numpy()
        baseline = rows["include"].to_numpy(dtype=bool)[None, :]
        centre, lower, upper = p_chart_limits(
            tab.loc[idx, "y"].to_numpy(dtype=float)[None, :], tab.loc[idx, "n"].to_numpy(dtype=float)[None, :], baseline
        )
        np.testing.assert_allclose(np.full(idx.size, centre[0]), rows["cl"].to_numpy(float), rtol=1e-12)
        np.testing.assert_allclose(lower[0], rows["lcl"].to_numpy(float), rtol=1e-12)
        np.testing.assert_allclose(upper[0], rows["ucl"].to_numpy(float), rtol=1e-12)
        checked += idx.size
    assert checked == {"tbl_7.4_1": 25, "ex_7.1_5": 94}[case_id]
    assert exp["n"].nunique() > 1 or case_id == "ex_7.1_5"  # tbl_7.4_1 has varying denominators


def _p_frame(num, den, multiplier=1000.0, start="2022-01-01"):
    months = pd.date_range(start, periods=len(num), freq="MS")
    num, den = np.asarray(num, float), np.asarray(den, float)
    return pd.DataFrame(
        {
            **{c: v for c, v in zip(SERIES_KEYS, _key())},
            "month_start_date": months,
            "value": num / den * multiplier,
            "numerator": num,
            "denominator": den,
            "multiplier": multiplier,
            "chart_type": "p",
            "higher_is_better": False,
        }
    )


def test_build_p_chart_equals_qic_p_chart_with_the_baseline_frozen():
    rng = np.random.default_rng(7)
    den = rng.integers(12, 600, 24).astype(float)
    num = rng.binomial(den.astype(int), 0.05).astype(float)
    num[20] = den[20] * 0.5  # far above: outside the limits
    out = build_run_chart_points(_p_frame(num, den), date(2023, 1, 1))
    assert (out["chart_type"] == "p").all() and (out["n_baseline"] == 12).all()
    q = qic(num, n=den, chart="p", freeze=12, multiply=1000)
    np.testing.assert_allclose(out["control_centre_line"], q["cl"], rtol=1e-12)
    np.testing.assert_allclose(out["lower_limit"], q["lcl"], rtol=1e-12)
    np.testing.assert_allclose(out["upper_limit"], q["ucl"], rtol=1e-12)
    assert out["sigma_signal"].tolist() == q["sigma_signal"].tolist()
    assert out["sigma_signal"].iloc[20] and out["point_type"].iloc[20] == "special_cause_concern"
    assert out["xmr_mean"].isna().all()  # no XmR limits on a p chart
    assert out[["numerator", "denominator"]].to_numpy().tolist() == np.column_stack([num, den]).tolist()


def test_build_p_chart_without_a_baseline_event_has_no_limits():
    out = build_run_chart_points(_p_frame([0] * 12 + [1, 0, 2], [20] * 15), date(2023, 1, 1))
    assert out["lower_limit"].isna().all() and out["upper_limit"].isna().all()
    assert not out["sigma_signal"].any()
    assert "no p-chart limits" in out["signal_note"].iloc[0]


def test_sparse_series_raise_no_runs_signal():
    # baseline median 0 (about 20 births a month, 0 to 2 events): without the rule, the months with an event form
    # long runs "above the median" and 7 months of zero a "special cause"
    num = [0, 2, 0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 0, 1, 2]
    frame = _p_frame(num, [20] * 24, start="2023-01-01")
    plain = build_run_chart_points(frame, date(2024, 1, 1), sparse_rule=False)
    assert plain["ihi_shift"].any() or plain["runs_signal"].any()
    out = build_run_chart_points(frame, date(2024, 1, 1))
    assert (out["centre_line"] == 0).all()
    assert not out["runs_signal"].any() and not out["ihi_shift"].any()
    assert not out["ptd_special_cause_rule"].eq("seven_point_one_side").any()
    assert out["signal_note"].str.startswith("Baseline median is 0").all()

    # fewer than 10 useful observations (points not on the median): no runs signal either
    few = _frame({_key(): [7, 7, 7, 7, 7, 7, 7, 6, 8, 6, 8, 7, 7, 7, 8, 9]}, start="2022-01-01")
    out = build_run_chart_points(few, PROGRAMME_START)
    assert out["n_useful"].iloc[0] < MIN_USEFUL_OBSERVATIONS
    assert not out["runs_signal"].any() and not out["ihi_shift"].any()
    assert out["signal_note"].iloc[0].startswith(f"Only {out['n_useful'].iloc[0]} useful observations")

    # enough useful observations and a median above 0: the rules apply and the note is empty
    rich = _frame({_key(): [10, 11, 9, 10, 12, 8, 10, 11, 9, 12, 8, 11] + [15] * 12}, start="2022-01-01")
    out = build_run_chart_points(rich, PROGRAMME_START)
    assert out["runs_signal"].all() and out["ihi_shift"].iloc[-1] and out["signal_note"].isna().all()
