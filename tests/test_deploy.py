"""deploy/: the systemd units are valid for systemd (`systemd-analyze verify`, with this checkout's paths), run
programs this environment has, and read an environment file that names every setting the README asks for."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
UNITS = ["lan-dagster-daemon.service", "lan-dagster-webserver.service"]
ENV_EXAMPLE = DEPLOY / "lan-warehouse.env.example"


def settings(text: str) -> dict[str, str]:
    """NAME=value lines, commented-out ones included (optional settings are shown commented)."""
    lines = (line.lstrip("#").strip() for line in text.splitlines())
    return dict(line.split("=", 1) for line in lines if "=" in line and line.split("=", 1)[0].isupper())


def test_the_environment_file_names_every_setting():
    found = settings(ENV_EXAMPLE.read_text())
    for name in ("LAN_HOME", "DAGSTER_HOME", "LAN_DAGSTER_POSTGRES_URL", "LAN_SMTP_HOST", "LAN_SMTP_PORT"):
        assert name in found, name
    for name in ("LAN_ALERT_TO", "LAN_ALERT_FROM", "LAN_ALERT_WEBHOOK", "LAN_DUE_DAY", "LAN_SETTLE_SECONDS"):
        assert name in found, name
    assert found["DAGSTER_HOME"] == found["LAN_HOME"] + "/dagster"  # where make run puts it too
    assert found["LAN_DAGSTER_POSTGRES_URL"].startswith("postgresql+psycopg2://")


def test_the_units_run_this_environments_programs():
    for unit in UNITS:
        text = (DEPLOY / unit).read_text()
        starts = [line.split("=", 1)[1].split()[0] for line in text.splitlines() if line.startswith("ExecStart")]
        assert starts, unit
        for program in starts:
            assert program.startswith("/opt/lan-warehouse/.venv/bin/"), program
            assert (REPO_ROOT / ".venv" / "bin" / Path(program).name).exists(), program
        assert "EnvironmentFile=/etc/lan-warehouse/lan-warehouse.env" in text
        assert "-w /opt/lan-warehouse/deploy/workspace.yaml" in text


def test_the_workspace_names_one_location():
    [entry] = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())["load_from"]
    assert entry["python_module"]["module_name"] == "orchestration.definitions"
    assert entry["python_module"]["location_name"] == "lan_equity_warehouse"
    assert (DEPLOY / entry["python_module"]["working_directory"]).resolve() == REPO_ROOT


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_accepts_the_units(tmp_path):
    for unit in UNITS:
        text = (DEPLOY / unit).read_text()
        text = text.replace("/etc/lan-warehouse/lan-warehouse.env", str(ENV_EXAMPLE))
        text = text.replace("/opt/lan-warehouse", str(REPO_ROOT)).replace("User=lan", "User=root")
        (tmp_path / unit).write_text(text.replace("Group=lan", "Group=root"))
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(tmp_path / u) for u in UNITS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
