"""The published copy of the warehouse for BI tools: replaced whole and atomically, never written in place.

Written with a DuckDB 1.x storage version so that the DuckDB 1.x bundled in many BI drivers (ODBC,
DBeaver, duckdb-engine) can open it. Readers holding the previous copy open keep reading their
snapshot: the new file takes the name by `os.replace`, the old inode lives until they close it.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

# Oldest storage format that holds everything we publish; DuckDB >= 1.1 reads it.
STORAGE_VERSION = "v1.1.0"


def publish_copy(warehouse: Path, dest: Path, schemas: tuple[str, ...] = ("marts",)) -> dict[str, int]:
    """Copy every table of `schemas` from the working warehouse to `dest`; return row counts by table."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    try:
        con = duckdb.connect()
        try:
            con.execute(f"attach '{warehouse}' as source (read_only)")
            con.execute(f"attach '{tmp}' as target (storage_version '{STORAGE_VERSION}')")
            for schema in schemas:
                con.execute(f"create schema target.{schema}")
                tables = [
                    t
                    for (t,) in con.execute(
                        "select table_name from duckdb_tables() where database_name = 'source' and schema_name = ? "
                        "order by table_name",
                        [schema],
                    ).fetchall()
                ]
                for table in tables:
                    con.execute(f"create table target.{schema}.{table} as select * from source.{schema}.{table}")
                    counts[f"{schema}.{table}"] = con.execute(
                        f"select count(*) from target.{schema}.{table}"
                    ).fetchone()[0]
            con.execute("detach target")
            con.execute("detach source")
        finally:
            con.close()
        os.replace(tmp, dest)
    except BaseException:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
        raise
    return counts
