"""Dagster wiring: ingest, quality, transform (dbt) and publish assets over one LAN_HOME."""
