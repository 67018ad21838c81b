"""The data dictionary, generated from the dbt project's model and column descriptions (one source of truth)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd


def load_manifest(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def describe_tables(manifest: dict, tables: Iterable[str]) -> pd.DataFrame:
    """table, column, type, meaning for each table: dbt models in `marts`, or sources of `published`
    (the tables the publish assets compute in Python, documented in dbt beside the models)."""
    found: dict[str, dict] = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") == "model" and node.get("schema") == "marts":
            found[node["name"]] = node
    for node in manifest.get("sources", {}).values():
        if node.get("source_name") == "published":
            found[node["name"]] = node
    rows = []
    for table in tables:
        node = found.get(table)
        if node is None:
            raise KeyError(f"{table} is not documented in the dbt project (marts model or `published` source)")
        rows.append({"table": table, "column": "", "type": "table", "meaning": node.get("description", "")})
        for column in node.get("columns", {}).values():
            rows.append(
                {
                    "table": table,
                    "column": column["name"],
                    "type": column.get("data_type") or "",
                    "meaning": column.get("description", ""),
                }
            )
    return pd.DataFrame(rows, columns=["table", "column", "type", "meaning"])
