"""A sensor on LAN_HOME/landing: files arriving start one pipeline run for all of them."""

import hashlib

import dagster as dg

from ingest.settings import Settings
from ingest.store import IGNORED_PREFIXES

BUSY = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED]


def landing_fingerprint(settings: Settings) -> str | None:
    """A key for what is waiting in landing/ (names, sizes, times), or None when nothing is."""
    entries = sorted(
        (p.name, p.stat().st_size, p.stat().st_mtime_ns)
        for p in (settings.landing.iterdir() if settings.landing.is_dir() else [])
        if p.is_file() and not p.name.startswith(IGNORED_PREFIXES)
    )
    if not entries:
        return None
    return hashlib.sha256(repr(entries).encode()).hexdigest()[:16]


def build_landing_sensor(job) -> dg.SensorDefinition:
    """The sensor for `job` (the asset job of the whole pipeline)."""
    @dg.sensor(job=job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
               description="Starts the pipeline when files land in LAN_HOME/landing (one run for all of them).")
    def landing_sensor(context: dg.SensorEvaluationContext):
        fingerprint = landing_fingerprint(Settings.from_env())
        if fingerprint is None:
            return dg.SkipReason("landing/ is empty")
        busy = context.instance.get_runs(filters=dg.RunsFilter(job_name=job.name, statuses=BUSY), limit=1)
        if busy:
            return dg.SkipReason("a pipeline run is already under way; files will be taken when it ends")
        return dg.RunRequest(run_key=f"landing-{fingerprint}")

    return landing_sensor
