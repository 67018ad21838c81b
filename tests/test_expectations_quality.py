"""Completeness and differential completeness: the frames, GX's verdicts, the results frame."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from expectations import suites as S
from expectations import validate as V
from expectations.validate import RESULT_COLUMNS, completeness_frame, summarise, validate_quality
from ingest.parsed import ROW_DTYPES
from ingest.reference import load_reference

REF = load_reference()
KNOWN = [c for c in REF.ethnic_codes if c in REF.known_ethnic_codes]  # A..S, 16 codes
MEASURES = sorted(REF.measure_codes)  # 7 measures
FEB, MAR = datetime(2024, 2, 1), datetime(2024, 3, 1)


def site_month(
    site="BARTS", month=FEB, measures=MEASURES, known=90, unknown=10, numerator=5, overrides=None
) -> pd.DataFrame:
    """One site-month: every measure x all 18 categories. Each known category's denominator is
    ``known`` spread evenly (``known`` per measure in total over the 16 codes is approximate: we
    use ``known`` per code), Z and 99 share ``unknown``. ``overrides`` maps (measure, code) ->
    dict of column values."""
    out = []
    for measure in measures:
        for code in REF.ethnic_codes:
            den = known if code in REF.known_ethnic_codes else unknown
            row = {
                "file_name": f"{site}_{month:%Y-%m}.csv",
                "source_row": len(out) + 2,
                "site_code": site,
                "month_start_date": month,
                "measure_code": measure,
                "ethnic_code": code,
                "numerator": min(numerator, den),
                "denominator": den,
                "extra_columns": pd.NA,
            }
            row.update((overrides or {}).get((measure, code), {}))
            out.append(row)
    frame = pd.DataFrame(out, columns=list(ROW_DTYPES))
    frame["month_start_date"] = pd.to_datetime(frame["month_start_date"])
    return frame.astype(ROW_DTYPES)


def unknown_for(target: float, known_total: int = 16 * 90) -> int:
    """Denominator for each of Z and 99 giving completeness ``target`` with 16 x 90 known."""
    return round(known_total * (1 - target) / target / 2)


def test_completeness_frame_figures():
    frame = site_month(
        measures=["PPH1500", "PTB37"],
        overrides={
            ("PPH1500", "A"): {"denominator": pd.NA, "numerator": pd.NA},
            **{("PTB37", c): {"denominator": 0, "numerator": 0} for c in REF.ethnic_codes},
        },
    )
    comp = completeness_frame(frame, REF).set_index("measure_code")
    pph = comp.loc["PPH1500"]
    assert pph["denominator_total"] == 15 * 90 + 2 * 10
    assert pph["denominator_known"] == 15 * 90
    assert pph["n_missing_denominator"] == 1 and pph["n_missing_numerator"] == 1
    assert pph["completeness"] == pytest.approx(1350 / 1370)
    assert np.isnan(comp.loc["PTB37", "completeness"])  # nothing to be complete about


@pytest.mark.parametrize(
    "completeness, threshold, success",
    [(0.90, 0.90, True), (0.85, 0.90, False), (0.90, 0.95, False), (0.99, 0.95, True)],
)
def test_completeness_against_threshold(completeness, threshold, success):
    unknown = unknown_for(completeness)
    results = validate_quality(site_month(measures=["PPH1500"], unknown=unknown), REF, threshold)
    [row] = results.loc[results["rule"] == S.ETHNICITY_COMPLETENESS].to_dict("records")
    expected = 1440 / (1440 + 2 * unknown)
    assert row["success"] is success or row["success"] == success
    assert row["observed_value"] == pytest.approx(expected)
    assert row["threshold"] == threshold
    details = json.loads(row["details"])
    assert details["denominator_total"] == 1440 + 2 * unknown and details["denominator_known"] == 1440
    assert (row["site_code"], row["month_start_date"], row["measure_code"]) == ("BARTS", pd.Timestamp(FEB), "PPH1500")
    assert pd.isna(row["ethnic_group"])


def test_zero_denominator_is_not_a_failure():
    frame = site_month(measures=["PPH1500"], known=0, unknown=0, numerator=0)
    results = validate_quality(frame, REF, 0.9)
    row = results.loc[results["rule"] == S.ETHNICITY_COMPLETENESS].iloc[0]
    assert bool(row["success"]) and np.isnan(row["observed_value"])


def test_group_with_missing_numerators_is_flagged_with_its_figures():
    # Black or Black British (M, N, P): 3 of its 21 cells (3 codes x 7 measures) empty -> 14.3 %;
    # push it over: numerators empty for M and N on every measure = 14 of 21 = 66.7 %.
    black = {(m, c): {"numerator": pd.NA} for m in MEASURES for c in ("M", "N")}
    one_white = {("PPH1500", "A"): {"numerator": pd.NA}}
    results = validate_quality(site_month(overrides={**black, **one_white}), REF, 0.9)
    groups = results.loc[results["rule"] == S.DIFFERENTIAL_MISSING_BY_GROUP].set_index("ethnic_group")
    assert len(groups) == 5 and groups["measure_code"].isna().all()
    black_row = groups.loc["Black or Black British"]
    assert not black_row["success"]
    details = json.loads(black_row["details"])
    assert (details["n_cells"], details["n_missing"]) == (21, 14)
    assert (details["others_cells"], details["others_missing"]) == (13 * 7, 1)
    assert black_row["observed_value"] == pytest.approx(14 / 21 - 1 / 91)
    assert black_row["threshold"] == S.GROUP_MISSING_MARGIN
    # White: 1 empty cell, a gap under the margin and too few cells: fine
    assert groups.loc["White", "success"] and groups.drop(index="Black or Black British")["success"].all()


def test_group_needs_two_missing_cells_and_the_margin():
    # Any other ethnic group (R, S) on one measure only: R empty = 1 of 14 cells -> not judged
    one = validate_quality(
        site_month(measures=["PPH1500", "PTB37"], overrides={("PPH1500", "R"): {"denominator": pd.NA}}), REF, 0.9
    )
    other = one.loc[
        (one["rule"] == S.DIFFERENTIAL_MISSING_BY_GROUP) & (one["ethnic_group"] == "Any other ethnic group")
    ]
    assert other["success"].all() and other["observed_value"].iloc[0] == pytest.approx(0.25)
    # 2 of 4 cells empty (50 % vs 0 %): flagged
    two = validate_quality(
        site_month(
            measures=["PPH1500", "PTB37"],
            overrides={("PPH1500", "R"): {"denominator": pd.NA}, ("PTB37", "R"): {"denominator": pd.NA}},
        ),
        REF,
        0.9,
    )
    other = two.loc[
        (two["rule"] == S.DIFFERENTIAL_MISSING_BY_GROUP) & (two["ethnic_group"] == "Any other ethnic group")
    ]
    assert not other["success"].any() and other["observed_value"].iloc[0] == pytest.approx(0.5)


def test_measure_far_below_the_others_is_flagged():
    low = {("MHBOOK", c): {"denominator": 400} for c in ("Z", "99")}  # 1440/2240 = 64 %
    near = {("PTB34", c): {"denominator": 60} for c in ("Z", "99")}  # 1440/1560 = 92 %
    results = validate_quality(site_month(overrides={**low, **near}), REF, 0.9)
    outliers = results.loc[results["rule"] == S.MEASURE_COMPLETENESS_OUTLIER].set_index("measure_code")
    assert len(outliers) == 7
    mh = outliers.loc["MHBOOK"]
    assert not mh["success"]
    details = json.loads(mh["details"])
    assert details["others_median"] == pytest.approx(1440 / 1460) and details["n_other_measures"] == 6
    assert mh["observed_value"] == pytest.approx(1440 / 1460 - 1440 / 2240, abs=1e-6)
    assert outliers.drop(index="MHBOOK")["success"].all()  # PTB34 is 6 points below: fine


def test_results_frame_shape_and_submission_ids():
    frame = pd.concat(
        [site_month(), site_month(month=MAR), site_month(site="BSOL", measures=MEASURES[:3])], ignore_index=True
    )
    ids = pd.Series(np.where(frame["site_code"] == "BSOL", "sub-2", "sub-1"))
    results = validate_quality(frame, REF, 0.9, submission_ids=ids)
    assert list(results.columns) == list(RESULT_COLUMNS)
    assert results["success"].dtype == bool and results["observed_value"].dtype == "float64"
    site_month_measures = 7 + 7 + 3
    assert len(results) == 2 * site_month_measures + 3 * 5
    assert set(results["suite"]) == {S.COMPLETENESS_SUITE, S.GROUP_DIFFERENTIAL_SUITE, S.MEASURE_DIFFERENTIAL_SUITE}
    assert set(results.loc[results["site_code"] == "BSOL", "submission_id"]) == {"sub-2"}
    assert all(isinstance(json.loads(d), dict) for d in results["details"])
    # the same through a submission_id column of the rows
    again = validate_quality(frame.assign(submission_id=ids.to_numpy()), REF, 0.9)
    pd.testing.assert_frame_equal(results, again)
    assert validate_quality(frame.iloc[:0], REF).columns.tolist() == list(RESULT_COLUMNS)


def test_success_is_gx_verdict(monkeypatch):
    """The results follow GX's unexpected lists: a stricter suite from GX flips the verdict, the
    pandas shaping is unchanged."""
    strict = S.completeness_suite(0.999)
    monkeypatch.setattr(V.S, "completeness_suite", lambda threshold: strict)
    results = validate_quality(site_month(measures=["PPH1500"]), REF, 0.5)
    row = results.loc[results["rule"] == S.ETHNICITY_COMPLETENESS].iloc[0]
    assert not row["success"] and row["threshold"] == pytest.approx(0.999)


def test_summarise():
    low = {("MHBOOK", c): {"denominator": 400} for c in ("Z", "99")}
    results = validate_quality(pd.concat([site_month(overrides=low), site_month(month=MAR)]), REF, 0.9)
    summary = summarise(results)
    assert summary["failed_by_rule"] == {
        S.ETHNICITY_COMPLETENESS: 1,
        S.DIFFERENTIAL_MISSING_BY_GROUP: 0,
        S.MEASURE_COMPLETENESS_OUTLIER: 1,
    }
    assert summary["site_months"] == 2 and summary["site_months_flagged"] == 1
    assert summary["worst_site_month"] == {
        "site_code": "BARTS",
        "period": "2024-02",
        "measure_code": "MHBOOK",
        "completeness": round(1440 / 2240, 4),
        "success": False,
    }
    assert summary["completeness_by_measure"]["MHBOOK"]["min"] == round(1440 / 2240, 4)
    assert summary["worst_group"]["ethnic_group"]
    json.dumps(summary)  # asset-check metadata ready
    assert summarise(results.iloc[:0])["n_results"] == 0
