"""The README's BI recipes, run: SQLAlchemy + duckdb-engine (what Superset uses) on both published copies, read-only.

Superset lists a database's tables with the inspector and creates a dataset by looking up the table's columns
(`Inspector.get_columns`). SQLAlchemy 2.0.45 added a `pg_collation` subquery to PostgreSQL column reflection,
which duckdb-engine inherits (duckdb_engine #1379); DuckDB 1.5 added an empty `pg_catalog.pg_collation` view so
that query binds. SQLAlchemy 2.1 reflects collations with a longer query (a join inside the subquery and
`json_build_object`) that DuckDB cannot bind yet, so with duckdb-engine 0.17.0 column lookup needs SQLAlchemy
< 2.1. These tests record what this environment does, so that a change of versions shows up here first, and check the
combination the README recommends for Superset in a virtualenv of its own (SUPERSET_PIN)."""

from __future__ import annotations

import json
import subprocess

import duckdb
import duckdb_engine
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from tests.test_published_copy import REPO_ROOT, ensure_duckdb1_venv

COPIES = ["warehouse.duckdb", "partner/warehouse.duckdb"]
# What the README recommends for Superset: duckdb-engine 0.17 with DuckDB >= 1.5 and SQLAlchemy 2.0.x.
SUPERSET_PIN = "duckdb==1.5.6 duckdb-engine==0.17.0 sqlalchemy==2.0.58"
SUPERSET_VENV = REPO_ROOT / ".venv-superset"  # gitignored by `.venv-*/`
COLUMN_LOOKUP = """
import json, sys
import sqlalchemy as sa
engine = sa.create_engine(f"duckdb:///{sys.argv[1]}?access_mode=read_only")
print(json.dumps([c["name"] for c in sa.inspect(engine).get_columns("gap_metrics", schema="marts")]))
"""
SQLA_2_1 = tuple(int(p) for p in sa.__version__.split(".")[:2]) >= (2, 1)


def engine_for(built_home, copy: str) -> sa.Engine:
    """The README's URL: duckdb:////abs/path?access_mode=read_only."""
    return sa.create_engine(f"duckdb:///{built_home / 'publish' / copy}?access_mode=read_only")


@pytest.mark.e2e
@pytest.mark.parametrize("copy", COPIES)
def test_a_sqlalchemy_client_lists_the_marts_tables_and_reads_read_only(built_home, copy):
    engine = engine_for(built_home, copy)
    try:
        inspector = sa.inspect(engine)
        assert any(s.endswith("marts") for s in inspector.get_schema_names())
        assert {"gap_metrics", "fct_measure_monthly", "dim_site"} <= set(inspector.get_table_names(schema="marts"))
        with engine.connect() as con:
            assert con.execute(sa.text("select count(*) from marts.gap_metrics")).scalar() > 0
            with pytest.raises(DBAPIError, match="read-only"):
                con.execute(sa.text("create table marts.scratch (a integer)"))
    finally:
        engine.dispose()


@pytest.mark.e2e
@pytest.mark.parametrize("copy", COPIES)
@pytest.mark.xfail(
    SQLA_2_1,
    raises=DBAPIError,
    strict=True,
    reason=f"SQLAlchemy {sa.__version__}'s column reflection does not bind in DuckDB {duckdb.__version__} through "
    f"duckdb-engine {duckdb_engine.__version__} (pg_collation join, json_build_object): Superset needs SQLAlchemy "
    "< 2.1 (README, BI tools)",
)
def test_superset_column_lookup(built_home, copy):
    engine = engine_for(built_home, copy)
    try:
        columns = sa.inspect(engine).get_columns("gap_metrics", schema="marts")
    finally:
        engine.dispose()
    names = [c["name"] for c in columns]
    assert names[:4] == ["geography_level", "site_code", "measure_code", "period_type"]
    assert {"numerator", "rate", "rate_ratio_lower_95", "gap_assessment"} <= set(names)


@pytest.mark.e2e
@pytest.mark.parametrize("copy", COPIES)
def test_superset_column_lookup_with_the_recommended_versions(built_home, copy):
    """The inspector's column lookup (Superset's "create dataset") with the README's versions, in their own
    virtualenv: it works on both copies."""
    python = ensure_duckdb1_venv(SUPERSET_VENV, SUPERSET_PIN)
    done = subprocess.run(
        [str(python), "-I", "-c", COLUMN_LOOKUP, str(built_home / "publish" / copy)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    names = json.loads(done.stdout)
    assert names[:4] == ["geography_level", "site_code", "measure_code", "period_type"]
    assert {"numerator", "rate", "rate_ratio_lower_95", "gap_assessment"} <= set(names)
