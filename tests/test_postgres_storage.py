"""A Dagster the team can share: with LAN_DAGSTER_POSTGRES_URL set, run history, event logs and schedule state
live in PostgreSQL. Tested against a real PostgreSQL server started here (pgserver: PostgreSQL packaged for pip),
through the same setup the services and `make run` use (`python -m orchestration.instance`)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import yaml
from dagster._core.instance.ref import InstanceRef

from orchestration.instance import POSTGRES_URL_VARIABLE, dagster_yaml
from tests.conftest import REPO_ROOT, pipeline_env, run_pipeline

pgserver = pytest.importorskip("pgserver")


@pytest.fixture(scope="module")
def postgres_url() -> str:
    # Not under pytest's tmp folder: run as root, pgserver runs PostgreSQL as its own user, which may not enter
    # pytest's private folders. A folder of its own in the system's temporary folder, removed afterwards.
    pgdata = Path(tempfile.mkdtemp(prefix="lan-pgdata-"))
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    try:
        # the driver installed (psycopg2), named as orchestration/instance.py requires
        yield server.get_uri().replace("postgresql://", "postgresql+psycopg2://", 1)
    finally:
        server.cleanup()
        shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture(scope="module")
def shared_home(postgres_url, tmp_path_factory):
    """A LAN_HOME whose DAGSTER_HOME was set up by `python -m orchestration.instance` with the URL set."""
    home = tmp_path_factory.mktemp("pg_home") / "lan"
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.instance"],
        cwd=REPO_ROOT,
        env=pipeline_env(home, **{POSTGRES_URL_VARIABLE: postgres_url}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "run history: PostgreSQL" in done.stdout
    return home


@pytest.fixture()
def instance(shared_home, postgres_url, monkeypatch):
    monkeypatch.setenv(POSTGRES_URL_VARIABLE, postgres_url)
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(shared_home / "dagster"))) as loaded:
        yield loaded


@dg.asset
def probe() -> int:
    return 1


probe_job = dg.define_asset_job("probe_job", selection=[probe])
probe_defs = dg.Definitions(assets=[probe], jobs=[probe_job])


def test_the_instance_settings():
    """One run at a time, killed runs failed by the daemon, no pop-up, no telemetry; SQLite unless a URL is set,
    and then the URL stays in the environment (the file names the variable only)."""
    local = yaml.safe_load(dagster_yaml({}))
    assert local["run_queue"]["max_concurrent_runs"] == 1
    assert local["run_monitoring"]["enabled"] is True
    assert local["nux"] == {"enabled": False} and local["telemetry"] == {"enabled": False}
    assert "storage" not in local
    text = dagster_yaml({POSTGRES_URL_VARIABLE: "postgresql+psycopg2://team:secret@db.example/dagster"})
    assert yaml.safe_load(text)["storage"] == {"postgres": {"postgres_url": {"env": POSTGRES_URL_VARIABLE}}}
    assert "secret" not in text
    with pytest.raises(SystemExit, match="must start with postgresql"):
        dagster_yaml({POSTGRES_URL_VARIABLE: "postgresql://team:secret@db.example/dagster"})  # psycopg 3 not installed


def test_runs_events_and_schedules_are_in_postgres(instance, shared_home, postgres_url):
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"

    result = probe_defs.resolve_job_def("probe_job").execute_in_process(instance=instance)
    assert result.success

    con = psycopg2.connect(postgres_url.replace("+psycopg2", ""))
    try:
        with con.cursor() as cur:
            cur.execute("select status, pipeline_name from runs where run_id = %s", [result.run_id])
            assert cur.fetchall() == [("SUCCESS", "probe_job")]
            cur.execute(
                "select count(*) from event_logs where run_id = %s and dagster_event_type = 'ASSET_MATERIALIZATION'",
                [result.run_id],
            )
            assert cur.fetchone() == (1,)
    finally:
        con.close()
    # nothing went to the SQLite files a single-user DAGSTER_HOME would hold
    assert not (shared_home / "dagster" / "history" / "runs.db").exists()


def test_a_second_process_reads_the_same_history(instance, shared_home, postgres_url):
    """What the webserver and the daemon rely on: another process sees the runs through the same URL."""
    probe_defs.resolve_job_def("probe_job").execute_in_process(instance=instance)
    code = (
        "import dagster as dg;"
        "i = dg.DagsterInstance.get();"
        "print(len(i.get_runs(filters=dg.RunsFilter(job_name='probe_job'))))"
    )
    env = pipeline_env(shared_home, DAGSTER_HOME=str(shared_home / "dagster"), **{POSTGRES_URL_VARIABLE: postgres_url})
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.strip()) >= 1


def stop_leftovers(home: Path) -> None:
    """Kill what still serves `home` (make run's code server in its shutdown grace period, the run long over)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(home).encode() in argv:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(entry.name), signal.SIGKILL)


@pytest.mark.e2e
def test_a_pipeline_run_from_make_run_is_recorded_in_postgres(built_home, postgres_url, tmp_path):
    """`make run` on a shared Dagster: the queue, the daemon it starts and the run all use PostgreSQL."""
    home = tmp_path / "lan"
    shutil.copytree(built_home, home, symlinks=True)
    try:
        done = run_pipeline(home, **{POSTGRES_URL_VARIABLE: postgres_url})
    finally:
        stop_leftovers(home)  # before the server stops: a code server ending its grace period would hang on it
    run_id = re.search(r"Pipeline run ([0-9a-f-]{36}) succeeded", done.stdout).group(1)
    con = psycopg2.connect(postgres_url.replace("+psycopg2", ""))
    try:
        with con.cursor() as cur:
            cur.execute("select status, pipeline_name from runs where run_id = %s", [run_id])
            assert cur.fetchall() == [("SUCCESS", "lan_pipeline")]
            cur.execute(
                "select count(*) from event_logs where run_id = %s and dagster_event_type = 'STEP_SUCCESS'", [run_id]
            )
            assert cur.fetchone()[0] >= 10
            cur.execute("select value from run_tags where run_id = %s and key = '.dagster/repository'", [run_id])
            assert cur.fetchall() == [("__repository__@lan_equity_warehouse",)]  # under the job in the UI
            cur.execute("select count(*) from daemon_heartbeats")
            assert cur.fetchone()[0] >= 1  # the daemon `make run` started kept its heartbeats there too
    finally:
        con.close()
