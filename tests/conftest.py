"""Shared fixtures. The end-to-end ones run the real pipeline (`python -m orchestration.run`, exactly what
`make run` runs) once per session in a temporary LAN_HOME, and the tests then read what it built.

`make test` runs the suite in two pytest-xdist workers (a file's tests stay on one worker): each worker builds its
own `built_home` and parses the dbt project into a target folder of its own (LAN_DBT_TARGET_PATH, target/<worker>),
for itself and the pipelines it starts, so that no run reads a manifest another worker's `dbt parse` is writing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# Copies of ../shared kept in the repository, so that a clone with nothing beside it tests everything:
# the peers' expected results (tests/peers, with SOURCES.md) and the interface's acceptance check.
PEERS = REPO_ROOT / "tests" / "peers"
CHECK_INTERFACE = REPO_ROOT / "tests" / "acceptance" / "check_interface.py"
DBT_TARGET_VARIABLE = "LAN_DBT_TARGET_PATH"  # orchestration.project.TARGET_PATH_VARIABLE, read before it is imported


def pipeline_env(lan_home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAN_", "DAGSTER_"))}
    env.update(
        {
            "LAN_HOME": str(lan_home),
            "PYTHONPATH": str(REPO_ROOT),
            "DO_NOT_TRACK": "1",
            "GX_ANALYTICS_ENABLED": "False",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
            # tests land files and take them at once; tests/test_settle.py tests the settle time itself
            "LAN_SETTLE_SECONDS": "0",
        }
    )
    if os.environ.get(DBT_TARGET_VARIABLE):  # this xdist worker's dbt target (pytest_configure)
        env[DBT_TARGET_VARIABLE] = os.environ[DBT_TARGET_VARIABLE]
    env.update(extra)
    return env


def run_pipeline(
    lan_home: Path, check: bool = True, args: tuple[str, ...] = (), **extra: str
) -> subprocess.CompletedProcess:
    """`make run` without make: the same module, in a fresh process, over `lan_home` (`args`: e.g. --force)."""
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.run", *args],
        cwd=REPO_ROOT,
        env=pipeline_env(lan_home, **extra),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"pipeline failed ({done.returncode}):\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}")
    return done


@pytest.fixture(autouse=True, scope="session")
def files_settle_at_once():
    """In-process tests land files and take them at once (tests/test_settle.py tests LAN_SETTLE_SECONDS)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAN_SETTLE_SECONDS", os.environ.get("LAN_SETTLE_SECONDS", "0"))
        yield


@pytest.fixture(scope="session")
def built_home(tmp_path_factory) -> Path:
    """A LAN_HOME built from the sample returns by one full pipeline run. Read-only for tests."""
    home = tmp_path_factory.mktemp("lan_home")
    run_pipeline(home, LAN_DEMO="1")  # a new LAN_HOME other than ./data gets sample returns only when asked
    return home


@pytest.fixture(scope="session")
def published(built_home) -> Callable[[str], list[tuple]]:
    """Query the published copy read-only, as a BI tool would."""

    def query(sql: str, params: list | None = None) -> list[tuple]:
        con = duckdb.connect(str(built_home / "publish" / "warehouse.duckdb"), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    return query


def pytest_configure(config) -> None:
    """In an xdist worker, a dbt target folder of the worker's own, before anything imports orchestration.project."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        os.environ[DBT_TARGET_VARIABLE] = f"target/{worker}"


def pytest_sessionstart(session) -> None:
    """Parse the dbt project once if a clean clone has no manifest yet: importing the code location needs it. An
    xdist worker parses into its own target every session (its manifest is only as fresh as its last run's),
    starting from the checkout's partial parse when it has none."""
    project = REPO_ROOT / "dbt_project"
    target = project / os.environ.get(DBT_TARGET_VARIABLE, "target")
    if target == project / "target" and (target / "manifest.json").exists():
        return
    import shutil
    import tempfile

    shared = project / "target" / "partial_parse.msgpack"
    if not (target / "partial_parse.msgpack").exists() and shared.exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared, target / "partial_parse.msgpack")
    with tempfile.TemporaryDirectory() as home:
        subprocess.run(
            [
                str(Path(sys.executable).with_name("dbt")),
                "parse",
                "--project-dir",
                str(project),
                "--profiles-dir",
                str(project),
                "--target-path",
                str(target),
            ],
            env=pipeline_env(Path(home)),
            check=True,
            capture_output=True,
            timeout=600,
        )
