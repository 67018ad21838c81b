"""The monthly schedule: the day after the due day (LAN_DUE_DAY), London time, a run even with landing/ empty."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._utils.schedules import schedule_execution_time_iterator

from orchestration.schedules import TIMEZONE, build_monthly_schedule, monthly_cron

LONDON = ZoneInfo("Europe/London")


@dg.op
def _noop():
    return None


@dg.job
def some_job():
    _noop()


def test_the_schedule_runs_the_day_after_the_default_due_day_in_london(monkeypatch):
    monkeypatch.delenv("LAN_DUE_DAY", raising=False)
    schedule = build_monthly_schedule(some_job)
    assert schedule.cron_schedule == "0 7 16 * *"
    assert schedule.execution_timezone == TIMEZONE == "Europe/London"
    assert schedule.job_name == "some_job"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_lan_due_day_moves_the_schedule(monkeypatch):
    monkeypatch.setenv("LAN_DUE_DAY", "10")
    assert build_monthly_schedule(some_job).cron_schedule == "0 7 11 * *"
    assert monthly_cron(27) == "0 7 28 * *"
    assert monthly_cron(28) == "0 7 1 * *"  # the day after the latest due date any month can have
    assert monthly_cron(31) == "0 7 1 * *"
    with pytest.raises(ValueError, match="LAN_DUE_DAY"):
        monthly_cron(0)


def test_evaluating_the_schedule_requests_a_run_keyed_by_month_even_with_landing_empty(tmp_path, monkeypatch):
    monkeypatch.setenv("LAN_HOME", str(tmp_path))  # an empty LAN_HOME: nothing in landing/
    schedule = build_monthly_schedule(some_job, due_day=15)
    when = datetime(2025, 3, 16, 7, 0, tzinfo=LONDON)
    with dg.instance_for_test() as instance:
        result = schedule.evaluate_tick(dg.build_schedule_context(instance=instance, scheduled_execution_time=when))
    (request,) = result.run_requests
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == "due-date-run-2025-03"
    assert request.tags["lan/trigger"] == "monthly schedule"


def test_the_next_ticks_fall_on_the_16th_at_seven_london_time_across_summer_time():
    schedule = build_monthly_schedule(some_job, due_day=15)
    ticks = schedule_execution_time_iterator(
        datetime(2025, 2, 20, tzinfo=LONDON).timestamp(), schedule.cron_schedule, schedule.execution_timezone
    )
    first = [next(ticks) for _ in range(3)]
    assert [(t.month, t.day, t.hour) for t in first] == [(3, 16, 7), (4, 16, 7), (5, 16, 7)]
    assert first[1].utcoffset().total_seconds() == 3600  # British Summer Time: 06:00 UTC


def test_the_code_location_has_the_schedule_on_lan_pipeline():
    from tests.test_definitions import load_definitions

    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as home:
        defs = load_definitions(Path(home), patch)
        (schedule,) = defs.schedules
        assert schedule.name == "monthly_due_date_run"
        assert schedule.job_name == "lan_pipeline"
        assert schedule.execution_timezone == "Europe/London"
