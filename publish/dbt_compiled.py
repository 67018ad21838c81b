"""The SQL dbt compiles for some models, run directly in DuckDB without dbt.

Used where dbt's own run would be too heavy: the benchmark's plain-DuckDB baseline (the same gap formulas
as the pipeline, never written twice) and tests that build the gap models over many small hand-made
warehouses. ``compile_models`` runs ``dbt compile`` once; ``run_compiled`` creates each model as a table in
its schema of any DuckDB connection, its references to the dbt target's database made unqualified.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
#: The gap models, upstream first.
GAP_MODELS = (
    "int_gap_period_months",
    "int_gap_geography_months",
    "int_gap_category_months",
    "int_gap_geography_periods",
    "int_gap_category_periods",
    "gap_metrics",
    "gap_metrics_by_ethnic_category",
)


@dataclass(frozen=True)
class CompiledModel:
    name: str
    schema: str
    database: str
    sql: str


def compile_models(
    models: Iterable[str],
    work_dir: Path,
    dbt_vars: Mapping[str, str] | None = None,
    inline: str | None = None,
) -> list[CompiledModel]:
    """``dbt compile`` of `models` (models or singular tests, in the order given) with `dbt_vars`, into `work_dir`.

    `work_dir` serves as LAN_HOME (the profile's warehouse path) and holds dbt's target folder. With
    `inline`, that SQL is compiled as well and returned last, named ``inline``.
    """
    models = list(models)
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "warehouse").mkdir(exist_ok=True)
    target = work_dir / "dbt-target"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAN_")}
    env.update({"LAN_HOME": str(work_dir), "DBT_SEND_ANONYMOUS_USAGE_STATS": "False", "DO_NOT_TRACK": "1"})
    base = [
        str(Path(sys.executable).with_name("dbt")),
        "--quiet",
        "compile",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target),
        "--log-path",
        str(work_dir / "dbt-logs"),
    ]
    if dbt_vars:
        base += ["--vars", json.dumps(dict(dbt_vars))]
    done = subprocess.run(
        base + ["--select", " ".join(models)], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode:
        raise RuntimeError(f"dbt compile failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    by_name = {n["name"]: n for n in nodes.values() if n["resource_type"] in ("model", "test")}
    compiled = [
        CompiledModel(name, by_name[name]["schema"], by_name[name]["database"], by_name[name]["compiled_code"])
        for name in models
    ]
    if inline is not None:
        done = subprocess.run(
            base + ["--inline", inline], env=env, capture_output=True, text=True, timeout=600, check=False
        )
        if done.returncode:
            raise RuntimeError(f"dbt compile --inline failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        compiled.append(CompiledModel("inline", "", "", done.stdout))
    return compiled


def read_compiled(target: Path, models: Iterable[str], database: str = "lan") -> list[CompiledModel]:
    """The compiled SQL of `models` from a dbt target folder (``<target>/compiled/<project>/models/<folder>/``).

    A model's schema is its folder (staging, intermediate, marts: see macros/generate_schema_name.sql);
    `database` is the catalog its references name (the warehouse file's stem, ``lan``)."""
    found = {p.stem: p for p in (target / "compiled").glob("*/models/*/*.sql")}
    missing = [m for m in models if m not in found]
    if missing:
        raise FileNotFoundError(f"no compiled SQL for {missing} under {target / 'compiled'}: run dbt first")
    return [CompiledModel(m, found[m].parent.name, database, found[m].read_text()) for m in models]


def unqualified(model: CompiledModel) -> str:
    """The model's SQL with the dbt target's database name removed from its references."""
    return model.sql.replace(f'"{model.database}".', "") if model.database else model.sql


def run_compiled(con: duckdb.DuckDBPyConnection, models: Iterable[CompiledModel]) -> None:
    """Create each model as a table ``<schema>.<name>`` of `con`'s current database, in the order given."""
    for model in models:
        con.execute(f'create schema if not exists "{model.schema}"')
        con.execute(f'create or replace table "{model.schema}"."{model.name}" as {unqualified(model)}')
