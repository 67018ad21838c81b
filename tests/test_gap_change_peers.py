"""gap_change's macros, rendered and run by dbt itself (`dbt show --inline`) on DuckDB, against the peers' rows
(tests/peers/SOURCES.md): Altman and Bland's ratio of relative risks at its printed precision, epiR's
Mantel-Haenszel and crude rate ratios to 1e-9, and the two-sided normal p value against scipy."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from orchestration.project import DBT_EXECUTABLE, DBT_PROJECT_DIR
from tests.conftest import PEERS, pipeline_env


@pytest.fixture(scope="module")
def dbt_show(tmp_path_factory):
    """Run an inline query through dbt (macros rendered by dbt, executed by dbt-duckdb); rows as dicts."""
    home = tmp_path_factory.mktemp("dbt_show_home")
    (home / "warehouse").mkdir()

    def show(sql: str) -> list[dict]:
        done = subprocess.run(
            [DBT_EXECUTABLE, "show", "--quiet", "--output", "json", "--limit", "-1", "--inline", sql]
            + ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
            + ["--target-path", str(home / "target")],
            cwd=DBT_PROJECT_DIR,
            env=pipeline_env(home),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return json.loads(done.stdout[done.stdout.index("{") :])["show"]

    return show


def test_ratio_of_rate_ratios_altman_bland(dbt_show):
    peer = pd.read_csv(PEERS / "ratio_of_ratios_published.csv")
    path = PEERS / "ratio_of_ratios_published.csv"
    # Each estimate's SE recovered from its interval on the log scale, as the paper does: (ln u - ln l) / 3.92.
    rows = dbt_show(
        f"""
        with peer as (
            select row_number() over () as i, rr1, rr2,
                (ln(rr1_upper_95) - ln(rr1_lower_95)) / 3.92 as se1,
                (ln(rr2_upper_95) - ln(rr2_lower_95)) / 3.92 as se2
            from read_csv('{path}')
        ),
        ratios as (
            select i, {{{{ ratio_of_rate_ratios('rr1', 'rr2') }}}} as ratio,
                {{{{ log_ratio_of_ratios_se('se1', 'se2') }}}} as se
            from peer
        ),
        tested as (
            select *, {{{{ log_scale_z('ratio', 'se') }}}} as z from ratios
        )
        select i, ratio, ln(ratio) as log_ratio, se, z,
            {{{{ log_scale_bound('ratio', 'se', 'lower') }}}} as lower_95,
            {{{{ log_scale_bound('ratio', 'se', 'upper') }}}} as upper_95,
            {{{{ normal_two_sided_p_value('z') }}}} as p_value
        from tested order by i
        """
    )
    assert len(rows) == len(peer) == 1
    for got, want in zip(rows, peer.itertuples(), strict=True):
        assert round(got["log_ratio"], 4) == want.expected_log_difference
        assert round(got["se"], 4) == want.expected_se
        assert round(got["z"], 2) == want.expected_z
        assert round(got["ratio"], 2) == want.expected_ratio
        assert round(got["lower_95"], 2) == want.expected_lower_95
        assert round(got["upper_95"], 2) == want.expected_upper_95
        assert got["p_value"] == pytest.approx(2 * stats.norm.sf(abs(got["z"])), abs=1e-15)


def test_mantel_haenszel_rate_ratio_epir(dbt_show):
    path = PEERS / "mh_rate_ratio_expected.csv"
    peer = pd.read_csv(path)
    rows = dbt_show(
        f"""
        with strata as (
            select * from read_csv('{path}') where n1 > 0 and n2 > 0
        ),
        pooled as (
            select dataset,
                {{{{ mantel_haenszel_rate_ratio('a', 'n1', 'b', 'n2') }}}} as mh,
                {{{{ greenland_robins_log_se('a', 'n1', 'b', 'n2') }}}} as mh_se,
                sum(a) as a, sum(n1) as n1, sum(b) as b, sum(n2) as n2
            from strata group by dataset
        )
        select dataset, mh,
            {{{{ log_scale_bound('mh', 'mh_se', 'lower') }}}} as mh_lower,
            {{{{ log_scale_bound('mh', 'mh_se', 'upper') }}}} as mh_upper,
            {{{{ rate_ratio('a', 'n1', 'b', 'n2') }}}} as crude,
            {{{{ rate_ratio_lower('a', 'n1', 'b', 'n2') }}}} as crude_lower,
            {{{{ rate_ratio_upper('a', 'n1', 'b', 'n2') }}}} as crude_upper
        from pooled order by dataset
        """
    )
    got = {r["dataset"]: r for r in rows}
    assert set(got) == set(peer["dataset"])
    for want in peer.itertuples():  # every row (each stratum repeats its data set's result)
        r = got[want.dataset]
        for column, expected in (
            ("mh", want.mh_rate_ratio),
            ("mh_lower", want.mh_lower_95),
            ("mh_upper", want.mh_upper_95),
            ("crude", want.crude_rate_ratio),
            ("crude_lower", want.crude_lower_95),
            ("crude_upper", want.crude_upper_95),
        ):
            assert r[column] == pytest.approx(expected, rel=1e-9), (want.dataset, want.stratum, column)


def test_normal_p_value_against_scipy(dbt_show):
    zs = np.concatenate([np.linspace(-9, 9, 721), [0.0, 1e-12, 1.959963984540054, 2.8284271247461903, 38.0]])
    literal = ", ".join(repr(float(z)) for z in zs)
    rows = dbt_show(
        f"select z, {{{{ normal_two_sided_p_value('z') }}}} as p from (select unnest([{literal}]::double[]) as z)"
    )
    assert len(rows) == len(zs)
    for r in rows:
        expected = 2 * stats.norm.sf(abs(r["z"]))
        assert math.isfinite(r["p"])
        assert r["p"] == pytest.approx(expected, rel=1e-12, abs=1e-15), r["z"]
    assert dbt_show("select {{ normal_two_sided_p_value('z') }} as p from (select null::double as z)") == [{"p": None}]
