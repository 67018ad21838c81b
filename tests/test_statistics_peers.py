"""The statistics against the public peers' results in tests/peers/ci_*.csv (copies of ../shared/reference).

Wilson, the Katz log rate ratio and Newcombe's difference are the dbt macros of dbt_project/macros/statistics,
rendered by dbt itself (one ``dbt compile --inline`` per session) and evaluated in DuckDB over every peer row;
z comes from the row's confidence (scipy's normal quantile). The Poisson rate limits (phe_rate, Byar, exact),
which no published table uses, are still publish.statistics'.

Every applicable row is checked. Each row is its own test case, named by its case_id. The
row counts are asserted when the module loads, so a filter that selects nothing (or too
little) cannot pass without anyone noticing.

Tolerances:
* Values a peer stores at full precision (PHE xlsx cells written as Python repr, the scipy
  docstring, statsmodels' own regression numbers) must agree to 1e-9 relative.
* Values a peer prints rounded (R output quoted in statsmodels, contingencytables/DescTools/
  ratesci at 4 dp, mergeron-extra at 4/7/8 dp, the 2-3 significant figures of Fagerland et al.)
  must agree to half a unit in the last printed place. For example, "0.3404" must be within
  5e-5, and "54" within 0.5. This is never tighter than 1e-9 relative.
* Where statsmodels clipped R's limits to 0 or 1 (see the `note` column), the printed 0 or 1
  is a convention, and it is compared exactly (1e-12).
* An empty cell (NA) in the inputs means every output must be NaN.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from publish import statistics as st
from publish.dbt_compiled import compile_models

REFERENCE_DIR = Path(__file__).parent / "peers"

REL = 1e-9
EXACT = 1e-12


def _read(name: str) -> pd.DataFrame:
    # Read as text: the printed digits define the tolerance.
    return pd.read_csv(REFERENCE_DIR / name, dtype=str, keep_default_na=False)


def _num(text: str) -> float:
    """A CSV cell as a float. An empty cell is NaN; 'inf' and 'nan' are read as written."""
    text = text.strip()
    return float("nan") if text == "" else float(text)


def _half_ulp(text: str) -> float:
    """Half a unit in the last printed place: '0.3404' -> 5e-5, '5.908590e-03' -> 5e-10, '54' -> 0.5."""
    return 0.5 * 10.0 ** Decimal(text.strip()).as_tuple().exponent


def assert_peer(ours, text: str, *, printed: bool, label: str, exact: bool = False) -> None:
    """Compare one of our numbers with the peer's cell `text`."""
    ours = float(np.asarray(ours))
    expected = _num(text)
    if np.isnan(expected):
        assert np.isnan(ours), f"{label}: peer gives NA, we give {ours!r}"
        return
    if np.isinf(expected):
        assert ours == expected, f"{label}: peer gives {expected}, we give {ours!r}"
        return
    if exact:
        tol = EXACT
    else:
        tol = REL * abs(expected)
        if printed:
            tol = max(tol, _half_ulp(text))
        tol = max(tol, 1e-15)  # expected exactly 0 at full precision
    assert abs(ours - expected) <= tol, (
        f"{label}: ours {ours!r} vs peer {text} (|diff| {abs(ours - expected):.3g} > tol {tol:.3g})"
    )


# Every macro over one table of inputs (x1, n1, x2, n2, z, multiplier): one dbt compile per session.
MACRO_SQL = """
select
    case_id,
    {{ proportion('x1', 'n1') }} * multiplier as wilson_value,
    {{ wilson_lower('x1', 'n1', 'z') }} * multiplier as wilson_lower,
    {{ wilson_upper('x1', 'n1', 'z') }} * multiplier as wilson_upper,
    {{ rate_ratio('x1', 'n1', 'x2', 'n2') }} as ratio,
    {{ rate_ratio_lower('x1', 'n1', 'x2', 'n2', 'z') }} as ratio_lower,
    {{ rate_ratio_upper('x1', 'n1', 'x2', 'n2', 'z') }} as ratio_upper,
    {{ rate_ratio_log_se('x1', 'n1', 'x2', 'n2') }} as ratio_log_se,
    {{ proportion_difference('x1', 'n1', 'x2', 'n2') }} as difference,
    {{ newcombe_difference_lower('x1', 'n1', 'x2', 'n2', 'z') }} as difference_lower,
    {{ newcombe_difference_upper('x1', 'n1', 'x2', 'n2', 'z') }} as difference_upper,
    {{ excess_events('x1', 'n1', 'x2', 'n2') }} as excess,
    {{ z_95() }} as z_95
from peer_inputs
"""


def z_of(confidence: float) -> float:
    """PHE's z: qnorm(confidence + (1 - confidence) / 2)."""
    return float(stats.norm.ppf(confidence + (1.0 - confidence) / 2.0))


@pytest.fixture(scope="session")
def macro_sql(tmp_path_factory) -> str:
    """MACRO_SQL as dbt renders it from the project's macros."""
    return compile_models([], tmp_path_factory.mktemp("dbt_macros"), inline=MACRO_SQL)[-1].sql


def evaluate_macros(sql: str, rows: list[tuple]) -> pd.DataFrame:
    """The rendered macros over rows (case_id, x1, n1, x2, n2, confidence, multiplier), NULL as NaN, by case_id."""
    inputs = pd.DataFrame(rows, columns=["case_id", "x1", "n1", "x2", "n2", "confidence", "multiplier"])
    inputs["z"] = [z_of(c) for c in inputs["confidence"]]
    for column in ("x1", "n1", "x2", "n2", "multiplier"):
        inputs[column] = inputs[column].astype(float)
    con = duckdb.connect()
    con.register("peer_inputs", inputs.drop(columns="confidence"))
    out = con.execute(sql).df().set_index("case_id")
    con.close()
    return out.astype({c: float for c in out.columns})


@pytest.fixture(scope="session")
def macros(macro_sql: str) -> pd.DataFrame:
    """Every Wilson, Katz and Newcombe peer row through the macros."""
    rows = [
        (
            r["case_id"],
            _num(r["numerator"]),
            _num(r["denominator"]),
            np.nan,
            np.nan,
            float(r["confidence"]),
            _num(r["multiplier"]),
        )
        for r in WILSON.to_dict("records")
    ]
    rows += [
        (r["case_id"], *(_num(r[c]) for c in ("x1", "n1", "x2", "n2")), float(r["confidence"]), 1.0)
        for r in pd.concat([KATZ, NEWCOMBE]).to_dict("records")
    ]
    return evaluate_macros(macro_sql, rows)


# --------------------------------------------------------------------------------------------
# ci_proportions.csv: Wilson rows
# --------------------------------------------------------------------------------------------
PROPORTIONS = _read("ci_proportions.csv")
WILSON = PROPORTIONS[PROPORTIONS["method"].str.lower().str.endswith("wilson")]
# PHE testdata_Prop 19 rows x {95%, 99.8%} = 38, testdata_Prop_g 8, testdata_B_W 6, R binom wilson 8.
EXPECTED_WILSON_ROWS = 60


def test_every_wilson_peer_row_is_selected():
    assert len(WILSON) == EXPECTED_WILSON_ROWS, f"selected {len(WILSON)} Wilson rows"
    assert WILSON["case_id"].is_unique
    assert (WILSON["peer"].str.startswith("PHE")).sum() == 52
    assert (WILSON["numerator"].eq("") | WILSON["denominator"].eq("")).sum() == 6  # PHE NA rows


@pytest.mark.parametrize("row", WILSON.to_dict("records"), ids=list(WILSON["case_id"]))
def test_wilson_matches_peer(row: dict, macros: pd.DataFrame) -> None:
    printed = not row["peer"].startswith("PHE")  # PHE cells are full-precision repr
    clipped = "clipped" in row["note"]
    label = row["case_id"]
    value, lower, upper = macros.loc[label, ["wilson_value", "wilson_lower", "wilson_upper"]]
    for name, ours in (("lower", lower), ("upper", upper)):
        text = row[f"expected_{name}"]
        # statsmodels clipped R's whole vector to 0/1; for Wilson these are also the true limits.
        is_convention = clipped and text.strip() in {"0", "1"}
        assert_peer(ours, text, printed=printed, exact=is_convention, label=f"{label} {name}")
    if row["expected_value"] != "" or row["numerator"] == "" or row["denominator"] == "":
        assert_peer(value, row["expected_value"], printed=printed, label=f"{label} value")
    # the point estimate lies within its interval whenever it is defined
    if np.isfinite(value):
        assert lower <= value <= upper


def test_wilson_zero_or_missing_denominator_is_null(macro_sql: str) -> None:
    rows = [
        (f"c{i}", x, n, np.nan, np.nan, 0.95, 1.0)
        for i, (x, n) in enumerate([(0, 0), (1, np.nan), (np.nan, 5), (2, 1)])
    ]
    out = evaluate_macros(macro_sql, rows)
    assert out[["wilson_value", "wilson_lower", "wilson_upper"]].isna().all().all()  # last: x > n


def test_wilson_ends_are_exact(macro_sql: str) -> None:
    out = evaluate_macros(
        macro_sql, [("zero", 0, 10, np.nan, np.nan, 0.95, 1.0), ("all", 10, 10, np.nan, np.nan, 0.95, 1.0)]
    )
    assert out.loc["zero", "wilson_lower"] == 0.0 and out.loc["all", "wilson_upper"] == 1.0


def test_z_95_is_phe_qnorm(macros: pd.DataFrame) -> None:
    assert (macros["z_95"] == 1.959963984540054).all()
    assert z_of(0.95) == 1.959963984540054
    assert st.z_value(0.998) == pytest.approx(3.090232306167813, rel=1e-13)


# --------------------------------------------------------------------------------------------
# ci_two_proportions.csv: Katz log risk ratio and Newcombe hybrid score risk difference
# --------------------------------------------------------------------------------------------
TWO = _read("ci_two_proportions.csv")
KATZ = TWO[(TWO["comparison"] == "risk_ratio") & (TWO["method"] == "katz_log")]
NEWCOMBE = TWO[(TWO["comparison"] == "risk_difference") & (TWO["method"] == "newcombe_hybrid_score")]
EXPECTED_KATZ_ROWS = 10  # SM2 2, CT 1, SP 7
EXPECTED_NEWCOMBE_ROWS = 18  # SM2 1, CT 1, RS 1, DT 4, ME 11

# Rows given at full precision (scipy docstring / tests, statsmodels' own Table2x2 numbers).
# Every other row is a rounded print.
FULL_PRECISION_TWO = {"sm_table2x2_1_rr", "sp_doc_rr", "sp_conf0_rr", "sp_conf1_rr"}
# scipy's zero-cell conventions. The warehouse instead says "not calculable" (all NaN, never inf).
SCIPY_ZERO_CELL = {"sp_00_rr", "sp_01_rr", "sp_10_rr"}


def test_every_katz_and_newcombe_peer_row_is_selected():
    assert len(KATZ) == EXPECTED_KATZ_ROWS, f"selected {len(KATZ)} Katz rows"
    assert len(NEWCOMBE) == EXPECTED_NEWCOMBE_ROWS, f"selected {len(NEWCOMBE)} Newcombe rows"
    assert set(KATZ["case_id"]) >= SCIPY_ZERO_CELL and set(KATZ["case_id"]) >= FULL_PRECISION_TWO
    # No selected row is flagged DISAGREES today. If a refresh adds one, this fails, so that
    # somebody reads its note and decides how to handle it, instead of the row going
    # unnoticed.
    _flagged = pd.concat([KATZ, NEWCOMBE])
    assert not _flagged["note"].str.contains("DISAGREES").any(), "a selected row is flagged DISAGREES: read its note"


@pytest.mark.parametrize("row", KATZ.to_dict("records"), ids=list(KATZ["case_id"]))
def test_katz_log_risk_ratio_matches_peer(row: dict, macros: pd.DataFrame) -> None:
    args = [_num(row[c]) for c in ("x1", "n1", "x2", "n2")]
    label = row["case_id"]
    estimate, lower, upper = macros.loc[label, ["ratio", "ratio_lower", "ratio_upper"]]
    if label in SCIPY_ZERO_CELL:
        # The peer (scipy) returns 0/inf/nan by its own convention, e.g. (0, nan) when x1 = 0.
        # The spec says a zero count is "not calculable", so all three are NaN and never inf.
        assert "convention" in row["note"]
        assert {row["x1"], row["x2"]} & {"0"}
        assert np.isnan([estimate, lower, upper]).all()
        return
    printed = label not in FULL_PRECISION_TWO
    if row["expected_estimate"] != "":
        assert_peer(estimate, row["expected_estimate"], printed=printed, label=f"{label} estimate")
    else:
        assert estimate == pytest.approx((args[0] / args[1]) / (args[2] / args[3]), rel=1e-12)
    assert_peer(lower, row["expected_lower"], printed=printed, label=f"{label} lower")
    assert_peer(upper, row["expected_upper"], printed=printed, label=f"{label} upper")


@pytest.mark.parametrize("row", NEWCOMBE.to_dict("records"), ids=list(NEWCOMBE["case_id"]))
def test_newcombe_hybrid_score_difference_matches_peer(row: dict, macros: pd.DataFrame) -> None:
    args = [_num(row[c]) for c in ("x1", "n1", "x2", "n2")]
    label = row["case_id"]
    estimate, lower, upper = macros.loc[label, ["difference", "difference_lower", "difference_upper"]]
    if row["expected_estimate"] != "":
        assert_peer(estimate, row["expected_estimate"], printed=True, label=f"{label} estimate")
    assert estimate == pytest.approx(args[0] / args[1] - args[2] / args[3], abs=1e-15)
    assert_peer(lower, row["expected_lower"], printed=True, label=f"{label} lower")
    assert_peer(upper, row["expected_upper"], printed=True, label=f"{label} upper")


def test_two_sample_missing_or_zero_denominator_is_null(macro_sql: str) -> None:
    cases = [(np.nan, 10, 2, 10), (3, 0, 2, 10), (3, 10, 2, 0), (3, 10, 0, 10), (0, 10, 0, 10), (10, 10, 10, 10)]
    out = evaluate_macros(macro_sql, [(f"c{i}", *c, 0.95, 1.0) for i, c in enumerate(cases)])
    ratio = out[["ratio", "ratio_lower", "ratio_upper", "ratio_log_se"]].to_numpy()
    assert np.isnan(ratio[:5]).all()  # missing, a zero denominator, a zero count: not calculable
    assert (ratio[5] == [1, 1, 1, 0]).all()  # x = n on both sides: SE 0, the interval collapses
    difference = out[["difference", "difference_lower", "difference_upper"]].to_numpy()
    assert np.isnan(difference[:3]).all()
    assert np.isfinite(difference[3:]).all()  # 0/10 vs 0/10 is calculable: -0.2775 to 0.2775
    assert out["excess"].tolist()[3:] == [3.0, 0.0, 0.0] and np.isnan(out["excess"].iloc[2])
    assert not np.isinf(out.drop(columns="z_95").to_numpy()).any()


# --------------------------------------------------------------------------------------------
# ci_rates.csv: PHE crude rates (exact when x < 10, otherwise Byar), count limits, ISR
# --------------------------------------------------------------------------------------------
RATES = _read("ci_rates.csv")
PHE_RATE = RATES[RATES["case_id"].str.startswith("phe_rate_")]
PHE_BYARS = RATES[RATES["case_id"].str.startswith("phe_byars_")]
# ISR rows use the same observed-count limits (divided by expected events), so they test
# exact_poisson_interval and byar_poisson_interval once more.
PHE_ISR_RATE = RATES[RATES["case_id"].str.startswith("phe_isr_") & RATES["method"].isin(["Exact", "Byars"])]
EXPECTED_PHE_RATE_ROWS = 49  # testdata_Rate 20 x 2 + testdata_Rate_g 9
EXPECTED_PHE_BYARS_ROWS = 7
EXPECTED_PHE_ISR_ROWS = 14


def test_every_rate_peer_row_is_selected():
    assert len(PHE_RATE) == EXPECTED_PHE_RATE_ROWS, f"selected {len(PHE_RATE)} phe_rate rows"
    assert len(PHE_BYARS) == EXPECTED_PHE_BYARS_ROWS
    assert len(PHE_ISR_RATE) == EXPECTED_PHE_ISR_ROWS
    assert set(PHE_RATE["method"]) == {"Exact", "Byars", ""}
    assert (PHE_RATE["numerator"].eq("") | PHE_RATE["denominator"].eq("")).sum() == 6


@pytest.mark.parametrize("row", PHE_RATE.to_dict("records"), ids=list(PHE_RATE["case_id"]))
def test_phe_rate_matches_peer(row: dict) -> None:
    x, n = _num(row["numerator"]), _num(row["denominator"])
    value, lower, upper = st.rate_interval(x, n, _num(row["multiplier"]), float(row["confidence"]))
    label = row["case_id"]
    if np.isfinite(x):  # the method switch is phe_rate's: exact below 10
        assert row["method"] == ("Exact" if x < st.EXACT_BELOW else "Byars")
    assert_peer(value, row["expected_value"], printed=False, label=f"{label} value")
    assert_peer(lower, row["expected_lower"], printed=False, label=f"{label} lower")
    assert_peer(upper, row["expected_upper"], printed=False, label=f"{label} upper")


@pytest.mark.parametrize("row", PHE_BYARS.to_dict("records"), ids=list(PHE_BYARS["case_id"]))
def test_byar_count_limits_match_peer(row: dict) -> None:
    lower, upper = st.byar_poisson_interval(_num(row["numerator"]), float(row["confidence"]))
    assert_peer(lower, row["expected_lower"], printed=False, label=f"{row['case_id']} lower")
    assert_peer(upper, row["expected_upper"], printed=False, label=f"{row['case_id']} upper")


@pytest.mark.parametrize("row", PHE_ISR_RATE.to_dict("records"), ids=list(PHE_ISR_RATE["case_id"]))
def test_isr_count_limits_match_peer(row: dict) -> None:
    observed, expected_events = _num(row["numerator"]), _num(row["expected_events"])
    ref_rate = _num(row["reference_rate"])  # already per `multiplier`
    confidence = float(row["confidence"])
    limits = (st.exact_poisson_interval if row["method"] == "Exact" else st.byar_poisson_interval)(observed, confidence)
    label = row["case_id"]
    assert_peer(observed / expected_events * ref_rate, row["expected_value"], printed=False, label=f"{label} value")
    for name, limit in zip(("lower", "upper"), limits):
        assert_peer(limit / expected_events * ref_rate, row[f"expected_{name}"], printed=False, label=f"{label} {name}")


def test_exact_poisson_matches_descTools_exact() -> None:
    row = RATES.set_index("case_id").loc["sm_poisson_15_400_exact"]
    lower, upper = st.exact_poisson_interval(15, 0.95)
    assert_peer(lower / 400, row["expected_lower"], printed=False, label="sm exact lower")
    assert_peer(upper / 400, row["expected_upper"], printed=False, label="sm exact upper")


def test_byar_is_phe_not_descTools_variant() -> None:
    """The note on this row: DescTools' 'byar' uses x + 0.5 in both limits and is not PHE's.

    We match PHE's values, quoted in the note (0.02097316 to 0.06185408, 8 dp), and not
    DescTools' values.
    """
    row = RATES.set_index("case_id").loc["sm_poisson_15_400_byar-DescTools"]
    assert "0.02097316/0.06185408" in row["note"]
    _, lower, upper = st.rate_interval(15, 400, 1, 0.95)  # x >= 10, so Byar
    assert_peer(lower, "0.02097316", printed=True, label="PHE byar lower (note)")
    assert_peer(upper, "0.06185408", printed=True, label="PHE byar upper (note)")
    assert abs(float(lower) - _num(row["expected_lower"])) > 1e-4
    assert abs(float(upper) - _num(row["expected_upper"])) > 1e-4


def test_rate_zero_count_and_zero_denominator() -> None:
    value, lower, upper = st.rate_interval([0, 5, 5], [100, 0, np.nan], 1000)
    assert value[0] == 0 and lower[0] == 0 and np.isfinite(upper[0]) and upper[0] > 0
    assert np.isnan(value[1:]).all() and np.isnan(lower[1:]).all() and np.isnan(upper[1:]).all()


def test_row_counts_checked() -> None:
    """A single place to read how many peer rows these tests check."""
    counts = {
        "wilson (ci_proportions)": len(WILSON),
        "katz_log risk ratio (ci_two_proportions)": len(KATZ),
        "newcombe hybrid score difference (ci_two_proportions)": len(NEWCOMBE),
        "phe_rate crude rate (ci_rates)": len(PHE_RATE),
        "byar count limits (ci_rates)": len(PHE_BYARS),
        "ISR observed-count limits (ci_rates)": len(PHE_ISR_RATE),
        "statsmodels/DescTools Poisson (ci_rates)": 2,
    }
    print(counts)
    assert sum(counts.values()) == 60 + 10 + 18 + 49 + 7 + 14 + 2
