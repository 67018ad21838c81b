"""The monthly rhythm: a run on the day after returns are due, even with nothing in landing/, so that the
returns not received become overdue (fct_submission_status.is_overdue) and the data team is told on time."""

import dagster as dg

from ingest.settings import Settings

TIMEZONE = "Europe/London"
HOUR = 7  # early morning, before the working day, London time


def monthly_cron(due_day: int) -> str:
    """Cron for the day after the due day (LAN_DUE_DAY) at 07:00; a due day of 28 or later runs on the 1st of
    the next month, the day after the latest due date any month can have."""
    if not 1 <= due_day <= 31:
        raise ValueError(f"LAN_DUE_DAY must be a day of the month (1 to 31), not {due_day}")
    day = due_day + 1 if due_day < 28 else 1
    return f"0 {HOUR} {day} * *"


def build_monthly_schedule(job, due_day: int | None = None) -> dg.ScheduleDefinition:
    """The schedule for `job` (the whole pipeline), one run a month, keyed by the month so it never repeats."""
    due_day = Settings.from_env().due_day if due_day is None else due_day

    @dg.schedule(
        job=job,
        cron_schedule=monthly_cron(due_day),
        execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Runs the pipeline the day after returns are due (day {due_day}, LAN_DUE_DAY), even when "
        "landing/ is empty, so that overdue returns are flagged and alerted on time.",
    )
    def monthly_due_date_run(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        when = context.scheduled_execution_time
        return dg.RunRequest(run_key=f"due-date-run-{when:%Y-%m}", tags={"lan/trigger": "monthly schedule"})

    return monthly_due_date_run
