"""A sensor on LAN_HOME/landing: files arriving start one pipeline run for all of them."""

import hashlib
import os
from pathlib import Path

import dagster as dg

from ingest.settings import Settings
from ingest.store import settling_paths, waiting_paths

BUSY = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def landing_fingerprint(landing: Path) -> str | None:
    """A key for what is waiting in landing/ (names, sizes, times), or None when nothing is."""
    entries = sorted((path.name, stat.st_size, stat.st_mtime_ns) for path, stat in waiting_paths(landing))
    if not entries:
        return None
    return hashlib.sha256(repr(entries).encode()).hexdigest()[:16]


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_abandoned_runs(instance: dg.DagsterInstance, job_name: str) -> list[str]:
    """Mark as failed the runs recorded as STARTED whose process has gone (a killed `make run`): otherwise
    they would look in progress for ever and the sensor would never start another run."""
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(job_name=job_name, statuses=[dg.DagsterRunStatus.STARTED])):
        starts = instance.get_records_for_run(run_id=run.run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
        pid = starts[0].event_log_entry.dagster_event.pid if starts else None
        if pid is not None and not _process_alive(pid):
            instance.report_run_failed(
                run,
                f"The process running it (pid {pid}) ended without finishing it "
                "(killed or crashed); its files are taken in by the next run.",
            )
            failed.append(run.run_id)
    return failed


def build_landing_sensor(job) -> dg.SensorDefinition:
    """The sensor for `job` (the asset job of the whole pipeline)."""

    @dg.sensor(
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Starts the pipeline when files land in LAN_HOME/landing (one run for all of them).",
    )
    def landing_sensor(context: dg.SensorEvaluationContext):
        fail_abandoned_runs(context.instance, job.name)
        if context.instance.get_runs(filters=dg.RunsFilter(job_name=job.name, statuses=BUSY), limit=1):
            return dg.SkipReason("a pipeline run is already under way; files will be taken when it ends")
        landing = Settings.from_env().landing
        fingerprint = landing_fingerprint(landing)
        if fingerprint is None:
            settling = settling_paths(landing)
            if settling:
                return dg.SkipReason(f"{len(settling)} file(s) in landing/ still being written (LAN_SETTLE_SECONDS)")
            return dg.SkipReason("landing/ is empty")
        # Dagster never repeats a run key: the latest successful run is part of it, so that the same files
        # landing again after a run (cp -p keeps their times) are still taken in.
        done = context.instance.get_runs(
            filters=dg.RunsFilter(job_name=job.name, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1
        )
        after = done[0].run_id[:8] if done else "none"
        return dg.RunRequest(run_key=f"landing-{fingerprint}-after-{after}")

    return landing_sensor
