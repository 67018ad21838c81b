"""`make run`: sample returns for a new LAN_HOME, then one pipeline run over whatever is in landing/."""

from __future__ import annotations

import sys
import time

from ingest.settings import Settings


def is_new(settings: Settings) -> bool:
    landing_empty = not settings.landing.is_dir() or not any(settings.landing.iterdir())
    return not settings.warehouse.exists() and landing_empty


def main() -> int:
    settings = Settings.from_env()
    started = time.perf_counter()
    if is_new(settings):
        from ingest.sample_data import seed_lan_home

        written, reports = seed_lan_home(settings)
        print(
            f"New LAN_HOME: put {len(written)} sample returns and {len(reports)} monthly reports (synthetic data) "
            f"in {settings.landing}"
        )
        settings = Settings.from_env()

    from orchestration.instance import prepare_environment

    prepare_environment(settings)

    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.sensors import fail_abandoned_runs

    with dg.DagsterInstance.get() as instance:
        for run_id in fail_abandoned_runs(instance, "lan_pipeline"):
            print(f"Run {run_id} had been killed before it finished: marked failed; this run takes its files in.")
        result = defs.resolve_job_def("lan_pipeline").execute_in_process(instance=instance, raise_on_error=False)
    elapsed = time.perf_counter() - started
    if not result.success:
        print(f"The pipeline failed (run {result.run_id}); see the log above or `make ui`.", file=sys.stderr)
        return 1
    from publish.release import latest_release

    release = latest_release(settings.evaluation)
    print(f"""
Pipeline run {result.run_id} succeeded in {elapsed:.0f} s.
  warehouse (pipeline only):   {settings.warehouse}
  RHO analysts' copy (BI):     {settings.published_warehouse}
  partner's copy (rounded):    {settings.publish / "partner" / "warehouse.duckdb"}
  latest evaluation release:   {release or "(none)"}
  quarantine (refused files):  {settings.quarantine}
  run history:                 make ui, then http://127.0.0.1:3000""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
