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


# dbt models downstream of Python assets that are themselves downstream of dbt (analysis.gap_trend_fits, fitted from
# gap_metrics): a second dbt asset definition, so that the asset graph has no cycle and each `dbt build` runs whole.
EVALUATION_MODELS = "stg_analysis__gap_trend_fits gap_trend"


def _build(context: dg.AssetExecutionContext, dbt: DbtCliResource, lan: LanHome, folder: str):
    target = lan.settings.lan_home / "dbt" / folder
    try:
        # Column schemas (names, types) for the UI; lineage off: sqlglot cannot resolve every compiled model.
        yield from (
            dbt.cli(["build"], context=context, target_path=target)
            .stream()
            .fetch_column_metadata(with_column_lineage=False)
        )
    finally:
        _close_dbt_duckdb()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=LanDbtTranslator(),
    project=dbt_project,
    exclude=EVALUATION_MODELS,
)
def lan_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, lan: LanHome):
    """`dbt build`: models and their tests (unit and data); a failing test stops the models downstream of it.

    Its artifacts (run_results.json, logs, partial parse state) go to LAN_HOME/dbt/build, replaced by
    each run, not to a new folder in the code checkout per run."""
    yield from _build(context, dbt, lan, "build")


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=LanDbtTranslator(),
    project=dbt_project,
    select=EVALUATION_MODELS,
    name="lan_dbt_evaluation_models",
)
def lan_dbt_evaluation_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, lan: LanHome):
    """`dbt build` of the models that republish Python model fits (gap_trend), after those fits;
    artifacts in LAN_HOME/dbt/build-evaluation."""
    yield from _build(context, dbt, lan, "build-evaluation")


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
    for definition in (lan_dbt_models, lan_dbt_evaluation_models):
        try:
            return get_asset_key_for_model([definition], name)
        except KeyError:
            continue
    raise KeyError(f"no dbt model named {name}")
