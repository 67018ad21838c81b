"""The screenshot check (optional): the Dagster UI's job page and the charts index, as a person sees them, in
headless Chromium from Debian's packages (`apt-get install chromium`). Skipped where /usr/bin/chromium is absent
(CI's fresh machine); the README's contributor notes say how to run it.

On the sample build: the webserver loads the code location as `make ui` does; the job's runs page lists the run
`make run` launched (the UI's own GraphQL API says it is under the job, and the rendered page shows its id), with
no community pop-up; the charts index renders with the LAN first and team names. The PNGs are kept in
LAN_HOME/screenshots for a person to look at."""

from __future__ import annotations

import html
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO_ROOT, pipeline_env

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(CHROMIUM is None, reason="optional: needs Debian's chromium (apt-get install chromium)"),
]
# As the machine's notes advise: no sandbox as root, and no background connections on a closed network.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1440,900",
    "--virtual-time-budget=20000",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chromium(url: str, profile: Path, *args: str) -> str:
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, url],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _screenshot(url: str, png: Path, profile: Path) -> str:
    """Save the page at `url` as `png`; the rendered DOM as text."""
    _chromium(url, profile, f"--screenshot={png}")
    assert png.stat().st_size > 10_000, f"{png} is nearly empty"
    return _chromium(url, profile, "--dump-dom")


def _distinct_colours(png: Path) -> int:
    from PIL import Image

    with Image.open(png) as image:
        return len(image.convert("RGB").getcolors(maxcolors=1 << 20) or [])


@pytest.fixture(scope="module")
def webserver(built_home):
    """dagster-webserver on the sample build's DAGSTER_HOME, loading deploy/workspace.yaml as `make ui` does."""
    port = _free_port()
    env = pipeline_env(built_home, DAGSTER_HOME=str(built_home / "dagster"))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    log = (built_home / "webserver-screenshots.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-webserver"))]
        + ["-w", str(REPO_ROOT / "deploy" / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=5):
                    break
            except OSError:
                assert server.poll() is None, (built_home / "webserver-screenshots.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the webserver did not start in 180 s"
                time.sleep(1)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()


def _job_runs(url: str) -> list[dict]:
    query = '{ runsOrError(filter: {pipelineName: "lan_pipeline"}) { ... on Runs { results { runId status } } } }'
    request = urllib.request.Request(
        f"{url}/graphql", data=json.dumps({"query": query}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)["data"]["runsOrError"]["results"]


def test_the_job_page_shows_the_run_make_run_launched(webserver, built_home, tmp_path):
    runs = _job_runs(webserver)
    assert runs and runs[0]["status"] == "SUCCESS", runs
    dest = built_home / "screenshots"
    dest.mkdir(exist_ok=True)
    png = dest / "job-runs.png"
    dom = _screenshot(f"{webserver}/locations/lan_equity_warehouse/jobs/lan_pipeline/runs", png, tmp_path / "p1")
    assert runs[0]["runId"][:8] in dom  # the UI shows run ids by their first 8 characters
    assert "Join the Dagster community" not in dom  # nux: enabled: false
    assert _distinct_colours(png) > 50


def test_the_charts_index_renders_lan_first_with_team_names(built_home, tmp_path):
    dest = built_home / "screenshots"
    dest.mkdir(exist_ok=True)
    png = dest / "charts-index.png"
    dom = _screenshot((built_home / "publish" / "charts" / "index.html").as_uri(), png, tmp_path / "p2")
    rows = dom.split("<tr>")[2:]  # after the header row
    assert rows and ">LAN<" in rows[0]
    con = duckdb.connect(str(built_home / "publish" / "warehouse.duckdb"), read_only=True)
    try:
        teams = [t for (t,) in con.execute("select team_name from marts.dim_site").fetchall()]
    finally:
        con.close()
    text = html.unescape(dom)
    assert teams and all(team in text for team in teams)
    assert _distinct_colours(png) > 20
