"""One writer, always, tested with a real dagster-daemon (as `make ui` or the service runs it): files land, the
landing sensor starts a run, and a `make run` started meanwhile waits for it in the run queue, saying so, then
runs. Both runs succeed, none fails on DuckDB's lock, and `make run`'s run is recorded as the code location's
(the Jobs › lan_pipeline page, the Overview timeline and asset history show it)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from ingest.sample_data import default_profiles, write_returns
from tests.conftest import CHECK_INTERFACE, REPO_ROOT, pipeline_env, run_pipeline

pytestmark = pytest.mark.e2e

WAIT = 600  # seconds: a whole pipeline run on a slow, busy machine
REPOSITORY = "__repository__@lan_equity_warehouse"  # the `.dagster/repository` tag the UI filters a job's runs by


def runs(home: Path) -> list:
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home / "dagster"))) as instance:
        return list(instance.get_run_records(filters=dg.RunsFilter(job_name="lan_pipeline")))


def wait_for_sensor_run(home: Path, daemon: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for record in runs(home):
            run = record.dagster_run
            if "dagster/sensor_name" in run.tags and run.status.value == "STARTED":
                return run.run_id
        assert daemon.poll() is None, f"the daemon ended:\n{log.read_text()[-4000:]}"
        time.sleep(0.5)
    raise AssertionError(f"the sensor started no run:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def queued(built_home, tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("queue") / "lan"
    shutil.copytree(built_home, home, symlinks=True)
    ncl = [p for p in default_profiles() if p.site_code == "NCL"]
    landed = write_returns(home / "landing", profiles=ncl, start=date(2025, 1, 1), end=date(2025, 1, 1), variants=False)
    old = time.time() - 3600  # long settled: the sensor takes them at its first tick
    for path in landed:
        os.utime(path, (old, old))
    env = pipeline_env(home, DAGSTER_HOME=str(home / "dagster"), LAN_SETTLE_SECONDS="0")
    log = home.parent / "daemon.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("dagster-daemon")),
                "run",
                "-w",
                str(REPO_ROOT / "deploy/workspace.yaml"),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        sensor_run = wait_for_sensor_run(home, daemon, log)
        started = time.monotonic()
        done = run_pipeline(home, check=False, LAN_SETTLE_SECONDS="0")
        seconds = time.monotonic() - started
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
    print(f"\n`make run` during a sensor run: {seconds:.0f} s\n{done.stdout[-2000:]}")
    return {"home": home, "sensor_run": sensor_run, "done": done, "landed": landed, "daemon_log": log}


def test_make_run_waits_for_the_sensor_run_and_succeeds(queued):
    done = queued["done"]
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert f"Waiting for run {queued['sensor_run']} (started, started by sensor landing_sensor)" in done.stdout
    # the daemon already serving the queue took the run: `make run` started none of its own
    assert "served by the running dagster-daemon" in done.stdout
    assert "Starting a dagster-daemon" not in done.stdout
    assert "Could not set lock" not in done.stdout + done.stderr


def test_both_runs_succeed_one_after_the_other(queued):
    records = {r.dagster_run.run_id: r for r in runs(queued["home"])}
    sensor = records[queued["sensor_run"]]
    mine = [r for r in records.values() if r.dagster_run.tags.get("lan/started_by") == "make run"]
    newest = max(mine, key=lambda r: r.create_timestamp)
    assert sensor.dagster_run.status.value == "SUCCESS"
    assert newest.dagster_run.status.value == "SUCCESS"
    assert newest.start_time >= sensor.end_time  # it waited: never two writers
    assert all(r.dagster_run.status.value == "SUCCESS" for r in records.values()), "no failed run left behind"


def test_make_runs_run_belongs_to_the_code_location(queued):
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    mine = [r.dagster_run for r in runs(queued["home"]) if r.dagster_run.tags.get("lan/started_by") == "make run"]
    assert mine and all(run.remote_job_origin.location_name == "lan_equity_warehouse" for run in mine)
    home = queued["home"] / "dagster"
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        # the filter of the UI's Jobs › lan_pipeline › Runs page
        listed = instance.get_runs(
            filters=dg.RunsFilter(job_name="lan_pipeline", tags={".dagster/repository": REPOSITORY})
        )
    assert {run.run_id for run in mine} <= {run.run_id for run in listed}


def test_the_warehouse_is_consistent(queued):
    home = queued["home"]
    con = duckdb.connect(str(home / "warehouse" / "lan.duckdb"), read_only=True)
    try:
        files, distinct = con.execute("select count(*), count(distinct checksum) from raw.files").fetchone()
        ncl = con.execute(
            "select status from marts.fct_submission_status where site_code = 'NCL' and month_start_date = '2025-01-01'"
        ).fetchall()
    finally:
        con.close()
    assert files == distinct  # every file kept once
    assert ncl == [("loaded",)]  # the sensor's run took the new month in
    assert not any((home / "landing").iterdir())
    done = subprocess.run(
        [sys.executable, str(CHECK_INTERFACE), str(home)], capture_output=True, text=True, timeout=300
    )
    assert done.stdout.strip().splitlines()[-1] == "interface holds", done.stdout[-3000:]
