"""Transform: the dbt project (staging -> intermediate -> marts) as Dagster assets."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets, get_asset_key_for_model

from orchestration.project import dbt_project
from orchestration.resources import LanHome


class LanDbtTranslator(DagsterDbtTranslator):
    """dbt sources are the ingest and quality assets; models group by their folder (layer)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return dg.AssetKey([dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """The model's folder under models/ (staging, intermediate, marts), as the dbt project layers them."""
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "transform"


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=LanDbtTranslator(),
    project=dbt_project,
)
def lan_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, lan: LanHome):
    """`dbt build`: models and their tests (unit and data); a failing test stops the models downstream of it.

    Its artifacts (run_results.json, logs, partial parse state) go to LAN_HOME/dbt/build, replaced by
    each run, not to a new folder in the code checkout per run."""
    target = lan.settings.lan_home / "dbt" / "build"
    try:
        # Column schemas (names, types) for the UI; lineage off: sqlglot cannot resolve every compiled model.
        yield from (
            dbt.cli(["build"], context=context, target_path=target)
            .stream()
            .fetch_column_metadata(with_column_lineage=False)
        )
    finally:
        _close_dbt_duckdb()


def _close_dbt_duckdb() -> None:
    """Close the warehouse file that fetch_column_metadata opened in this process through dbt-duckdb's adapter.

    dbt-duckdb keeps one database handle per process (DuckDBConnectionManager._ENV). Left open, it holds the
    file with dbt's configuration, and the `warehouse` resource could not open it in the next steps ("a
    different configuration than existing connections")."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
    DuckDBConnectionManager.close_all_connections()


def model_key(name: str) -> dg.AssetKey:
    """The asset key of dbt model `name`, as Dagster derives it (never spelt by hand)."""
    return get_asset_key_for_model([lan_dbt_models], name)
