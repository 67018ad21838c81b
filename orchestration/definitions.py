"""The code location: every asset, check, job, sensor and resource of the warehouse."""

from __future__ import annotations

import dagster as dg

from orchestration import alerts
from orchestration.assets import (
    charts,
    evaluation,
    ingest,
    marts_checks,
    publish,
    quality,
    release,
    status,
    status_checks,
    transform,
)
from orchestration.resources import build_resources
from orchestration.schedules import build_monthly_schedule
from orchestration.sensors import build_landing_sensor

# Every module holding assets or asset checks, in the order data flows.
MODULES = [
    ingest,
    quality,
    transform,
    marts_checks,
    status_checks,
    evaluation,
    charts,
    publish,
    release,
    status,
    alerts,
]

lan_pipeline = dg.define_asset_job(
    "lan_pipeline",
    selection=dg.AssetSelection.all(),
    description="Landing to publish: ingest, validate, build the star schema, publish gap metrics and a release.",
)

defs = dg.Definitions(
    assets=dg.load_assets_from_modules(MODULES),
    asset_checks=dg.load_asset_checks_from_modules(MODULES),
    jobs=[lan_pipeline],
    sensors=[build_landing_sensor(lan_pipeline), alerts.alert_on_run_failure],
    schedules=[build_monthly_schedule(lan_pipeline)],
    resources=build_resources(),
    # DuckDB allows one writer: steps run one after another in one process.
    executor=dg.in_process_executor,
)
