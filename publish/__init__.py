"""What the warehouse publishes: statistics, run charts, disclosure control, extracts, the published copy.

Plain Python over pandas and DuckDB; `orchestration/` wires it into Dagster assets.
"""
