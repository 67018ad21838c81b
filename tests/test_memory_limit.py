"""One DuckDB memory limit, LAN_DUCKDB_MEMORY_LIMIT, for every connection that writes or checks the warehouse:
ingest, each step's DuckDB resource, dbt build and the release (README "Settings")."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from ingest.settings import DUCKDB_MEMORY_LIMIT, REPO_ROOT, Settings
from ingest.store import connect_warehouse


def as_duckdb_says(limit: str) -> str:
    """The limit as DuckDB reports it back (it shows 1GB as 953.6 MiB)."""
    with duckdb.connect(config={"memory_limit": limit}) as con:
        return con.execute("select current_setting('memory_limit')").fetchone()[0]


@pytest.fixture
def small_limit(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("LAN_HOME", str(tmp_path))
    monkeypatch.setenv("LAN_DUCKDB_MEMORY_LIMIT", "300MB")
    return Settings.from_env()


def test_the_setting_defaults_to_600_megabytes_and_is_read_from_the_environment(tmp_path):
    assert Settings.from_env({"LAN_HOME": str(tmp_path)}).duckdb_memory_limit == DUCKDB_MEMORY_LIMIT == "600MB"
    env = {"LAN_HOME": str(tmp_path), "LAN_DUCKDB_MEMORY_LIMIT": "2GB"}
    assert Settings.from_env(env).duckdb_memory_limit == "2GB"


def test_dbt_reads_the_same_variable_with_the_same_default():
    profile = (REPO_ROOT / "dbt_project" / "profiles.yml").read_text()
    assert re.findall(r"memory_limit: \"\{\{ env_var\('(\w+)', '([^']+)'\) \}\}\"", profile) == [
        ("LAN_DUCKDB_MEMORY_LIMIT", DUCKDB_MEMORY_LIMIT)
    ]


def test_the_ingest_connection_runs_under_it(small_limit):
    con = connect_warehouse(small_limit)
    try:
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] == as_duckdb_says("300MB")
    finally:
        con.close()
    assert as_duckdb_says("300MB") != as_duckdb_says(DUCKDB_MEMORY_LIMIT)


def test_the_warehouse_resource_runs_under_it(small_limit):
    from orchestration.resources import build_resources

    Path(small_limit.warehouse).parent.mkdir(parents=True, exist_ok=True)
    with build_resources()["warehouse"].get_connection() as con:
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] == as_duckdb_says("300MB")
