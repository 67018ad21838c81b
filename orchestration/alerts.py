"""Alerts to the data team, wired into Dagster: the events found in a run and in the run history, each sent once
(publish.alerts keeps the ledger and does the sending).

- `data_team_alerts` (group `ops`), last in every pipeline run: files quarantined, returns newly overdue, and any
  run that failed (with its failed blocking checks) since the ledger started, e.g. a `make run` that failed
  where no daemon was watching.
- `alert_on_run_failure`, a run-failure sensor (the daemon): a failed run and its failed blocking checks at
  once. A run that fails before the end never reaches `data_team_alerts`; the next run's asset catches it too.
"""

from datetime import UTC, datetime

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from ingest.settings import Settings
from orchestration.assets.charts import run_charts
from orchestration.assets.publish import quality_report
from orchestration.assets.release import dbt_docs, partner_warehouse
from orchestration.assets.status import submission_status_page
from orchestration.resources import LanHome
from publish.alerts import AlertConfig, AlertEvent, AlertOutcome, Ledger, raise_alerts
from publish.status_page import read_status

QUARANTINED_SQL = """
select checksum, file_name, coalesce(problems_text, '(no reason recorded)') as problems_text
from raw.files
where outcome = 'quarantined' and (run_id = ? or ingested_at >= ?)
order by ingested_at, file_name
"""


def quarantine_events(con: duckdb.DuckDBPyConnection, run_id: str, since: datetime) -> list[AlertEvent]:
    """Files refused in this run or since alerting started, with the reasons stored for them (never a value
    from a personal-data file: those reasons name the column and the rule only)."""
    rows = con.execute(QUARANTINED_SQL, [run_id, since.astimezone(UTC).replace(tzinfo=None)]).fetchall()
    return [
        AlertEvent(
            id=f"file_quarantined:{checksum}",
            kind="file_quarantined",
            title=f"File quarantined: {name}",
            detail="Kept in quarantine/ beside its .reason.txt (every problem) for the site.\n" + problems,
        )
        for checksum, name, problems in rows
    ]


def overdue_events(con: duckdb.DuckDBPyConnection) -> list[AlertEvent]:
    """Every site-month now overdue (fct_submission_status.is_overdue); the ledger keeps those already told."""
    status = read_status(con)
    return [
        AlertEvent(
            id=f"return_overdue:{row.site_code}:{row.month}",
            kind="return_overdue",
            title=f"Return overdue: {row.site_code} {row.month} (due {row.due_date})",
        )
        for row in status[status["is_overdue"]].itertuples()
    ]


def failed_check_events(instance: dg.DagsterInstance, run_id: str) -> list[AlertEvent]:
    """The blocking checks (blocking, or of ERROR severity as dbt's tests are) that failed in the run."""
    records = instance.get_records_for_run(run_id=run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    events = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation.passed or not (evaluation.blocking or evaluation.severity == dg.AssetCheckSeverity.ERROR):
            continue
        asset = evaluation.asset_key.to_user_string()
        events.append(
            AlertEvent(
                id=f"blocking_check_failed:{run_id}:{asset}:{evaluation.check_name}",
                kind="blocking_check_failed",
                title=f"Blocking check failed: {evaluation.check_name} on {asset} (run {run_id[:8]})",
                detail=evaluation.description or "",
            )
        )
    return events


def failed_run_events(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[AlertEvent]:
    """A failed run: what Dagster says of it (the steps that failed, not their errors) and its failed checks."""
    failure = instance.get_records_for_run(run_id=run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE, limit=1)
    message = failure.records[0].event_log_entry.dagster_event.message if failure.records else None
    detail = f"{message or 'The run failed.'}\nIn the Dagster UI: Runs, run {run.run_id}."
    event = AlertEvent(
        id=f"run_failed:{run.run_id}",
        kind="run_failed",
        title=f"Pipeline run {run.run_id[:8]} ({run.job_name}) failed",
        detail=detail,
    )
    return [event, *failed_check_events(instance, run.run_id)]


def failed_runs_since(instance: dg.DagsterInstance, since: datetime) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE], created_after=since)))


def log_outcome(log, outcome: AlertOutcome, config: AlertConfig) -> None:
    for warning in config.warnings():
        log.warning(warning)
    for event in outcome.new:
        log.warning(f"Alert: {event.title}")
    if not config.channels and outcome.new:
        log.info("No alert channel configured (LAN_SMTP_HOST/LAN_ALERT_TO, LAN_ALERT_WEBHOOK): UI and logs only.")
    for channel, count in outcome.sent.items():
        log.info(f"Alerts sent by {channel}: {count} event(s)")
    for channel, error in outcome.failed.items():
        log.warning(f"Alert delivery by {channel} failed, retried next run: {error}")


@dg.asset(
    deps=[partner_warehouse, dbt_docs, run_charts, quality_report, submission_status_page],
    group_name="ops",
    compute_kind="python",
)
def data_team_alerts(
    context: dg.AssetExecutionContext, lan: LanHome, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    """Tell the data team (LAN_SMTP_* / LAN_ALERT_* e-mail, LAN_ALERT_WEBHOOK) of each new event once: files
    quarantined, returns newly overdue, failed runs and blocking checks; deliveries that failed earlier are
    retried. A failed delivery is logged and never fails the run. Ledger: LAN_HOME/alerts/ledger.json."""
    config = AlertConfig.from_env()

    def find(ledger: Ledger) -> list[AlertEvent]:
        with warehouse.get_connection() as con:
            events = quarantine_events(con, context.run_id, ledger.started) + overdue_events(con)
        events += failed_check_events(context.instance, context.run_id)
        for run in failed_runs_since(context.instance, ledger.started):
            events += failed_run_events(context.instance, run)
        return events

    outcome = raise_alerts(lan.settings.alerts, find, config)
    log_outcome(context.log, outcome, config)
    table = ["| event | title |", "|---|---|"] + [f"| {e.kind} | {e.title} |" for e in outcome.new]
    return dg.MaterializeResult(
        metadata={
            "new_events": len(outcome.new),
            "channels": ", ".join(config.channels) or "none (UI and logs only)",
            "sent": dg.MetadataValue.json(outcome.sent),
            "failed_deliveries": dg.MetadataValue.json(outcome.failed),
            "pending_deliveries": outcome.pending,
            "events": dg.MetadataValue.md("\n".join(table) if outcome.new else "none"),
            "ledger": dg.MetadataValue.path(str(lan.settings.alerts / "ledger.json")),
        }
    )


def alert_failed_run(instance: dg.DagsterInstance, run: dg.DagsterRun, log) -> AlertOutcome:
    """Tell of a failed run and its failed blocking checks now (once); `log` is a Dagster or Python logger.
    The sensor calls it; so can an entry point that ran the job itself."""
    config = AlertConfig.from_env()
    outcome = raise_alerts(Settings.from_env().alerts, failed_run_events(instance, run), config)
    log_outcome(log, outcome, config)
    return outcome


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Tells the data team when a run fails (and which blocking checks failed), once per run.",
)
def alert_on_run_failure(context: dg.RunFailureSensorContext) -> None:
    alert_failed_run(context.instance, context.dagster_run, context.log)
