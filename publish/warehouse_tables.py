"""Writing a computed table into the working warehouse's `marts` schema, its key checked."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pandas as pd


class DuplicateKeyError(ValueError):
    pass


def replace_table(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, key: Sequence[str]) -> int:
    """Replace `table` (schema.name) by `frame` in one transaction; refuse it if `key` repeats."""
    con.register("incoming_frame", frame)
    try:
        keys = ", ".join(key)
        dupes = con.execute(
            f"select count(*) from (select {keys} from incoming_frame group by all having count(*) > 1)"
        ).fetchone()[0]
        if dupes:
            raise DuplicateKeyError(f"{table}: {dupes} repeated ({keys}); nothing written")
        con.execute("begin transaction")
        con.execute(f"create schema if not exists {table.split('.')[0]}")
        con.execute(f"create or replace table {table} as select * from incoming_frame")
        con.execute("commit")
    finally:
        con.unregister("incoming_frame")
    return len(frame)


def non_finite_counts(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, int]:
    """For each DOUBLE or FLOAT column of `table` (schema.name), how many values are NaN or infinite: one query.
    A statistic that cannot be computed must be empty (NULL), never NaN or an infinity."""
    schema, name = table.split(".")
    columns = [
        r[0]
        for r in con.execute(
            "select column_name from duckdb_columns() where schema_name = ? and table_name = ? "
            "and data_type in ('DOUBLE', 'FLOAT') order by column_index",
            [schema, name],
        ).fetchall()
    ]
    if not columns:
        return {}
    counts = con.execute(
        "select " + ", ".join(f'count(*) filter (where not isfinite("{c}"))' for c in columns) + f" from {table}"
    ).fetchone()
    return dict(zip(columns, (int(n) for n in counts), strict=True))
