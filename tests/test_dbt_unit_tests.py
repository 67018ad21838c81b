"""dbt's unit tests: each model's SQL on fixed rows (the gap statistics and their edge cases, gap_change's rules,
the month spine, ...). Production runs leave them out, as dbt Labs advise (orchestration/assets/transform.py:
they test the code, not the data); `make test` runs every one of them here, on a copy of a built warehouse,
whose tables give dbt the column types of each unit test's parents."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from orchestration.project import DBT_EXECUTABLE, DBT_PROJECT_DIR
from tests.conftest import pipeline_env


def test_every_dbt_unit_test_passes(built_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "warehouse").mkdir(parents=True)
    shutil.copy(built_home / "warehouse" / "lan.duckdb", home / "warehouse" / "lan.duckdb")
    target = tmp_path / "target"
    done = subprocess.run(
        [DBT_EXECUTABLE, "test", "--select", "test_type:unit"]
        + ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
        + ["--target-path", str(target), "--log-path", str(tmp_path / "logs")],
        env=pipeline_env(home),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-6000:]
    declared = json.loads((target / "manifest.json").read_text())["unit_tests"]
    results = json.loads((target / "run_results.json").read_text())["results"]
    assert len(declared) >= 10
    assert sorted(r["unique_id"] for r in results) == sorted(declared)
    assert {r["status"] for r in results} == {"pass"}


def test_the_pipeline_builds_with_data_tests_and_without_unit_tests(built_home: Path) -> None:
    results = json.loads((built_home / "dbt" / "build" / "run_results.json").read_text())["results"]
    kinds = {r["unique_id"].split(".")[0] for r in results}
    assert {"model", "test"} <= kinds
    assert "unit_test" not in kinds
