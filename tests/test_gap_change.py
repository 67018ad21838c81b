"""Did the gap narrow? gap_trend's edge cases (pure), the page's redraw rule, and on a real build: both marts tables,
their rows and finiteness, the partner's query (queries/gap_change_summary.sql) and the page."""

from __future__ import annotations

import json
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from publish.gap_change_page import (
    IMAGES,
    MAX_LABELLED_SITES,
    PAGE,
    SIDECAR,
    draw_forest,
    forest_rows,
    site_strips,
    write_gap_change_page,
)
from publish.gap_trend import (
    comparative_design,
    fit_gap_trend,
    fit_gap_trends,
    fit_glm,
    fit_glm_absorbed,
    month_index,
)

START = 24  # month index of the programme start in the synthetic series below


def series(months_before: int = 12, months_after: int = 12, sites=("S1",), seed: int = 1, **zero) -> pd.DataFrame:
    """Monthly counts of a group (G = 1) and the reference group (G = 0), Poisson around a 1.5x gap."""
    rng = np.random.default_rng(seed)
    rows = []
    for site in sites:
        for m in range(START - months_before, START + months_after):
            for g, rate in ((0, 0.05), (1, 0.075)):
                d = int(rng.integers(300, 600))
                rows.append(
                    {
                        "site_code": site,
                        "month_index": m,
                        "G": g,
                        "events": int(rng.poisson(rate * d)),
                        "denominator": d,
                    }
                )
    frame = pd.DataFrame(rows)
    if zero.get("group_after"):
        frame.loc[(frame["G"] == 1) & (frame["month_index"] >= START), "events"] = 0
    return frame


def test_fitted_model_is_finite_and_says_why_not():
    fitted = fit_gap_trend(series(), START)
    assert fitted["fit_note"] is None and fitted["converged"] is True
    assert (fitted["months_before"], fitted["months_after"], fitted["n_observations"]) == (12, 12, 48)
    for key in ("gap_level_change", "gap_level_change_lower_95", "baseline_gap_trend_per_year", "dispersion"):
        assert math.isfinite(fitted[key])


@pytest.mark.parametrize("before, after", [(5, 12), (12, 5), (0, 24)])
def test_fewer_than_six_months_on_a_side_gives_no_estimates(before, after):
    fitted = fit_gap_trend(series(before, after), START)
    assert fitted["gap_level_change"] is None and fitted["dispersion"] is None and fitted["converged"] is None
    assert "at least 6" in fitted["fit_note"] and (fitted["months_before"], fitted["months_after"]) == (before, after)


def test_no_events_on_a_side_is_not_fitted_rather_than_infinite():
    fitted = fit_gap_trend(series(group_after=True), START)
    assert fitted["gap_level_change"] is None
    assert "no events in the group from the programme start" in fitted["fit_note"]


def test_months_without_a_denominator_are_left_out():
    rows = series()
    rows.loc[rows["month_index"] == START + 3, ["events", "denominator"]] = 0
    fitted = fit_gap_trend(rows, START)
    assert fitted["n_observations"] == 46 and fitted["months_after"] == 11 and fitted["fit_note"] is None


def test_lan_model_has_one_term_per_site_but_the_first():
    rows = series(sites=("A", "B", "C"))
    design = comparative_design(rows, START)
    assert [c for c in design if c.startswith("site[")] == ["site[B]", "site[C]"]
    assert list(design.columns[:8]) == ["const", "G", "t", "G:t", "P", "G:P", "P:s", "G:P:s"]
    assert design["t"].min() == 0 and design.loc[rows["month_index"] == START, "P:s"].eq(0).all()
    assert design.loc[rows["month_index"] == START + 5, "P:s"].eq(5).all()


def _lan_series(n_sites: int = 9, seed: int = 7) -> pd.DataFrame:
    """series() at several sites, each with a rate of its own and a few months without births."""
    rng = np.random.default_rng(seed)
    rows = series(sites=tuple(f"S{i}" for i in range(n_sites)), seed=seed)
    level = rows["site_code"].str[1:].astype(int).map(lambda i: 0.6 + 0.2 * i)
    rows["events"] = rng.poisson(level * np.where(rows["G"] == 1, 0.075, 0.05) * rows["denominator"])
    rows.loc[rows.sample(5, random_state=seed).index, ["events", "denominator"]] = 0
    return rows


def test_lan_fit_absorbs_the_site_terms_and_equals_statsmodels_with_them():
    """The LAN's fit (site terms absorbed) against statsmodels' GLM on the full design with one indicator per
    site: every coefficient, standard error and the dispersion to 1e-9."""
    rows = _lan_series()
    fitted = fit_gap_trend(rows, START)
    absorbed = fitted["fit"]
    kept = rows[rows["denominator"] > 0].sort_values(["site_code", "month_index", "G"])
    full = fit_glm(kept["events"].to_numpy(float), comparative_design(kept, START), np.log(kept["denominator"]))
    assert absorbed.fitted and full.fitted and absorbed.converged
    assert list(absorbed.params.index) == ["G", "t", "G:t", "P", "G:P", "P:s", "G:P:s"]
    for term in absorbed.params.index:
        assert absorbed.params[term] == pytest.approx(full.params[term], rel=1e-9, abs=1e-12), term
        assert absorbed.bse[term] == pytest.approx(full.bse[term], rel=1e-9), term
    assert absorbed.dispersion == pytest.approx(full.dispersion, rel=1e-9)
    assert absorbed.n_observations == full.n_observations == len(rows) - 5


def test_lan_fit_says_why_when_a_term_is_one_of_the_site_terms():
    """Each site reporting only before or only after the start: P is then a site term, as the full design says."""
    rows = _lan_series(4)
    rows = rows[(rows["site_code"].isin(["S0", "S1"])) == (rows["month_index"] < START)]
    kept = rows[rows["denominator"] > 0].sort_values(["site_code", "month_index", "G"])
    full = fit_glm(kept["events"].to_numpy(float), comparative_design(kept, START), np.log(kept["denominator"]))
    absorbed = fit_glm_absorbed(
        kept["events"].to_numpy(float),
        comparative_design(kept, START).iloc[:, 1:8],
        kept["site_code"],
        np.log(kept["denominator"]),
    )
    assert absorbed.note == full.note == "the design is not of full rank (a term is constant or collinear)"
    fitted = fit_gap_trend(rows, START)
    assert fitted["fit_note"] == absorbed.note and fitted["gap_level_change"] is None


def test_every_geography_and_group_gets_a_row_with_no_nan_or_inf():
    rows = series(sites=("A", "B"))
    months = pd.Series([f"{i // 12:04d}-{i % 12 + 1:02d}" for i in rows["month_index"] + 2023 * 12 - START + 12])
    monthly = pd.DataFrame(
        {
            "site_code": rows["site_code"],
            "measure_code": "M1",
            "month": pd.to_datetime(months).dt.date,
            "ethnic_group": np.where(rows["G"] == 1, "Black", "White"),
            "numerator": rows["events"],
            "denominator": rows["denominator"],
        }
    )
    # a group one site never reports: only zero rows
    never = monthly[monthly["ethnic_group"] == "White"].assign(ethnic_group="Mixed", numerator=0, denominator=0)
    fits = fit_gap_trends(pd.concat([monthly, never]), "2024-01", "White")
    assert len(fits) == 2 * 3  # (A, B, LAN) x (Black, Mixed)
    assert month_index(pd.Series(["2024-01"])).iloc[0] == 2024 * 12
    mixed = fits[fits["ethnic_group"] == "Mixed"]
    assert mixed["gap_level_change"].isna().all() and mixed["fit_note"].notna().all()
    numbers = fits.select_dtypes("number").to_numpy(dtype=float, na_value=0.0)
    assert np.isfinite(numbers).all()
    assert fits.loc[fits["site_code"] == "LAN", "n_observations"].iloc[0] == 96


def _monthly(sites=("A", "B")) -> pd.DataFrame:
    rows = series(sites=sites)
    months = pd.Series([f"{i // 12:04d}-{i % 12 + 1:02d}" for i in rows["month_index"] + 2023 * 12 - START + 12])
    return pd.DataFrame(
        {
            "site_code": rows["site_code"],
            "measure_code": "M1",
            "month": pd.to_datetime(months).dt.date,
            "ethnic_group": np.where(rows["G"] == 1, "Black", "White"),
            "numerator": rows["events"],
            "denominator": rows["denominator"],
        }
    )


def test_unchanged_series_are_not_fitted_again(monkeypatch):
    """Given the previous fits as the warehouse keeps them, a change at site A refits A and the LAN only, and the
    result equals fitting everything again."""
    import duckdb

    import publish.gap_trend as gap_trend

    monthly = _monthly()
    con = duckdb.connect()
    con.register("fits", fit_gap_trends(monthly, "2024-01", "White"))
    previous = con.execute("select * from fits").df()  # as the asset reads analysis.gap_trend_fits back
    changed = monthly.copy()
    changed.loc[(changed["site_code"] == "A") & (changed["ethnic_group"] == "Black"), "numerator"] += 1
    fitted = []
    real = gap_trend.fit_gap_trend
    monkeypatch.setattr(gap_trend, "fit_gap_trend", lambda rows, start: fitted.append(rows) or real(rows, start))
    again = fit_gap_trends(changed, "2024-01", "White", previous)
    assert [sorted(set(rows["site_code"])) for rows in fitted] == [["A"], ["A", "B"]]  # site A, then the LAN
    monkeypatch.setattr(gap_trend, "fit_gap_trend", real)
    pd.testing.assert_frame_equal(again, fit_gap_trends(changed, "2024-01", "White"))
    fitted.clear()
    monkeypatch.setattr(gap_trend, "fit_gap_trend", lambda rows, start: fitted.append(rows) or real(rows, start))
    con.register("fits2", again)
    assert fit_gap_trends(changed, "2024-01", "Black", con.execute("select * from fits2").df()) is not None
    assert len(fitted) == 3  # another reference group: every series again


def _page_inputs():
    change = pd.DataFrame(
        {
            "geography_level": ["lan", "site"],
            "site_code": ["LAN", "S1"],
            "measure_code": "M1",
            "ethnic_group": "Black",
            "comparison": "intervention_vs_baseline",
            "ratio_of_rate_ratios": [0.8, None],
            "ratio_of_rate_ratios_lower_95": [0.6, None],
            "ratio_of_rate_ratios_upper_95": [1.1, None],
            "adjusted_ratio_of_rate_ratios": [0.82, None],
            "adjusted_ratio_of_rate_ratios_lower_95": [0.62, None],
            "adjusted_ratio_of_rate_ratios_upper_95": [1.08, None],
            "change_assessment": ["no clear change", "not calculable"],
            "adjusted_change_assessment": ["no clear change", None],
        }
    )
    trend = pd.DataFrame(
        {
            "measure_code": ["M1"],
            "ethnic_group": ["Black"],
            "first_month": [date(2023, 1, 1)],
            "baseline_gap_level": [1.5],
            "baseline_gap_trend_per_year": [1.0],
            "gap_level_change": [0.8],
            "gap_level_change_lower_95": [0.6],
            "gap_level_change_upper_95": [1.1],
            "gap_slope_change_per_year": [0.9],
            "fit_note": [None],
        }
    )
    months = pd.date_range("2023-01-01", "2024-12-01", freq="MS").date
    monthly = pd.DataFrame({"measure_code": "M1", "month": months, "ethnic_group": "Black", "rate_ratio": 1.4})
    measures = pd.DataFrame({"measure_code": ["M1"], "measure_name": ["Measure one"]})
    return change, trend, monthly, measures


def test_page_is_offline_and_redrawn_only_when_its_data_change(tmp_path):
    change, trend, monthly, measures = _page_inputs()
    first = write_gap_change_page(change, trend, monthly, measures, tmp_path, date(2024, 1, 1))
    assert first.redrawn and first.page == tmp_path / PAGE and all(p.exists() for p in first.images)
    text = first.page.read_text(encoding="utf-8")
    assert f'src="{IMAGES}/m1_forest.png"' in text and "http" not in text.replace("http-equiv", "")
    assert json.loads((tmp_path / SIDECAR).read_text())["inputs_sha256"]
    again = write_gap_change_page(change, trend, monthly, measures, tmp_path, date(2024, 1, 1))
    assert not again.redrawn
    changed = write_gap_change_page(
        change.assign(ratio_of_rate_ratios=[0.7, None]), trend, monthly, measures, tmp_path, date(2024, 1, 1)
    )
    assert changed.redrawn


def _forest_change(n_sites: int) -> pd.DataFrame:
    """gap_change rows for the LAN and n sites, two groups; site 1's ratio not calculable."""
    rows = []
    for group in ("Asian", "Black"):
        rows.append(("lan", "LAN", group, 0.8, 0.6, 1.1))
        for i in range(1, n_sites + 1):
            ratio = None if i == 1 else 0.5 + i / n_sites
            rows.append(("site", f"S{i:03d}", group, ratio, None if ratio is None else ratio / 2, ratio and ratio * 2))
    frame = pd.DataFrame(rows, columns=["geography_level", "site_code", "ethnic_group", "r", "lo", "hi"])
    return frame.assign(
        measure_code="M1",
        comparison="intervention_vs_baseline",
        ratio_of_rate_ratios=frame["r"],
        ratio_of_rate_ratios_lower_95=frame["lo"],
        ratio_of_rate_ratios_upper_95=frame["hi"],
        adjusted_ratio_of_rate_ratios=frame["r"].where(frame["geography_level"] == "lan"),
        adjusted_ratio_of_rate_ratios_lower_95=frame["lo"].where(frame["geography_level"] == "lan"),
        adjusted_ratio_of_rate_ratios_upper_95=frame["hi"].where(frame["geography_level"] == "lan"),
    )


def _tick_labels(fig) -> list[str]:
    return [label.get_text() for label in fig.axes[0].get_yticklabels()]


def test_forest_has_a_labelled_line_per_site_up_to_the_limit():
    lines = forest_rows(_forest_change(MAX_LABELLED_SITES), "M1")
    labels = _tick_labels(draw_forest(lines, "t"))
    assert len(labels) == 2 * (2 + MAX_LABELLED_SITES)
    assert "Black: S002" in labels and "Black: S001 (not calculable)" in labels


def test_forest_shows_many_sites_as_one_row_of_points_per_group():
    n = MAX_LABELLED_SITES + 1
    lines = forest_rows(_forest_change(n), "M1")
    strips, points = site_strips(lines)
    assert list(strips["kind"]) == ["lan_adjusted", "lan", "sites"] * 2
    assert sorted(points) == [2, 5] and all(len(p) == n - 1 for p in points.values())  # the not-calculable left out
    fig = draw_forest(lines, "t")
    labels = _tick_labels(fig)
    assert len(labels) == 6 and f"Asian: {n} sites (one point each)" in labels
    assert not any("S0" in label for label in labels)
    drawn = [line for line in fig.axes[0].get_lines() if len(line.get_xdata()) == n - 1]
    assert len(drawn) == 2  # one row of points per group
    low, high = fig.axes[0].get_xlim()
    assert low <= min(min(p) for p in points.values()) and high >= 1.1


# ------------------------------------------------------------------------------------------------------------
# On a real build of the sample data
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_gap_change_and_gap_trend_are_published_with_every_row(published):
    [(pairs,)] = published(
        "select count(*) from (select distinct geography_level, site_code, measure_code, ethnic_group "
        "from marts.gap_metrics where period_type = 'programme_phase' and ethnic_group != reference_group)"
    )
    [(rows, comparisons)] = published("select count(*), count(distinct comparison) from marts.gap_change")
    assert pairs == 11 * 7 * 4 and rows == pairs * comparisons
    [(trend_rows, fitted)] = published("select count(*), count(gap_level_change) from marts.gap_trend")
    assert trend_rows == pairs and fitted > 0.9 * trend_rows
    [(sites_adjusted,)] = published(
        "select count(*) from marts.gap_change where geography_level = 'site' and adjusted_ratio_of_rate_ratios "
        "is not null"
    )
    assert sites_adjusted == 0
    for table in ("gap_change", "gap_trend"):
        doubles = [
            c
            for (c,) in published(
                "select column_name from information_schema.columns where table_schema = 'marts' "
                f"and table_name = '{table}' and data_type = 'DOUBLE'"
            )
        ]
        [counts] = published(
            "select "
            + ", ".join(f"count(*) filter (where not isfinite({c}))" for c in doubles)
            + f" from marts.{table}"
        )
        assert not any(counts), table


@pytest.mark.e2e
def test_gap_change_repeats_gap_metrics_and_the_formulas(published):
    rows = published(
        """
        select c.baseline_rate_ratio, b.rate_ratio, c.comparison_rate_ratio, i.rate_ratio, c.ratio_of_rate_ratios,
               c.ratio_of_rate_ratios_lower_95, c.ratio_of_rate_ratios_p_value,
               c.baseline_numerator, c.baseline_denominator, c.baseline_reference_numerator,
               c.baseline_reference_denominator, c.comparison_numerator, c.comparison_denominator,
               c.comparison_reference_numerator, c.comparison_reference_denominator
        from marts.gap_change c
        join marts.gap_metrics b using (geography_level, site_code, measure_code, ethnic_group)
        join marts.gap_metrics i using (geography_level, site_code, measure_code, ethnic_group)
        where c.comparison = 'intervention_vs_baseline' and c.change_assessment != 'not calculable'
          and b.period_type = 'programme_phase' and b.period_label = 'baseline'
          and i.period_type = 'programme_phase' and i.period_label = 'intervention'
        """
    )
    assert rows
    from scipy import stats

    for rb, gb, rc, gc, ror, lower, p, a1, n1, b1, m1, a2, n2, b2, m2 in rows:
        assert rb == gb and rc == gc and ror == pytest.approx(rc / rb, rel=1e-12)
        se = math.sqrt(1 / a1 - 1 / n1 + 1 / b1 - 1 / m1 + 1 / a2 - 1 / n2 + 1 / b2 - 1 / m2)
        assert lower == pytest.approx(math.exp(math.log(ror) - 1.959963984540054 * se), rel=1e-12)
        assert p == pytest.approx(2 * stats.norm.sf(abs(math.log(ror) / se)), rel=1e-9, abs=1e-15)


@pytest.mark.e2e
def test_summary_query_lists_the_lan_adjusted_first(published):
    from tests.test_queries import sql_of

    rows = published(sql_of("gap_change_summary"))
    first_site = next(i for i, r in enumerate(rows) if r[0] == "site")
    assert first_site > 0 and all(r[0] == "lan" for r in rows[:first_site])
    assert {r[10] for r in rows[:first_site]} == {"adjusted for site mix (Mantel-Haenszel)"}
    assert {r[17] for r in rows} <= {"narrowed", "widened", "no clear change", "not calculable"}


@pytest.mark.e2e
def test_the_page_is_published(built_home):
    charts = built_home / "publish" / "charts"
    assert (charts / PAGE).exists() and (charts / SIDECAR).exists()
    assert len(list((charts / IMAGES).glob("*.png"))) == 2 * 7


# ------------------------------------------------------------------------------------------------------------
# In Dagster
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def defs(tmp_path_factory):
    import os

    from ingest.settings import Settings
    from orchestration.instance import prepare_environment

    home = tmp_path_factory.mktemp("defs_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAN_HOME", str(home))
        patch.setenv("PATH", os.environ["PATH"])
        patch.setenv("DAGSTER_HOME", os.environ.get("DAGSTER_HOME", str(home)))
        prepare_environment(Settings.from_env())
        from orchestration.definitions import defs as loaded

        yield loaded


def test_both_tables_and_the_page_are_assets_with_checks(defs):
    import dagster as dg

    graph = defs.resolve_asset_graph()
    fits = dg.AssetKey(["analysis", "gap_trend_fits"])
    assert graph.get(fits).group_name == "evaluation" and graph.get(fits).is_materializable
    assert fits in graph.get(dg.AssetKey(["stg_analysis__gap_trend_fits"])).parent_keys
    assert dg.AssetKey(["gap_metrics"]) in graph.get(dg.AssetKey(["gap_change"])).parent_keys
    assert graph.get(dg.AssetKey(["gap_change_page"])).group_name == "evaluation"
    checks = {(k.asset_key.path[-1], k.name) for k in graph.asset_check_keys}
    assert {
        ("gap_change", "gap_change_rows_complete"),
        ("gap_change", "gap_change_estimates_finite"),
        ("gap_trend", "gap_trend_rows_complete"),
        ("gap_trend", "gap_trend_estimates_finite"),
    } <= checks


def test_metadata_summary_is_a_markdown_table():
    from orchestration.markdown import markdown_table

    frame = pd.DataFrame({"measure_code": ["M1", "M2"], "ratio": [0.81234, None], "note": [None, "a|b"]})
    frame["note"] = frame["note"].astype("string")
    assert markdown_table(frame).splitlines() == [
        "| measure_code | ratio | note |",
        "|---|---|---|",
        "| M1 | 0.81 |  |",
        "| M2 |  | a\\|b |",
    ]
    assert markdown_table(frame.iloc[0:0]) == "none"
