"""The two DuckDB copies BI tools open: replaced whole and atomically, never written in place.

* `publish_copy`: ``publish/warehouse.duckdb``, every table of schema ``marts`` with unrounded counts, for the
  RHO team's own analysts;
* `publish_partner_copy`: ``publish/partner/warehouse.duckdb``, the tables of the latest evaluation release
  (schema ``marts``, the same table names, disclosure control applied: never a count from 1 to 7), for the
  evaluation partner.

Both are written with a DuckDB 1.x storage version so that the DuckDB 1.x bundled in many BI drivers (ODBC,
DBeaver, duckdb-engine) can open them. Readers holding the previous copy open keep reading their snapshot: the
new file takes the name by `os.replace`, the old inode lives until they close it.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path

import duckdb

# Oldest storage format that holds everything we publish; DuckDB >= 1.1 reads it.
STORAGE_VERSION = "v1.1.0"
# Beside the partner's copy: the release id it holds.
PARTNER_RELEASE_FILE = "RELEASE"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _replace_atomically(dest: Path, fill: Callable[[duckdb.DuckDBPyConnection], dict[str, int]]) -> dict[str, int]:
    """Write a new DuckDB file (database `target`) with `fill`, then rename it over `dest`."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        con = duckdb.connect()
        try:
            con.execute(f"attach {_text(str(tmp))} as target (storage_version '{STORAGE_VERSION}')")
            counts = fill(con)
            con.execute("detach target")
        finally:
            con.close()
        os.replace(tmp, dest)
    except BaseException:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
        raise
    return counts


def publish_copy(warehouse: Path, dest: Path, schemas: tuple[str, ...] = ("marts",)) -> dict[str, int]:
    """Copy every table of `schemas` from the working warehouse to `dest`; return row counts by table."""

    def fill(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
        counts: dict[str, int] = {}
        con.execute(f"attach {_text(str(warehouse))} as source (read_only)")
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
                counts[f"{schema}.{table}"] = con.execute(f"select count(*) from target.{schema}.{table}").fetchone()[0]
        con.execute("detach source")
        return counts

    return _replace_atomically(dest, fill)


def partner_copy_release(dest: Path) -> str | None:
    """The release id the partner's copy at `dest` holds (None: no copy, or unknown)."""
    marker = dest.with_name(PARTNER_RELEASE_FILE)
    if not dest.is_file() or not marker.is_file():
        return None
    return marker.read_text(encoding="utf-8").strip() or None


def publish_partner_copy(release: Path, dest: Path, tables: list[str]) -> dict[str, int]:
    """The partner's copy from one release folder: each table's Parquet file as ``marts.<table>``, with the
    data dictionary's meanings as table and column comments; returns row counts by table."""
    meanings: dict[tuple[str, str], str] = {}
    with (release / "data_dictionary.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            meanings[(row["table"], row["column"])] = row["meaning"]

    def fill(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
        counts: dict[str, int] = {}
        con.execute("create schema target.marts")
        for table in tables:
            name = f"target.marts.{_quote(table)}"
            parquet = release / f"{table}.parquet"
            con.execute(f"create table {name} as select * from read_parquet({_text(str(parquet))})")
            counts[f"marts.{table}"] = con.execute(f"select count(*) from {name}").fetchone()[0]
            if meanings.get((table, "")):
                con.execute(f"comment on table {name} is {_text(meanings[(table, '')])}")
            for (described, column), meaning in meanings.items():
                if described == table and column and meaning:
                    con.execute(f"comment on column {name}.{_quote(column)} is {_text(meaning)}")
        return counts

    counts = _replace_atomically(dest, fill)
    marker = dest.with_name(PARTNER_RELEASE_FILE)
    tmp = marker.with_name(f".{marker.name}.tmp")
    tmp.write_text(release.name + "\n", encoding="utf-8")
    os.replace(tmp, marker)
    return counts
