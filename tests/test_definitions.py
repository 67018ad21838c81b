"""The Dagster code location loads, and holds what the RHO data team expects to see in the UI."""

from __future__ import annotations

import os

import dagster as dg
import pytest


def load_definitions(home, patch: pytest.MonkeyPatch):
    """The code location over a new LAN_HOME `home` (dbt parse included), its environment set through `patch`."""
    from ingest.settings import Settings
    from orchestration.instance import prepare_environment

    patch.setenv("LAN_HOME", str(home))
    # prepare_environment sets these too: register them so that they are restored afterwards
    patch.setenv("PATH", os.environ["PATH"])
    patch.setenv("DAGSTER_HOME", os.environ.get("DAGSTER_HOME", str(home)))
    prepare_environment(Settings.from_env())  # dbt parse -> manifest
    from orchestration.definitions import defs as loaded

    return loaded


@pytest.fixture(scope="module")
def defs(tmp_path_factory, monkeypatch_module):
    return load_definitions(tmp_path_factory.mktemp("defs_home"), monkeypatch_module)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_definitions_load_with_one_job_and_the_landing_sensor(defs):
    job = defs.resolve_job_def("lan_pipeline")
    assert job.executor_def.name == "in_process"
    assert [s.name for s in defs.sensors] == ["landing_sensor", "alert_on_run_failure"]


def test_every_layer_is_an_asset_group(defs):
    graph = defs.resolve_asset_graph()
    groups = {graph.get(key).group_name for key in graph.get_all_asset_keys() if graph.get(key).is_materializable}
    assert {"ingest", "quality", "staging", "intermediate", "marts", "publish"} <= groups


def test_dbt_sources_are_the_ingest_and_quality_assets(defs):
    graph = defs.resolve_asset_graph()
    upstream = graph.get(dg.AssetKey(["stg_raw__return_rows"])).parent_keys
    assert upstream == {dg.AssetKey(["raw", "return_rows"])}
    assert graph.get(dg.AssetKey(["raw", "return_rows"])).is_materializable
    assert (
        dg.AssetKey(["raw", "data_quality_results"])
        in graph.get(dg.AssetKey(["stg_raw__data_quality_results"])).parent_keys
    )


def test_every_quality_rule_has_an_asset_check(defs):
    names = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert {
        "return_rows_are_well_formed",
        "no_file_quarantined_this_run",
        "ethnicity_completeness_meets_threshold",
        "completeness_even_across_groups_and_measures",
    } <= names
    assert any(n.startswith("unique_") for n in names) and any(n.startswith("relationships_") for n in names)


def test_publishing_waits_for_every_mart(defs):
    graph = defs.resolve_asset_graph()
    parents = {k.path[-1] for k in graph.get(dg.AssetKey(["published_warehouse"])).parent_keys}
    assert {"gap_metrics", "run_chart_points", "fct_measure_monthly", "fct_submission_status", "dim_month"} <= parents


def test_gap_tables_are_dbt_models_with_their_checks(defs):
    graph = defs.resolve_asset_graph()
    for name in ("gap_metrics", "gap_metrics_by_ethnic_category"):
        assert graph.get(dg.AssetKey([name])).group_name == "marts"
        checks = {key.name for key in graph.asset_check_keys if key.asset_key == dg.AssetKey([name])}
        assert {f"{name}_has_every_expected_row", f"{name}_has_no_nan_or_infinity"} <= checks
    assert dg.AssetKey(["gap_metrics"]) in graph.get(dg.AssetKey(["analysis", "run_chart_points"])).parent_keys


HEAVY = ["great_expectations", "statsmodels", "matplotlib", "scipy"]


def heavy_after_importing(modules: list[str], home) -> list[str]:
    """Which of HEAVY a new interpreter holds after importing `modules`."""
    import subprocess
    import sys

    probe = f"import sys, {', '.join(modules)}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    env = {**os.environ, "LAN_HOME": str(home)}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    return [m for m in done.stdout.strip().split(",") if m]


def test_loading_the_definitions_leaves_the_heavy_libraries_to_the_steps_that_use_them(tmp_path):
    """The code server, each run worker and `make ui` load the definitions; Great Expectations, statsmodels and
    matplotlib (about 3 s and 200 MB) load only in a step that runs them (orchestration/assets/__init__.py)."""
    assert heavy_after_importing(["orchestration.definitions"], tmp_path) == []
    # the probe does see them once a step's module is imported
    steps = ["publish.gap_trend", "publish.charts", "expectations.validate"]
    assert heavy_after_importing(steps, tmp_path) == HEAVY
