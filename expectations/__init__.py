"""Great Expectations 1.x suites for the site returns and how they are run. Knows nothing of Dagster."""
