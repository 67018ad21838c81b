"""No synthetic data by surprise: sample returns go only into the default demo LAN_HOME (./data) or where asked
(`make demo`, LAN_DEMO=1, --demo); a new LAN_HOME of one's own starts empty and says where files go."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ingest.settings import REPO_ROOT, Settings
from orchestration.run import demo_asked, is_demo_home
from tests.conftest import pipeline_env


def test_only_the_checkouts_data_folder_is_the_demo_home(tmp_path):
    assert is_demo_home(Settings.from_env({}))  # LAN_HOME unset: ./data
    assert is_demo_home(Settings.from_env({"LAN_HOME": str(REPO_ROOT / "data")}))
    assert not is_demo_home(Settings.from_env({"LAN_HOME": str(tmp_path / "lan")}))


@pytest.mark.parametrize(("value", "asked"), [("1", True), ("true", True), ("", False), ("0", False)])
def test_lan_demo_asks_for_sample_data(value, asked):
    assert demo_asked(False, {"LAN_DEMO": value}) is asked
    assert demo_asked(True, {}) is True  # --demo
    assert demo_asked(False, {}) is False


def test_a_new_lan_home_of_ones_own_starts_empty(tmp_path):
    home = tmp_path / "production"
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.run"],
        cwd=REPO_ROOT,
        env=pipeline_env(home),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (home / "landing").is_dir() and not any((home / "landing").iterdir())
    assert not (home / "SAMPLE_DATA").exists() and not (home / "warehouse" / "lan.duckdb").exists()
    assert "new and empty" in done.stdout and str(home / "landing") in done.stdout
    assert "LAN_DEMO=1" in done.stdout  # and how to ask for the demo
    assert (home / "dagster" / "dagster.yaml").exists()  # ready for `make ui` and the services
