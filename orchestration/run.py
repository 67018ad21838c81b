"""`make run`: one pipeline run over whatever is in LAN_HOME/landing, through the code location and the run
queue like every other run (the sensor's, the schedule's, the UI's), so it appears under the job, on the
Overview timeline and in each asset's history, and never writes the warehouse while another run does.

The run is submitted as `dagster job launch` submits it; the dagster-daemon takes it off the queue when no
other run is in progress (dagster.yaml: one at a time). The daemon of `make ui` or of the service is used
when one is running; otherwise `make run` starts one for the length of its run, sharing `make run`'s code
server (the definitions are loaded once) and in its process group (a kill of the group ends the run too).

Sample returns (synthetic) are put in landing/ only for the demo: in the default LAN_HOME (./data) while it is
new, or when asked (`make demo`, `LAN_DEMO=1`, `--demo`). A new LAN_HOME of its own starts empty."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ingest.settings import REPO_ROOT, Settings
from orchestration.nothing_new import FINGERPRINT_TAG, RUN_DATE_TAG, fingerprint, why_nothing_to_do

JOB = "lan_pipeline"
LOCATION = "lan_equity_warehouse"  # as deploy/workspace.yaml and pyproject.toml [tool.dagster] name it
POLL_SECONDS = 0.5
# Until its daemon has dequeued it, a run waits for a daemon that may not be there: check this often.
DAEMON_CHECK_SECONDS = 10
STARTED_BY = {"lan/started_by": "make run"}


def is_new(settings: Settings) -> bool:
    landing_empty = not settings.landing.is_dir() or not any(settings.landing.iterdir())
    return not settings.warehouse.exists() and landing_empty


def is_demo_home(settings: Settings) -> bool:
    return settings.lan_home == (REPO_ROOT / "data").resolve()


def demo_asked(flag: bool, env: dict[str, str] | None = None) -> bool:
    value = (os.environ if env is None else env).get("LAN_DEMO", "").strip().lower()
    return flag or value in {"1", "true", "yes", "on"}


def seed_sample(settings: Settings) -> Settings:
    """Put the sample returns and monthly reports (synthetic) in a new LAN_HOME; the settings as it now has them
    (the SAMPLE_DATA marker carries the sample's own run date)."""
    from ingest.sample_data import seed_lan_home

    written, reports = seed_lan_home(settings)
    print(
        f"Demo LAN_HOME: put {len(written)} sample returns and {len(reports)} monthly reports (synthetic data) "
        f"in {settings.landing}"
    )
    return Settings.from_env()


def first_files_hint(settings: Settings) -> str:
    return f"""LAN_HOME {settings.lan_home} is new and empty: nothing to run yet (no sample data is put here).
  Drop the sites' monthly returns (CSV or XLSX, named SITE_YYYY-MM, see README "What a site file must be")
  into {settings.landing}
  then `make run` again, or leave it to the landing sensor of `make ui` / the dagster-daemon service.
  To try the pipeline on synthetic sample returns instead: LAN_DEMO=1 make run (or make demo)."""


def describe(run) -> str:
    tags = run.tags
    if "dagster/sensor_name" in tags:
        by = f"sensor {tags['dagster/sensor_name']}"
    elif "dagster/schedule_name" in tags:
        by = f"schedule {tags['dagster/schedule_name']}"
    elif "lan/started_by" in tags:
        by = tags["lan/started_by"]
    else:
        by = "the UI or the CLI"
    return f"run {run.run_id} ({run.status.value.lower()}, started by {by})"


@contextmanager
def output_to(path: Path):
    """Point this process's stdout and stderr at `path` for a while, for the processes started meanwhile."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


@contextmanager
def code_location(instance):
    """The code location `lan_equity_warehouse` as deploy/workspace.yaml loads it: a code server for this
    `make run`, which the daemon started here shares (see `wait_for`). The code server's own output, and that
    of the runs it starts (Dagster's debug log), goes to DAGSTER_HOME/code-server.log: `make run` prints the
    run's events itself, whichever daemon runs it."""
    from dagster._cli.workspace.cli_target import get_workspace_from_cli_opts
    from dagster.version import __version__
    from dagster_shared.cli import WorkspaceOpts

    from orchestration.instance import WORKSPACE

    opts = WorkspaceOpts(workspace=[str(WORKSPACE)])
    with ExitStack() as stack:
        with output_to(Path(instance.root_directory) / "code-server.log"):
            workspace = stack.enter_context(
                get_workspace_from_cli_opts(instance, __version__, opts, log_level="warning")
            )
        yield workspace


def submit(instance, workspace, tags: dict[str, str]) -> str:
    """Create and queue a run of the job as `dagster job launch` does: from the code location's own view of
    the job (remote job origin), submitted to the instance's run coordinator (the queue)."""
    from dagster._cli.job import _create_run

    location = workspace.get_code_location(LOCATION)
    [repository] = location.get_repositories().values()
    run = _create_run(
        instance=instance,
        code_location=location,
        remote_repo=repository,
        remote_job=repository.get_full_job(JOB),
        run_config={},
        tags=tags,
        op_selection=None,
        run_id=None,
    )
    return instance.submit_run(run.run_id, workspace).run_id


def shared_workspace(instance, workspace) -> Path:
    """A workspace file naming this `make run`'s code server, for the daemon started here: it then launches the
    run there instead of loading the definitions once more in a code server of its own."""
    location = workspace.get_code_location(LOCATION)
    server = {"location_name": LOCATION}
    server |= {"socket": location.socket} if location.socket else {"host": location.host, "port": location.port}
    path = Path(instance.root_directory) / f"make-run-{os.getpid()}.workspace.yaml"
    path.write_text(json.dumps({"load_from": [{"grpc_server": server}]}))  # JSON is YAML
    return path


def ahead_of(instance, run_id: str) -> list:
    """The runs that will write the warehouse before `run_id`: those in progress, those queued before it."""
    import dagster as dg

    from orchestration.sensors import BUSY

    mine = instance.get_run_record_by_id(run_id)
    found = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=BUSY)):
        run = record.dagster_run
        if run.run_id == run_id:
            continue
        if run.status != dg.DagsterRunStatus.QUEUED or record.create_timestamp < mine.create_timestamp:
            found.append(run)
    return found


def echo_events(instance, run_id: str, cursor: str | None) -> str | None:
    """Print what the run has logged since `cursor` (its messages, steps and failures); the new cursor."""
    import dagster as dg

    E = dg.DagsterEventType
    shown = {E.STEP_START, E.STEP_SUCCESS, E.STEP_FAILURE, E.RUN_START, E.RUN_FAILURE, E.ENGINE_EVENT}
    while True:
        result = instance.get_records_for_run(run_id, cursor=cursor, limit=500)
        for record in result.records:
            entry = record.event_log_entry
            event = entry.dagster_event
            if event is None:
                if entry.level >= logging.INFO:
                    print(f"  {entry.step_key or JOB}: {entry.user_message}", flush=True)
            elif event.event_type in shown:
                if event.event_type == E.ENGINE_EVENT and entry.level < logging.WARNING:
                    continue
                where = f"{entry.step_key}: " if entry.step_key else ""
                print(f"  {where}{entry.user_message or event.event_type_value}", flush=True)
                error = getattr(event.event_specific_data, "error", None)
                if error is not None:
                    print(error.to_string(), file=sys.stderr, flush=True)
        cursor = result.cursor
        if not result.has_more:
            return cursor


def wait_for(instance, run_id: str, workspace):
    """Poll until the run has ended, saying what it waits for, printing its events; its last state. A
    dagster-daemon serves the queue meanwhile: the running one's, else one started here."""
    from dagster._core.storage.dagster_run import FINISHED_STATUSES

    from orchestration.daemon import OwnDaemon, serving_daemon

    own: OwnDaemon | None = None
    announced: set[str] = set()
    served_said = False
    cursor = None
    checked = 0.0
    try:
        while True:
            run = instance.get_run_by_id(run_id)
            if run.status.value == "QUEUED":
                for other in ahead_of(instance, run_id):
                    if other.run_id not in announced:
                        announced.add(other.run_id)
                        print(f"Waiting for {describe(other)}: one run at a time writes the warehouse.", flush=True)
                if own is None and time.monotonic() - checked > DAEMON_CHECK_SECONDS:
                    checked = time.monotonic()
                    daemon = serving_daemon(instance)
                    if daemon is None:
                        log = Path(instance.root_directory) / "daemon.log"
                        print(f"Starting a dagster-daemon for the run queue (its log: {log}).", flush=True)
                        own = OwnDaemon(instance, log, shared_workspace(instance, workspace))
                    elif not served_said:
                        served_said = True
                        print(f"The run queue is served by the running dagster-daemon ({daemon}).", flush=True)
            if own is not None:
                own.note_heartbeat()
                if own.exited() is not None and run.status not in FINISHED_STATUSES:
                    raise SystemExit(f"The dagster-daemon ended ({own.exited()}); see {own.log}")
            cursor = echo_events(instance, run_id, cursor)
            if run.status in FINISHED_STATUSES:
                return run
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        cancel(instance, run_id)  # while the daemon that may be running it is still there
        raise
    finally:
        if own is not None:
            own.stop()


def cancel(instance, run_id: str) -> None:
    """`make run` interrupted: its run leaves the queue (or is asked to stop) rather than run unwatched."""
    from dagster._core.storage.dagster_run import FINISHED_STATUSES

    run = instance.get_run_by_id(run_id)
    if run is not None and run.status not in FINISHED_STATUSES:
        try:
            instance.run_coordinator.cancel_run(run_id)
            print(f"Interrupted: run {run_id} canceled.", file=sys.stderr)
        except Exception as error:  # noqa: BLE001 - best effort on the way out
            print(f"Interrupted: could not cancel run {run_id} ({error}).", file=sys.stderr)


def newest_run_tags(instance) -> dict[str, str] | None:
    """The tags of the job's newest run if it succeeded (None otherwise: a failed or running one, or none)."""
    import dagster as dg

    runs = instance.get_runs(filters=dg.RunsFilter(job_name=JOB), limit=1)
    return dict(runs[0].tags) if runs and runs[0].status == dg.DagsterRunStatus.SUCCESS else None


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", action="store_true", help="put sample returns (synthetic) in a new LAN_HOME")
    parser.add_argument("--force", action="store_true", help="run even when nothing is new (make run FORCE=1)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    started = time.perf_counter()
    from orchestration.instance import prepare_environment

    if is_new(settings):
        if not (is_demo_home(settings) or demo_asked(args.demo)):
            prepare_environment(settings)
            print(first_files_hint(settings))
            return 0
        settings = seed_sample(settings)
    prepare_environment(settings)

    import dagster as dg

    from orchestration.sensors import fail_abandoned_runs

    signal.signal(signal.SIGTERM, _interrupt)

    with dg.DagsterInstance.get() as instance:
        for run_id in fail_abandoned_runs(instance, JOB):
            print(f"Run {run_id} had been killed before it finished: marked failed; this run takes its files in.")
        current = fingerprint(settings)
        reason = None if args.force else why_nothing_to_do(settings, newest_run_tags(instance), current)
        if reason:
            print(reason)
            return 0
    tags = {**STARTED_BY, FINGERPRINT_TAG: current, RUN_DATE_TAG: settings.today.isoformat()}
    with dg.DagsterInstance.get() as instance, code_location(instance) as workspace:
        run_id = submit(instance, workspace, tags)
        print(f"Run {run_id} of {JOB} is queued (Dagster UI: Runs, Jobs › {JOB}).", flush=True)
        try:
            run = wait_for(instance, run_id, workspace)
        except KeyboardInterrupt:
            return 130
    elapsed = time.perf_counter() - started
    if run.status != dg.DagsterRunStatus.SUCCESS:
        print(
            f"The pipeline failed (run {run_id}, {run.status.value.lower()}); see the log above or `make ui`.",
            file=sys.stderr,
        )
        return 1
    from publish.release import latest_release

    release = latest_release(settings.evaluation)
    print(f"""
Pipeline run {run_id} succeeded in {elapsed:.0f} s.
  warehouse (pipeline only):   {settings.warehouse}
  RHO analysts' copy (BI):     {settings.published_warehouse}
  partner's copy (rounded):    {settings.publish / "partner" / "warehouse.duckdb"}
  latest evaluation release:   {release or "(none)"}
  quarantine (refused files):  {settings.quarantine}
  run history:                 make ui, then http://127.0.0.1:3000 (Jobs › {JOB})""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
