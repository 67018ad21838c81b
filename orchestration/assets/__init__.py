"""Assets by concern: ingest, quality, transform (dbt), publish."""
