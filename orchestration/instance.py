"""Setting up a LAN_HOME for Dagster: its DAGSTER_HOME (dagster.yaml, PostgreSQL storage when asked) and the
dbt manifest. `python -m orchestration.instance` does just that (the services run it before they start)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ingest.settings import REPO_ROOT, Settings
from orchestration.project import prepare as prepare_dbt_project

# The code location as the webserver, the daemon and `make run` load it: one name, lan_equity_warehouse
# (as pyproject.toml's [tool.dagster] names it for a bare `dagster dev`).
WORKSPACE = REPO_ROOT / "deploy" / "workspace.yaml"
POSTGRES_URL_VARIABLE = "LAN_DAGSTER_POSTGRES_URL"

# Run history, event logs and schedule state in PostgreSQL: the URL stays in the environment, not in the file.
POSTGRES_STORAGE = f"""
# LAN_DAGSTER_POSTGRES_URL is set: runs, event logs and schedules live in PostgreSQL (dagster-postgres).
storage:
  postgres:
    postgres_url:
      env: {POSTGRES_URL_VARIABLE}
"""


# The PostgreSQL driver installed (psycopg2-binary). SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3.
POSTGRES_SCHEME = "postgresql+psycopg2://"


def dagster_yaml(env: dict[str, str] | None = None) -> str:
    """The repository's dagster.yaml, with PostgreSQL storage when LAN_DAGSTER_POSTGRES_URL is set."""
    env = os.environ if env is None else env
    text = (REPO_ROOT / "dagster.yaml").read_text()
    url = env.get(POSTGRES_URL_VARIABLE, "").strip()
    if not url:
        return text
    if not url.startswith(POSTGRES_SCHEME):
        scheme = url.split("://", 1)[0] + "://" if "://" in url else "(none)"
        raise SystemExit(
            f"{POSTGRES_URL_VARIABLE} must start with {POSTGRES_SCHEME} (the PostgreSQL driver installed), "
            f"not {scheme}: e.g. {POSTGRES_SCHEME}dagster:PASSWORD@db-host:5432/dagster"
        )
    return text + POSTGRES_STORAGE


def prepare_environment(settings: Settings) -> None:
    """Make LAN_HOME's folders, install dagster.yaml as its DAGSTER_HOME, and parse the dbt project."""
    settings.make_folders()
    target = settings.dagster_home / "dagster.yaml"
    text = dagster_yaml()
    if not target.exists() or target.read_text() != text:
        target.write_text(text)
    os.environ["LAN_HOME"] = str(settings.lan_home)
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    # dbt and dagster of this environment first on PATH, whoever started us.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    prepare_dbt_project()  # dbt parse, when the project or its settings changed


def main() -> None:
    settings = Settings.from_env()
    prepare_environment(settings)
    storage = "PostgreSQL" if os.environ.get(POSTGRES_URL_VARIABLE) else f"SQLite files in {settings.dagster_home}"
    print(f"DAGSTER_HOME={settings.dagster_home} is ready (run history: {storage}).")


if __name__ == "__main__":
    main()
