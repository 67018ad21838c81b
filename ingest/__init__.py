"""Reading, checking and storing the monthly site returns. Plain Python: knows nothing of Dagster."""
