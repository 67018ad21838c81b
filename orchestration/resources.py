"""Resources, declared once, all derived from one environment variable, LAN_HOME (the optional LAN_* settings
beside it): the programme settings, the working warehouse (one DuckDB resource) and dbt."""

from dataclasses import replace
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource
from packaging.version import Version

from ingest.settings import Settings
from orchestration.project import DBT_EXECUTABLE, dbt_project


class LanHome(dg.ConfigurableResource):
    """The LAN_HOME folder and the programme settings read with it from the environment."""

    lan_home: str

    @property
    def settings(self) -> Settings:
        return replace(Settings.from_env(), lan_home=Path(self.lan_home).resolve())


class LanDbtCli(DbtCliResource):
    """dagster-dbt's dbt resource, told dbt's version instead of asking `dbt --version` for it.

    DbtCliResource starts `dbt --version` once per resource in every run (2.5 s of each run at 130 sites, a second
    start of dbt). Our dbt_executable is this environment's own (orchestration.project.DBT_EXECUTABLE), so its
    version is the dbt-core installed here (tests/test_dbt_step.py holds the two equal)."""

    @cached_property
    def _cli_version(self) -> Version:
        return Version(installed_version("dbt-core"))


def build_resources() -> dict:
    settings = Settings.from_env()
    return {
        "lan": LanHome(lan_home=dg.EnvVar("LAN_HOME")),
        # The working warehouse: only the pipeline opens it, one step at a time (README "Places").
        # The ingest asset, first in every run, creates its folder and the raw tables.
        "warehouse": DuckDBResource(database=str(settings.warehouse), connection_config=settings.duckdb_config),
        "dbt": LanDbtCli(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
    }
