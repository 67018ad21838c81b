"""Setting up a LAN_HOME for Dagster: its DAGSTER_HOME and the dbt manifest."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ingest.settings import REPO_ROOT, Settings
from orchestration.project import dbt_project


def prepare_environment(settings: Settings) -> None:
    """Make LAN_HOME's folders, install dagster.yaml as its DAGSTER_HOME, and parse the dbt project."""
    settings.make_folders()
    shutil.copyfile(REPO_ROOT / "dagster.yaml", settings.dagster_home / "dagster.yaml")
    os.environ["LAN_HOME"] = str(settings.lan_home)
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    # dbt and dagster of this environment first on PATH, whoever started us.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    dbt_project.preparer.prepare(dbt_project)  # dbt parse (partial parsing keeps it quick)
