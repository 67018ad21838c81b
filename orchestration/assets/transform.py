"""Transform: the dbt project (staging -> intermediate -> marts) as Dagster assets."""

import json
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets, get_asset_key_for_model
from dagster_dbt.core.dbt_event_iterator import DbtEventIterator

from ingest.settings import Settings, reference_dir
from orchestration.project import dbt_project
from orchestration.resources import LanHome

T = TypeVar("T")


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


def _build(context: dg.AssetExecutionContext, dbt: DbtCliResource, lan: LanHome, folder: str):
    """`dbt build` of the asset's selection with the pipeline's vars; artifacts in LAN_HOME/dbt/<folder>.

    Unit tests are left out, as dbt Labs advise for production: they test the SQL on fixed rows, not the data,
    so they give the same answer on every run of the same code. `make test` runs them
    (tests/test_dbt_unit_tests.py)."""
    target = lan.settings.lan_home / "dbt" / folder
    args = ["build", "--exclude-resource-type", "unit_test", "--vars", json.dumps(dbt_vars(lan.settings))]
    try:
        invocation = dbt.cli(args, context=context, target_path=target)
        # All of dbt's events first, as dagster-dbt itself does on DuckDB (the column queries need dbt's lock on the
        # warehouse released), but here in this thread: in dagster-dbt that wait is a loop on Future.done() that
        # keeps a core busy for the whole of dbt build, on a 2-core machine half of what dbt's two threads need.
        events, failure = _drain(invocation.stream())
        # Column schemas (names, types) for the UI; lineage off: sqlglot cannot resolve every compiled model.
        yield from DbtEventIterator(iter(events), invocation).fetch_column_metadata(with_column_lineage=False)
        if failure is not None:
            raise failure  # after the events of what did build, as dagster-dbt raises it
    finally:
        _close_dbt_duckdb()


def _drain(events: Iterator[T]) -> tuple[list[T], Exception | None]:
    """Every item of `events`, and the exception that ended it early (None when it ran to its end)."""
    drained: list[T] = []
    try:
        for event in events:
            drained.append(event)
    except Exception as failure:
        return drained, failure
    return drained, None


def dbt_vars(settings: Settings) -> dict[str, str]:
    """The settings dbt needs, as vars: the due-date settings (they may come from LAN_HOME's SAMPLE_DATA file, not
    only the environment) and the reference folder as an absolute path (see the `reference` source)."""
    return {
        "reference_dir": reference_dir().as_posix(),
        "due_day": str(settings.due_day),
        "reporting_end": f"{settings.reporting_end:%Y-%m}" if settings.reporting_end else "",
        "run_date": settings.today.isoformat(),
    }


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=LanDbtTranslator(),
    project=dbt_project,
    exclude=ANALYSIS_MODELS,
)
def lan_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, lan: LanHome):
    """`dbt build`: models and their data tests; a failing test stops the models downstream of it.

    Its artifacts (run_results.json, logs, partial parse state) go to LAN_HOME/dbt/build, replaced by
    each run, not to a new folder in the code checkout per run."""
    yield from _build(context, dbt, lan, "build")


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=LanDbtTranslator(),
    project=dbt_project,
    select=ANALYSIS_MODELS,
    name="lan_dbt_analysis_models",
)
def lan_dbt_analysis_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, lan: LanHome):
    """`dbt build` of the models that republish the analysis tables (run_chart_points, gap_trend: staging views,
    marts tables, their tests), after the assets that write them; artifacts in LAN_HOME/dbt/build-analysis."""
    yield from _build(context, dbt, lan, "build-analysis")


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
    """The asset key of dbt model `name`, as Dagster derives it (never spelt by hand), whichever of the two
    dbt steps builds it."""
    for definition in (lan_dbt_models, lan_dbt_analysis_models):
        try:
            return get_asset_key_for_model([definition], name)
        except KeyError:
            continue
    raise KeyError(f"no dbt model named {name}")


def schema_models(schema: str) -> list[str]:
    """Every dbt model of `schema` (marts: the published tables; release: the released ones), read from the
    manifest, never a hand-kept list."""
    nodes = json.loads(dbt_project.manifest_path.read_text())["nodes"].values()
    return sorted(n["name"] for n in nodes if n["resource_type"] == "model" and n["schema"] == schema)


def schema_model_keys(schema: str) -> list[dg.AssetKey]:
    """The asset keys of every dbt model of `schema`."""
    return [model_key(name) for name in schema_models(schema)]
