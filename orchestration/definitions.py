"""The code location: every asset, check, job, sensor and resource of the warehouse."""

from __future__ import annotations

import dagster as dg

from orchestration.assets import ingest, marts_checks, publish, quality, release, transform
from orchestration.resources import build_resources
from orchestration.sensors import build_landing_sensor

lan_pipeline = dg.define_asset_job(
    "lan_pipeline",
    selection=dg.AssetSelection.all(),
    description="Landing to publish: ingest, validate, build the star schema, publish gap metrics and a release.",
)

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([ingest, quality, transform, publish, release]),
    asset_checks=dg.load_asset_checks_from_modules([ingest, quality, transform, publish, marts_checks, release]),
    jobs=[lan_pipeline],
    sensors=[build_landing_sensor(lan_pipeline)],
    resources=build_resources(),
    # DuckDB allows one writer: steps run one after another in one process.
    executor=dg.in_process_executor,
)
