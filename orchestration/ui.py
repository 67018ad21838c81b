"""`make ui`: the Dagster UI and daemon (the landing sensor, the run queue) on http://127.0.0.1:3000, loading the
code location from deploy/workspace.yaml as the services and `make run` do."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ingest.settings import Settings
from orchestration.instance import WORKSPACE, prepare_environment


def main() -> None:
    prepare_environment(Settings.from_env())
    dagster = str(Path(sys.executable).with_name("dagster"))
    os.execv(dagster, [dagster, "dev", "-w", str(WORKSPACE), "-h", "127.0.0.1", "-p", "3000"])


if __name__ == "__main__":
    main()
