"""Resources, declared once, all derived from one environment variable, LAN_HOME (the optional LAN_* settings
beside it): the programme settings, the working warehouse (one DuckDB resource) and dbt."""

from dataclasses import replace
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource

from ingest.settings import Settings
from orchestration.project import DBT_EXECUTABLE, dbt_project


class LanHome(dg.ConfigurableResource):
    """The LAN_HOME folder and the programme settings read with it from the environment."""

    lan_home: str

    @property
    def settings(self) -> Settings:
        return replace(Settings.from_env(), lan_home=Path(self.lan_home).resolve())


def build_resources() -> dict:
    settings = Settings.from_env()
    return {
        "lan": LanHome(lan_home=dg.EnvVar("LAN_HOME")),
        # The working warehouse: only the pipeline opens it, one step at a time (README "Places").
        # The ingest asset, first in every run, creates its folder and the raw tables.
        "warehouse": DuckDBResource(database=str(settings.warehouse), connection_config=settings.duckdb_config),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
    }
