"""The dbt project, in its own module so that Dagster code and scripts share one DbtProject."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dagster_dbt import DbtProject

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
# The dbt of the environment running us (the project's .venv), not whatever is first on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))

# Where `dbt parse` writes the manifest the definitions load, relative to dbt_project/ (default target). The test
# suite gives each parallel pytest worker its own folder under target/, so that one worker's runs never read a
# manifest another's `dbt parse` is rewriting.
TARGET_PATH_VARIABLE = "LAN_DBT_TARGET_PATH"

dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=DBT_PROJECT_DIR,
    target_path=os.environ.get(TARGET_PATH_VARIABLE) or "target",
)
