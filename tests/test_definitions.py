"""The Dagster code location loads, and holds what the RHO data team expects to see in the UI."""

from __future__ import annotations

import os

import dagster as dg
import pytest


@pytest.fixture(scope="module")
def defs(tmp_path_factory, monkeypatch_module):
    from ingest.settings import Settings
    from orchestration.instance import prepare_environment

    home = tmp_path_factory.mktemp("defs_home")
    monkeypatch_module.setenv("LAN_HOME", str(home))
    # prepare_environment sets these too: register them so that they are restored after the module
    monkeypatch_module.setenv("PATH", os.environ["PATH"])
    monkeypatch_module.setenv("DAGSTER_HOME", os.environ.get("DAGSTER_HOME", str(home)))
    prepare_environment(Settings.from_env())  # dbt parse -> manifest
    from orchestration.definitions import defs as loaded

    return loaded


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_definitions_load_with_one_job_and_the_landing_sensor(defs):
    job = defs.resolve_job_def("lan_pipeline")
    assert job.executor_def.name == "in_process"
    assert [s.name for s in defs.sensors] == ["landing_sensor"]


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
    assert dg.AssetKey(["gap_metrics"]) in graph.get(dg.AssetKey(["run_chart_points"])).parent_keys
