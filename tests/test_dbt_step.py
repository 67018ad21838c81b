"""The dbt step of the pipeline (orchestration/assets/transform.py): dbt's events, with their column schemas,
and when dbt fails, the events of what did build before the failure is raised."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.assets.transform import _drain


def test_drain_keeps_what_came_before_the_failure():
    def events():
        yield "a"
        yield "b"
        raise RuntimeError("dbt failed")

    drained, failure = _drain(events())
    assert drained == ["a", "b"] and isinstance(failure, RuntimeError)
    assert _drain(iter(["a"])) == (["a"], None)


def test_a_failing_data_test_fails_the_step_after_the_models_that_built(built_home: Path, tmp_path, monkeypatch):
    from orchestration.assets.transform import lan_dbt_models, model_key
    from orchestration.resources import build_resources

    home = tmp_path / "home"
    (home / "warehouse").mkdir(parents=True)
    shutil.copy(built_home / "warehouse" / "lan.duckdb", home / "warehouse" / "lan.duckdb")
    with duckdb.connect(str(home / "warehouse" / "lan.duckdb")) as con:  # an ethnic code no reference list has
        con.execute("insert into raw.return_rows select * replace ('XX' as ethnic_code) from raw.return_rows limit 1")
    monkeypatch.setenv("LAN_HOME", str(home))

    result = dg.materialize(
        [lan_dbt_models], resources=build_resources(), instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )

    assert not result.success
    results = json.loads((home / "dbt" / "build" / "run_results.json").read_text())["results"]
    assert any(r["status"] in ("fail", "error") for r in results)
    models = {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model.")}
    succeeded = {
        r["unique_id"].split(".")[-1]
        for r in results
        if r["unique_id"].startswith("model.") and r["status"] == "success"
    }
    assert succeeded and succeeded != models  # some models built, the rest were skipped after the failing test
    built = {m.asset_key: m.materialization for m in result.get_asset_materialization_events()}
    assert set(built) == {model_key(name) for name in succeeded}  # every model dbt built is reported
    assert all("dagster/column_schema" in m.metadata for m in built.values())


def test_the_reference_views_read_their_files_from_any_working_directory(built_home: Path, tmp_path, monkeypatch):
    """dagster-dbt reads each model's columns in threads that each change into the dbt project and back: the views
    over the reference CSVs name them by an absolute path, so they read the same from any folder (with a path
    relative to the project, a thread's DESCRIBE after another's change back failed and left out the columns)."""
    monkeypatch.chdir(tmp_path)
    with duckdb.connect(str(built_home / "warehouse" / "lan.duckdb"), read_only=True) as con:
        views = con.sql(
            "select view_name from duckdb_views() where schema_name = 'staging' and view_name like 'stg_reference%'"
        ).fetchall()
        counts = {name: con.execute(f"select count(*) from staging.{name}").fetchone()[0] for (name,) in views}
    assert set(counts) == {"stg_reference__sites", "stg_reference__ethnic_categories", "stg_reference__measures"}
    assert all(counts.values())


def test_the_dbt_resource_knows_the_version_of_its_dbt_without_starting_it(monkeypatch):
    """The pipeline's dbt resource gives dagster-dbt the installed dbt-core's version instead of running
    `dbt --version`; that is the version of the dbt it runs."""
    import subprocess

    import dagster_dbt.core.resource as dbt_resource

    from orchestration.project import DBT_EXECUTABLE
    from orchestration.resources import build_resources

    printed = subprocess.run([DBT_EXECUTABLE, "--version"], capture_output=True, text=True, check=True).stdout
    core = next(line for line in printed.splitlines() if "installed:" in line).split(":")[1].strip()

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"started {args}")

    monkeypatch.setattr(dbt_resource, "check_output", no_subprocess)
    resource = build_resources()["dbt"]
    assert resource.dbt_executable == DBT_EXECUTABLE
    assert str(resource._cli_version) == core
