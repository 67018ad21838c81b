"""Assets by concern: ingest, quality, transform (dbt), publish.

Great Expectations, statsmodels and matplotlib are imported inside the assets and checks that use them, not at
the top of these modules: every process that loads the definitions (the code server, a run worker, `make ui`)
would otherwise pay about 3 s and 200 MB for them, though most never run those steps
(tests/test_definitions.py holds this)."""
