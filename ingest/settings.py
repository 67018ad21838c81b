"""Run-time settings, all read from the environment (one place, documented in the README)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = REPO_ROOT / "dbt_project" / "reference"


def reference_dir() -> Path:
    """Where the reference lists are: LAN_REFERENCE_DIR (a folder holding lan_sites.csv,
    ethnic_category.csv and measures.csv, e.g. with more sites as the network grows), else
    dbt_project/reference (shared/reference's files, unchanged). dbt reads the same folder."""
    return Path(os.environ.get("LAN_REFERENCE_DIR") or REFERENCE_DIR).resolve()


def _month(text: str) -> date:
    year, month = text.strip()[:7].split("-")
    return date(int(year), int(month), 1)


SAMPLE_MARKER = "SAMPLE_DATA"


def home_settings(lan_home: Path) -> dict[str, str]:
    """The `LAN_...=value` lines of LAN_HOME/SAMPLE_DATA: settings that belong to the folder, not the
    environment (the environment wins). `make run` writes `LAN_RUN_DATE` there when it seeds sample returns,
    so that overdue returns are judged on the sample's own clock: the months after the sample are never
    shown as overdue however late the sample is run."""
    try:
        text = (lan_home / SAMPLE_MARKER).read_text(encoding="utf-8")
    except OSError:
        return {}
    pairs = (line.partition("=") for line in text.splitlines())
    return {k.strip(): v.strip() for k, sep, v in pairs if sep and k.strip().startswith("LAN_") and v.strip()}


# DuckDB's memory limit for every connection that writes or checks the warehouse: the pipeline's (the DuckDB
# resource, ingest, the release) and dbt's (profiles.yml reads the same variable, with this default). DuckDB's own
# default is 80 % of RAM; beyond the limit it spills to disk. 600MB: at 130 sites x 60 months dbt build peaks at
# 0.84 GB resident instead of 1.22 GB at 1GB, about 1 s slower (spilling in the gap models); 450MB cost 3 s more
# (README "Performance").
DUCKDB_MEMORY_LIMIT = "600MB"


@dataclass(frozen=True)
class Settings:
    """Where LAN_HOME is and the programme's configurable choices."""

    lan_home: Path
    completeness_threshold: float = 0.9
    reference_group: str = "White"
    programme_start: date = date(2024, 1, 1)
    reporting_start: date = date(2023, 1, 1)
    disclosure_rule: str = "msds"
    due_day: int = 15  # a site-month's return is due on this day of the following month
    settle_seconds: float = 60.0  # a landing file is taken once it has not changed for this long
    reporting_end: date | None = None  # last month of the reporting window (None: open)
    run_date: date | None = None  # the date overdue returns are judged on (None: today)
    duckdb_memory_limit: str = DUCKDB_MEMORY_LIMIT

    @property
    def duckdb_config(self) -> dict[str, str]:
        """The configuration of every DuckDB connection to the warehouse (DUCKDB_MEMORY_LIMIT)."""
        return {"memory_limit": self.duckdb_memory_limit}

    @property
    def today(self) -> date:
        """The run's date: LAN_RUN_DATE when set (tests), else today."""
        return self.run_date or date.today()

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        lan_home = Path(env.get("LAN_HOME") or REPO_ROOT / "data").resolve()
        env = {**home_settings(lan_home), **{k: v for k, v in env.items() if v}}
        due_day = int(env.get("LAN_DUE_DAY") or "15")
        if not 1 <= due_day <= 28:
            raise ValueError(f"LAN_DUE_DAY must be a day from 1 to 28 (a day every month has), not {due_day}")
        reporting_end = env.get("LAN_REPORTING_END")
        run_date = env.get("LAN_RUN_DATE")
        return cls(
            lan_home=lan_home,
            completeness_threshold=float(env.get("LAN_COMPLETENESS_THRESHOLD", "0.9")),
            reference_group=env.get("LAN_REFERENCE_GROUP", "White"),
            programme_start=_month(env.get("LAN_PROGRAMME_START", "2024-01")),
            reporting_start=_month(env.get("LAN_REPORTING_START", "2023-01")),
            disclosure_rule=env.get("LAN_DISCLOSURE_RULE", "msds").lower(),
            due_day=due_day,
            settle_seconds=float(env.get("LAN_SETTLE_SECONDS", "60")),
            reporting_end=_month(reporting_end) if reporting_end else None,
            run_date=date.fromisoformat(run_date.strip()) if run_date else None,
            duckdb_memory_limit=env.get("LAN_DUCKDB_MEMORY_LIMIT", DUCKDB_MEMORY_LIMIT),
        )

    @property
    def landing(self) -> Path:
        return self.lan_home / "landing"

    @property
    def raw(self) -> Path:
        return self.lan_home / "raw"

    @property
    def quarantine(self) -> Path:
        return self.lan_home / "quarantine"

    @property
    def warehouse(self) -> Path:
        return self.lan_home / "warehouse" / "lan.duckdb"

    @property
    def publish(self) -> Path:
        return self.lan_home / "publish"

    @property
    def published_warehouse(self) -> Path:
        return self.publish / "warehouse.duckdb"

    @property
    def evaluation(self) -> Path:
        return self.publish / "evaluation"

    @property
    def sample_marker(self) -> Path:
        """Present when `make run` seeded this LAN_HOME with synthetic sample returns."""
        return self.lan_home / SAMPLE_MARKER

    @property
    def dagster_home(self) -> Path:
        return self.lan_home / "dagster"

    @property
    def alerts(self) -> Path:
        """The alerts ledger: every event raised and its deliveries (publish.alerts)."""
        return self.lan_home / "alerts"

    def make_folders(self) -> None:
        for folder in (
            self.landing,
            self.raw,
            self.quarantine,
            self.warehouse.parent,
            self.publish,
            self.evaluation,
            self.dagster_home,
        ):
            folder.mkdir(parents=True, exist_ok=True)
