"""publish.gap_trend against R's glm: the ITS tutorial's four Sicily models (Lopez Bernal, Cummins, Gasparrini
2017) and the interface's comparative model on two made-up data sets (tests/peers/SOURCES.md). Every row asserted."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from publish.gap_trend import QUANTITIES, comparative_design, fit_gap_trend, fit_glm
from tests.conftest import PEERS

SICILY_TERMS = {"(Intercept)": "const", "smokban:I(time - 36)": "smokban:slope"}


def sicily_design(model: str, data: pd.DataFrame) -> pd.DataFrame:
    design = pd.DataFrame({"const": 1.0, "smokban": data["smokban"], "time": data["time"]}, dtype=float)
    if model.startswith("quasipoisson_harmonic"):
        for k in (1, 2):
            angle = 2 * math.pi * k * data["month"] / 12
            design[f"s{k}"], design[f"c{k}"] = np.sin(angle), np.cos(angle)
    if model == "quasipoisson_harmonic_slope":
        design["smokban:slope"] = data["smokban"] * (data["time"] - 36)
    return design


@pytest.mark.parametrize("model", ["poisson", "quasipoisson", "quasipoisson_harmonic", "quasipoisson_harmonic_slope"])
def test_sicily_models_as_r_glm(model):
    data = pd.read_csv(PEERS / "its_sicily_inputs.csv")
    expected = pd.read_csv(PEERS / "its_sicily_expected.csv")
    expected = expected[expected["model"] == model]
    fit = fit_glm(
        data["aces"].to_numpy(float), sicily_design(model, data), np.log(data["stdpop"]), quasi=model != "poisson"
    )
    assert fit.fitted and fit.converged
    assert len(fit.params) == len(expected)
    for row in expected.itertuples():
        term = SICILY_TERMS.get(row.term, row.term)
        assert fit.params[term] == pytest.approx(row.estimate, rel=1e-6), (model, row.term)
        assert fit.bse[term] == pytest.approx(row.std_error, rel=1e-6), (model, row.term)
        assert fit.dispersion == pytest.approx(row.dispersion, rel=1e-6), model


@pytest.mark.parametrize("dataset", ["single_site", "three_sites"])
def test_comparative_model_as_r_glm(dataset):
    rows = pd.read_csv(PEERS / "its_comparative_inputs.csv")
    rows = rows[rows["dataset"] == dataset].rename(columns={"site": "site_code"})
    expected = pd.read_csv(PEERS / "its_comparative_expected.csv")
    expected = expected[expected["dataset"] == dataset]
    start = int(rows.loc[rows["P"] == 1, "month_index"].min())
    design = comparative_design(rows, start)  # our P and s are the peer's
    assert (design["P"] == rows["P"]).all() and (design["P:s"] == rows["s"]).all()
    assert (design.filter(like="site[").shape[1]) == rows["site_code"].nunique() - 1
    fitted = fit_gap_trend(rows, start)
    fit = fitted["fit"]
    assert fitted["fit_note"] is None and fitted["converged"] is True
    assert len(expected) == 3  # the spec's three published quantities, each asserted below
    for row in expected.itertuples():
        assert QUANTITIES[row.quantity][0] == row.term
        assert fit.params[row.term] == pytest.approx(row.coefficient, rel=1e-5), row.quantity
        assert fit.bse[row.term] == pytest.approx(row.std_error, rel=1e-5), row.quantity
        assert fitted["dispersion"] == pytest.approx(row.dispersion, rel=1e-5)
        assert fitted["n_observations"] == row.n_observations
        assert fitted[row.quantity] == pytest.approx(row.value, rel=1e-5)
        assert fitted[f"{row.quantity}_lower_95"] == pytest.approx(row.lower_95, rel=1e-5)
        assert fitted[f"{row.quantity}_upper_95"] == pytest.approx(row.upper_95, rel=1e-5)
