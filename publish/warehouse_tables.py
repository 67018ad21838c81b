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
