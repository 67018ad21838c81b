"""`dbt parse` runs only when what it reads changed: the project's files, dbt's version or a setting the project
names (orchestration.project.prepare); otherwise the manifest it wrote last is kept."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from dagster_dbt import DbtProject

from orchestration.project import DBT_EXECUTABLE, DBT_PROJECT_DIR, GENERATED, prepare, project_fingerprint


@pytest.fixture
def project(tmp_path, monkeypatch) -> DbtProject:
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns(*GENERATED))
    monkeypatch.setenv("LAN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LAN_PROGRAMME_START", raising=False)
    # the preparer runs the dbt first on PATH, as prepare_environment sets it
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(DBT_EXECUTABLE).parent), os.environ["PATH"]]))
    return DbtProject(project_dir=copy, profiles_dir=copy)


def parsed_at(project: DbtProject) -> int:
    return project.manifest_path.stat().st_mtime_ns


def test_the_manifest_is_parsed_again_only_when_its_inputs_change(project, monkeypatch):
    prepare(project)
    first = parsed_at(project)
    prepare(project)
    assert parsed_at(project) == first  # nothing changed: no dbt parse

    model = next(project.project_dir.glob("models/marts/dim_site.sql"))
    model.write_text(model.read_text() + "\n-- a comment\n")
    prepare(project)
    second = parsed_at(project)
    assert second != first

    monkeypatch.setenv("LAN_PROGRAMME_START", "2024-04")  # named by the project: env_var('LAN_PROGRAMME_START', ...)
    prepare(project)
    assert parsed_at(project) != second


def test_the_fingerprint_ignores_what_dbt_writes_and_follows_settings_the_project_names(project, monkeypatch):
    before = project_fingerprint(project.project_dir)
    (project.project_dir / "target").mkdir(exist_ok=True)
    (project.project_dir / "target" / "run_results.json").write_text("{}")
    (project.project_dir / "logs").mkdir(exist_ok=True)
    (project.project_dir / "logs" / "dbt.log").write_text("log")
    monkeypatch.setenv("LAN_NOT_NAMED_BY_THE_PROJECT", "x")
    monkeypatch.setenv("LAN_HOME", str(project.project_dir / "another_home"))  # profiles.yml's: not the manifest's
    assert project_fingerprint(project.project_dir) == before
    monkeypatch.setenv("LAN_DISCLOSURE_RULE", "hes")
    assert project_fingerprint(project.project_dir) != before


def test_a_prepared_project_is_checked_without_loading_dagster_dbt():
    """`make run` checks the fingerprint before every run; dagster-dbt (2 s, 85 MB) loads only to parse."""
    import subprocess
    import sys

    from orchestration.project import dbt_project

    prepare()  # the project's own manifest, up to date
    assert DBT_PROJECT_DIR.joinpath(os.environ.get("LAN_DBT_TARGET_PATH") or "target", "manifest.json") == (
        dbt_project.manifest_path
    )
    probe = "import sys; from orchestration.project import prepare; prepare(); print('dagster_dbt' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
    probe = "import sys; from orchestration.project import dbt_project; print('dagster_dbt' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "True"
