"""The landing sensor, evaluated for real (the sensor of the loaded code location, against a Dagster instance):
files in LAN_HOME/landing start one run of `lan_pipeline`, nothing else does."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

SENSOR = "landing_sensor"
RUN_KEY_TAG = "dagster/run_key"  # the tags the sensor daemon puts on the runs it starts
SENSOR_NAME_TAG = "dagster/sensor_name"


@pytest.fixture(scope="module")
def defs(tmp_path_factory):
    """orchestration.definitions, loaded as `make ui` loads it (dbt manifest prepared first)."""
    from ingest.settings import Settings
    from orchestration.instance import prepare_environment

    home = tmp_path_factory.mktemp("sensor_defs_home")
    with pytest.MonkeyPatch.context() as patch:
        # prepare_environment writes these into os.environ; registering them here restores them afterwards
        for name in ("LAN_HOME", "DAGSTER_HOME", "PATH"):
            patch.setenv(name, os.environ.get(name, ""))
        patch.setenv("LAN_HOME", str(home))
        prepare_environment(Settings.from_env())  # dbt parse -> manifest
        from orchestration.definitions import defs as loaded

        yield loaded


@pytest.fixture()
def landing(tmp_path, monkeypatch) -> Path:
    """An empty landing/ in a LAN_HOME of this test's own."""
    monkeypatch.setenv("LAN_HOME", str(tmp_path / "lan"))
    folder = tmp_path / "lan" / "landing"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture()
def instance():
    with dg.DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


@pytest.fixture()
def evaluate(defs, instance):
    """One tick of the real sensor against `instance`: a SkipReason or a RunRequest."""
    sensor = defs.resolve_sensor_def(SENSOR)

    def tick():
        result = sensor(dg.build_sensor_context(instance=instance, sensor_name=SENSOR, definitions=defs))
        assert isinstance(result, dg.SkipReason | dg.RunRequest), result
        return result

    return tick


def land(folder: Path, name: str, text: str = "site_code,month\nBSOL,2024-01\n", mtime_ns: int | None = None) -> Path:
    path = folder / name
    path.write_text(text)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def run_key(result) -> str:
    assert isinstance(result, dg.RunRequest), f"expected a run request, got {result!r}"
    assert result.job_name in (None, "lan_pipeline")  # None: the sensor's own job
    return result.run_key


@dg.op
def _noop():
    return None


@dg.job
def some_other_job():
    _noop()


def a_run(instance, defs, status: dg.DagsterRunStatus, job: str = "lan_pipeline", tags=None) -> dg.DagsterRun:
    """A run recorded in `instance` with `status`, as the daemon or `make run` would have left it."""
    job_def = defs.resolve_job_def(job) if job == "lan_pipeline" else some_other_job
    origin = None
    if status == dg.DagsterRunStatus.QUEUED:  # Dagster records queued runs only with their code location
        from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin

        location = RegisteredCodeLocationOrigin(location_name="lan_equity_warehouse")
        origin = RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), job)
    run = instance.create_run_for_job(job_def=job_def, status=status, tags=tags, remote_job_origin=origin)
    assert instance.get_run_by_id(run.run_id).status == status
    return run


# ------------------------------------------------------------------------------------------------


def test_the_sensor_starts_lan_pipeline_and_is_on_by_default(defs):
    sensor = defs.resolve_sensor_def(SENSOR)
    assert sensor.job_name == "lan_pipeline"
    assert [t.job_name for t in sensor.targets] == ["lan_pipeline"]
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert 0 < sensor.minimum_interval_seconds <= 60


def test_an_empty_or_missing_landing_folder_starts_nothing(defs, evaluate, landing):
    assert isinstance(evaluate(), dg.SkipReason)
    landing.rmdir()
    assert isinstance(evaluate(), dg.SkipReason)


def test_ignored_files_start_nothing(evaluate, landing):
    land(landing, ".BSOL_2024-01.csv.part")  # a partial copy
    land(landing, "~$BSOL_2024-01.xlsx")  # Excel's lock file
    (landing / "a folder").mkdir()  # not a file
    land(landing / "a folder", "NCL_2024-01.csv")
    result = evaluate()
    assert isinstance(result, dg.SkipReason), result
    assert "empty" in result.skip_message


def test_files_request_one_run_whose_key_follows_what_is_waiting(evaluate, landing):
    land(landing, "BSOL_2024-01.csv", mtime_ns=1_700_000_000_000_000_000)
    first = run_key(evaluate())
    assert first == run_key(evaluate()), "nothing changed: the same key, so the daemon starts no second run"

    land(landing, "~$NCL_2024-01.xlsx")
    land(landing, ".NCL_2024-01.csv.part")
    assert run_key(evaluate()) == first, "ignored files do not change the key"

    land(landing, "NCL_2024-01.csv", mtime_ns=1_700_000_100_000_000_000)
    second = run_key(evaluate())
    assert second != first, "a new file: a new key"
    assert run_key(evaluate()) == second

    land(
        landing,
        "NCL_2024-01.csv",
        text="site_code,month\nNCL,2024-01\nNCL,2024-02\n",
        mtime_ns=1_700_000_200_000_000_000,
    )
    third = run_key(evaluate())
    assert third not in (first, second), "a file replaced by another version: a new key"

    (landing / "NCL_2024-01.csv").unlink()
    assert run_key(evaluate()) not in (second, third), "a file gone: the key follows"


def test_a_pipeline_run_in_progress_defers_the_request(defs, instance, evaluate, landing):
    land(landing, "BSOL_2024-01.csv")
    run = a_run(instance, defs, dg.DagsterRunStatus.STARTED)
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
    result = evaluate()
    assert isinstance(result, dg.SkipReason), result
    assert "under way" in result.skip_message

    instance.report_run_failed(run)  # the run ends (however it ends): the files waiting are requested
    assert isinstance(evaluate(), dg.RunRequest)


@pytest.mark.parametrize(
    "status", [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]
)
def test_a_queued_or_starting_pipeline_run_defers_the_request(defs, instance, evaluate, landing, status):
    land(landing, "BSOL_2024-01.csv")
    run = a_run(instance, defs, status)
    assert instance.get_run_by_id(run.run_id).status == status
    assert isinstance(evaluate(), dg.SkipReason)


def test_finished_runs_and_other_jobs_do_not_defer_the_request(defs, instance, evaluate, landing):
    land(landing, "BSOL_2024-01.csv")
    for status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
        a_run(instance, defs, status)
    a_run(instance, defs, dg.DagsterRunStatus.STARTED, job="some_other_job")
    assert isinstance(evaluate(), dg.RunRequest)


def test_identical_files_landing_again_after_a_run_are_requested_again(defs, instance, evaluate, landing):
    stamp = 1_700_000_000_000_000_000
    land(landing, "BSOL_2024-01.csv", mtime_ns=stamp)
    key = run_key(evaluate())
    # the daemon starts the run with that key; the run takes the file in and empties landing/
    a_run(instance, defs, dg.DagsterRunStatus.SUCCESS, tags={RUN_KEY_TAG: key, SENSOR_NAME_TAG: SENSOR})
    (landing / "BSOL_2024-01.csv").unlink()
    assert isinstance(evaluate(), dg.SkipReason)
    # the site sends the same file again, its modification time preserved
    land(landing, "BSOL_2024-01.csv", mtime_ns=stamp)
    assert run_key(evaluate()) != key, "the daemon would skip this request: a run with this key already exists"
