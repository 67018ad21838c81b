"""Release: the published copy for the RHO team, dbt docs, the evaluation release and the partner's copy.

The disclosure-controlled tables are dbt models (dbt_project/models/release/, schema `release`), built with the
marts by the one `dbt build` (assets/transform.py); the Python assets here only copy and write files, and each
output has asset checks on what it published.
"""

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource

from ingest.settings import REPO_ROOT
from orchestration.assets.transform import schema_model_keys, schema_models
from orchestration.project import dbt_project
from orchestration.resources import LanHome
from publish.dictionary import load_manifest
from publish.published_copy import partner_copy_release, publish_copy, publish_partner_copy
from publish.release import build_release, check_release, latest_release, read_manifest, rule_from_name
from publish.warehouse_tables import non_finite_counts

DOCS_INPUTS_FILE = ".inputs.sha256"


def _markdown_counts(counts: dict[str, int]) -> dg.MetadataValue:
    rows = "\n".join(f"| {table} | {n:,} |" for table, n in sorted(counts.items()))
    return dg.MetadataValue.md(f"| table | rows |\n|---|---:|\n{rows}")


@dg.asset(
    deps=schema_model_keys("marts"),
    group_name="publish",
    compute_kind="duckdb",
)
def published_warehouse(lan: LanHome) -> dg.MaterializeResult:
    """publish/warehouse.duckdb, for the RHO team's analysts: every marts table with unrounded counts, replaced
    whole and atomically, readable by DuckDB 1.x. Not for the evaluation partner (see partner_warehouse)."""
    settings = lan.settings
    counts = publish_copy(settings.warehouse, settings.published_warehouse)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(settings.published_warehouse)),
            "row_counts": _markdown_counts(counts),
            "tables": len(counts),
        }
    )


@dg.asset_check(
    asset=published_warehouse,
    blocking=True,
    description="Every marts table of the working warehouse (each dbt marts model among them) is in the published "
    "copy with the same number of rows.",
)
def published_warehouse_has_every_marts_table(lan: LanHome, warehouse: DuckDBResource) -> dg.AssetCheckResult:
    query = "select table_name, estimated_size from duckdb_tables() where schema_name = 'marts'"
    with warehouse.get_connection() as con:
        tables = [t for (t, _) in con.execute(query).fetchall()]
        built = {t: con.execute(f'select count(*) from marts."{t}"').fetchone()[0] for t in tables}
    con = duckdb.connect(str(lan.settings.published_warehouse), read_only=True)
    try:
        present = {t for (t, _) in con.execute(query).fetchall()}
        published = {t: con.execute(f'select count(*) from marts."{t}"').fetchone()[0] for t in present}
    finally:
        con.close()
    problems = [f"marts.{m} (dbt model) missing" for m in schema_models("marts") if m not in present]
    problems += [
        f"marts.{t}: {published.get(t)} rows published, {n} built" for t, n in built.items() if published.get(t) != n
    ]
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "tables": len(present),
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
        },
    )


@dg.asset_check(
    asset=published_warehouse,
    description="No number in the published copy is NaN or infinite (a statistic that cannot be computed is empty).",
)
def published_warehouse_has_no_nan_or_infinity(lan: LanHome) -> dg.AssetCheckResult:
    con = duckdb.connect(str(lan.settings.published_warehouse), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "select distinct table_name from duckdb_columns() where schema_name = 'marts' "
                "and data_type in ('DOUBLE', 'FLOAT') order by all"
            ).fetchall()
        ]
        counts = {table: non_finite_counts(con, f"marts.{table}") for table in tables}
        bad = {f"{t}.{c}": n for t, by_column in counts.items() for c, n in by_column.items() if n}
    finally:
        con.close()
    return dg.AssetCheckResult(
        passed=not bad,
        metadata={
            "columns_checked": sum(len(by_column) for by_column in counts.values()),
            "problems": dg.MetadataValue.md("\n".join(f"- {c}: {n} value(s)" for c, n in bad.items()) or "none"),
        },
    )


def _docs_inputs_hash(manifest_path: Path, warehouse: DuckDBResource) -> str:
    """What `dbt docs generate` reads: the project's nodes, sources, macros and docs (without parse times) and
    the warehouse's tables and columns (the catalog)."""

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("created_at", "root_path")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    manifest = load_manifest(manifest_path)
    content = {k: strip(manifest.get(k, {})) for k in ("nodes", "sources", "macros", "docs", "exposures")}
    with warehouse.get_connection() as con:
        content["catalog"] = con.execute(
            "select table_schema, table_name, column_name, data_type, ordinal_position "
            "from information_schema.columns order by all"
        ).fetchall()
    text = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dg.asset(deps=[published_warehouse], group_name="publish", compute_kind="dbt")
def dbt_docs(lan: LanHome, dbt: DbtCliResource, warehouse: DuckDBResource) -> dg.MaterializeResult:
    """dbt's documentation site (overview, models, columns, lineage) as one offline page in publish/docs/; not
    generated again when the project and the warehouse's tables are unchanged."""
    dest = lan.settings.publish / "docs"
    index = dest / "index.html"
    digest = _docs_inputs_hash(dbt_project.manifest_path, warehouse)
    marker = dest / DOCS_INPUTS_FILE
    if index.is_file() and marker.is_file() and marker.read_text().strip() == digest:
        return dg.MaterializeResult(metadata={"index": dg.MetadataValue.path(str(index)), "generated": False})
    invocation = dbt.cli(
        ["docs", "generate", "--static"],
        manifest=dbt_project.manifest_path,
        target_path=lan.settings.lan_home / "dbt" / "docs",
        raise_on_error=True,
    ).wait()
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(invocation.target_path) / "static_index.html", index)
    marker.write_text(digest + "\n")
    return dg.MaterializeResult(metadata={"index": dg.MetadataValue.path(str(index)), "generated": True})


def code_version() -> str:
    """The git commit the code was built from (with -dirty when changed), or unknown."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        return described or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@dg.asset(deps=[*schema_model_keys("release"), published_warehouse], group_name="publish", compute_kind="duckdb")
def evaluation_release(
    context: dg.AssetExecutionContext, lan: LanHome, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """A new release folder in publish/evaluation/ (Parquet + CSV of each release model, data dictionary,
    manifest, README), written by DuckDB table by table, checked, then renamed into place and named by
    publish/evaluation/LATEST; nothing is written when its inputs are unchanged."""
    settings = lan.settings
    with warehouse.get_connection() as con:
        release = build_release(
            con,
            settings.evaluation,
            load_manifest(dbt_project.manifest_path),
            rule=rule_from_name(settings.disclosure_rule),
            code_version=code_version(),
            synthetic=settings.sample_marker.exists(),
            memory_limit=settings.duckdb_memory_limit,
        )
    context.log.info(f"Evaluation release: {release.path} ({'new' if release.built else 'unchanged'})")
    tables = read_manifest(release.path)["tables"]
    return dg.MaterializeResult(
        metadata={
            "release": dg.MetadataValue.path(str(release.path)),
            "new_release": release.built,
            "row_counts": _markdown_counts({t: info["rows"] for t, info in tables.items()}),
        }
    )


@dg.asset_check(
    asset=evaluation_release,
    description="The latest release holds: every file's sha256 and row count as its manifest says, each CSV equal "
    "to its Parquet file, no count from 1 to 7 and every count a multiple of 5, no NaN or infinity, every column "
    "described.",
)
def evaluation_release_checks_itself(lan: LanHome) -> dg.AssetCheckResult:
    release = latest_release(lan.settings.evaluation)
    problems = ["no release"] if release is None else check_release(release, lan.settings.duckdb_memory_limit)
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "release": str(release),
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems[:50]) or "none"),
        },
    )


@dg.asset(deps=[evaluation_release], group_name="publish", compute_kind="duckdb")
def partner_warehouse(context: dg.AssetExecutionContext, lan: LanHome) -> dg.MaterializeResult:
    """publish/partner/warehouse.duckdb, for the evaluation partner: the latest release's tables in schema marts
    (same table names, disclosure control applied), replaced atomically, readable by DuckDB 1.x."""
    settings = lan.settings
    release = latest_release(settings.evaluation)
    if release is None:
        raise dg.Failure("no evaluation release to copy")
    dest = settings.publish / "partner" / "warehouse.duckdb"
    tables = list(read_manifest(release)["tables"])
    rebuilt = partner_copy_release(dest) != release.name
    if rebuilt:
        publish_partner_copy(release, dest, tables)
    context.log.info(f"Partner copy {dest}: release {release.name} ({'written' if rebuilt else 'unchanged'})")
    return dg.MaterializeResult(
        metadata={"path": dg.MetadataValue.path(str(dest)), "release": release.name, "rewritten": rebuilt}
    )


@dg.asset_check(
    asset=partner_warehouse,
    blocking=True,
    description="The partner's copy holds every table of the latest release with its row count, and no count "
    "(any numerator or denominator) from 1 to 7 or not a multiple of 5.",
)
def partner_warehouse_is_disclosure_safe(lan: LanHome) -> dg.AssetCheckResult:
    settings = lan.settings
    release = latest_release(settings.evaluation)
    tables = read_manifest(release)["tables"] if release else {}
    con = duckdb.connect(str(settings.publish / "partner" / "warehouse.duckdb"), read_only=True)
    problems = []
    try:
        for table, info in tables.items():
            try:
                rows = con.execute(f'select count(*) from marts."{table}"').fetchone()[0]
            except duckdb.CatalogException:
                problems.append(f"marts.{table} missing")
                continue
            if rows != info["rows"]:
                problems.append(f"marts.{table}: {rows} rows, the release has {info['rows']}")
        columns = con.execute(
            "select table_name, column_name from information_schema.columns where table_schema = 'marts' "
            "and data_type in ('TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT', 'DOUBLE') "
            "and (column_name like '%numerator%' or column_name like '%denominator%')"
        ).fetchall()
        for table, column in columns:
            bad = con.execute(
                f'select count(*) from marts."{table}" where "{column}" between 1 and 7 or "{column}" % 5 <> 0'
            ).fetchone()[0]
            if bad:
                problems.append(f"marts.{table}.{column}: {bad} value(s) break disclosure control")
    finally:
        con.close()
    return dg.AssetCheckResult(
        passed=bool(tables) and not problems,
        metadata={
            "release": release.name if release else "none",
            "count_columns_checked": len(columns),
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
        },
    )
