"""Transform: the dbt project (staging -> intermediate -> marts) as Dagster assets."""

import json
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets, get_asset_key_for_model

from ingest.settings import Settings
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


# Models built on what the Python analysis assets write (schema `analysis`: run-chart rules, model fits). Those assets
# read the marts and dbt then republishes their tables, so these models are a second dbt step after them: inside one
# dbt multi-asset the dependency would be a cycle, which Dagster would break by running `dbt build` in pieces whose
# relationship tests see half-built tables.
ANALYSIS_MODELS = "source:analysis+"


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=LanDbtTranslator(),
    project=dbt_project,
    exclude=ANALYSIS_MODELS,
)
def lan_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, lan: LanHome):
    """`dbt build`: models and their tests (unit and data); a failing test stops the models downstream of it.

    Its artifacts (run_results.json, logs, partial parse state) go to LAN_HOME/dbt/build, replaced by
    each run, not to a new folder in the code checkout per run."""
    target = lan.settings.lan_home / "dbt" / "build"
    yield from dbt.cli(
        ["build", "--vars", json.dumps(due_date_vars(lan.settings))], context=context, target_path=target
    ).stream()


def due_date_vars(settings: Settings) -> dict[str, str]:
    """The due-date settings as dbt vars (they may come from LAN_HOME's SAMPLE_DATA file, not only the environment)."""
    return {
        "due_day": str(settings.due_day),
        "reporting_end": f"{settings.reporting_end:%Y-%m}" if settings.reporting_end else "",
        "run_date": settings.today.isoformat(),
    }


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=LanDbtTranslator(),
    project=dbt_project,
    select=ANALYSIS_MODELS,
    name="lan_dbt_analysis_models",
)
def lan_dbt_analysis_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, lan: LanHome):
    """`dbt build` of the models that republish the analysis tables (staging view, marts table, their tests)."""
    target = lan.settings.lan_home / "dbt" / "build_analysis"
    yield from dbt.cli(["build"], context=context, target_path=target).stream()


def model_key(name: str) -> dg.AssetKey:
    """The asset key of dbt model `name`, as Dagster derives it (never spelt by hand); any model of the manifest,
    whichever of the two dbt steps builds it."""
    return get_asset_key_for_model([lan_dbt_models], name)
