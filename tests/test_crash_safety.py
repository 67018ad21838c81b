"""Crash safety, really tested: the pipeline (`python -m orchestration.run`, what `make run` runs) is killed with
SIGKILL, process group and all, once during ingest and once during dbt, and then run again to completion.

One LAN_HOME goes through the whole story (a kill costs only the time to reach it, a complete run a minute):

1. the sample returns are put in landing/ and hashed;
2. run 1 is killed during ingest: after the first files were copied to raw/, before the DuckDB transaction
   commits (observed from outside: raw/ fills, landing/ is still full, raw.files is still empty);
3. run 2 takes everything in again and is killed during `dbt build`, once marts tables are being built
   (observed: a dbt process of the run's group, its compiled marts models appearing in its target folder);
4. run 3 runs to the end.

Then every file is kept exactly once, nothing is duplicated in the warehouse, and the published marts equal
those of an uninterrupted build of the same inputs (`built_home`).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingest.sample_data import seed_lan_home
from ingest.settings import Settings
from tests.conftest import CHECK_INTERFACE, REPO_ROOT, pipeline_env, run_pipeline

pytestmark = pytest.mark.e2e

SAMPLE_SUBMISSIONS = 10 * 24
SAMPLE_FILES = SAMPLE_SUBMISSIONS + 94  # the returns and the sample's report files (26 reports are workbook sheets)
KEPT_BESIDE = (".sha256", ".reason.txt", ".reason.json")  # what keep_file writes next to each original
WAIT = 600  # seconds: an upper bound for reaching a kill point on a slow, busy machine
POLL = 0.005
MARTS_STARTED_BEFORE_KILL = 3  # dbt runs 2 threads: once 3 marts models have started, one is finished

# Published tables compared with the uninterrupted build, without the columns that record when a run happened.
COMPARED = {
    "fct_measure_monthly": "*",
    "gap_metrics": "*",
    "gap_metrics_by_ethnic_category": "*",
    "fct_ethnicity_completeness": "*",
    "fct_submission_status": "*",
    "run_chart_points": "*",
    "dim_submission": "* exclude (ingested_at)",
}


# --------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_under(folder: Path) -> list[Path]:
    """Every file below `folder` (os.walk: cheap enough to poll every few milliseconds)."""
    if not folder.is_dir():
        return []
    return [Path(root) / name for root, _, names in os.walk(folder) for name in names]


def kept_originals(home: Path) -> list[Path]:
    """The copies of landed files in raw/ and quarantine/ (not the .sha256 / reason files beside them).
    Hidden files (a `.name.part` a kill left behind) are included: they must not survive a rerun."""
    return [p for p in files_under(home / "raw") + files_under(home / "quarantine") if not p.name.endswith(KEPT_BESIDE)]


def visible(paths: list[Path]) -> list[Path]:
    return [p for p in paths if not p.name.startswith(".")]


def start_pipeline(home: Path, log: Path) -> subprocess.Popen:
    """`make run` in a session (and process group) of its own, so that a kill takes dbt with it."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "orchestration.run"],
            cwd=REPO_ROOT,
            env=pipeline_env(home),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL to the group, then wait until every process of it has gone: the run itself is a grandchild of
    `make run` (the dagster-daemon it started launches it), and holds the warehouse until it is gone."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)
    deadline = time.monotonic() + 60
    while group_exists(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.02)


def group_exists(pgid: int) -> bool:
    """Any process of the group left, a zombie included: a multi-threaded process shows as a zombie while its
    other threads are still ending, and holds its file locks (the warehouse's) until they have."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    return True
            except ProcessLookupError:
                continue
    return False


def group_is_gone(pgid: int, timeout: float = 10) -> bool:
    """No live process left in the group (SIGKILL is delivered asynchronously: allow a moment)."""
    deadline = time.monotonic() + timeout
    while group_processes(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def group_processes(pgid: int) -> list[tuple[int, list[str]]]:
    """(pid, argv) of every live process in process group `pgid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if os.getpgid(pid) != pgid:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
        if argv and state != b"Z":
            found.append((pid, argv))
    return found


def wait_for(what: str, probe: Callable[[], Any], proc: subprocess.Popen, log: Path, timeout: float = WAIT) -> Any:
    """Poll `probe` every few milliseconds until it returns something truthy; fail if the run ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        if proc.poll() is not None:
            raise AssertionError(f"the pipeline ended ({proc.returncode}) before {what}:\n{tail(log)}")
        time.sleep(POLL)
    raise AssertionError(f"no {what} after {timeout} s:\n{tail(log)}")


def tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def query(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def dbt_build(pgid: int) -> tuple[int, Path] | None:
    """The `dbt build` process of the run, if started, and the target folder dagster-dbt gave it."""
    for pid, argv in group_processes(pgid):
        if any(Path(a).name == "dbt" for a in argv) and "build" in argv:
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
            except (ProcessLookupError, FileNotFoundError):
                continue
            if b"DBT_TARGET_PATH" not in env:
                continue
            target = Path(env[b"DBT_TARGET_PATH"].decode())
            return pid, target if target.is_absolute() else REPO_ROOT / "dbt_project" / target
    return None


def marts_started(target: Path) -> list[Path]:
    """Marts models dbt has started to build: it writes each model's SQL to run/ as it executes it."""
    return sorted((target / "run" / "lan_warehouse" / "models" / "marts").glob("*.sql"))


def snapshot(home: Path) -> dict:
    """What a killed run left behind, read from outside."""
    warehouse = Settings.from_env({"LAN_HOME": str(home)}).warehouse
    state: dict[str, Any] = {
        "landing": sorted(p.name for p in (home / "landing").iterdir()),
        "kept": visible(kept_originals(home)),
        "partial_copies": [p for p in kept_originals(home) if p.name.startswith(".")],
        "published": (home / "publish" / "warehouse.duckdb").exists(),
        "raw_files": None,
        "marts": None,
    }
    if warehouse.exists():
        state["raw_files"] = query(warehouse, "select count(*), count(distinct checksum) from raw.files")[0]
        state["marts"] = {
            t for (t,) in query(warehouse, "select table_name from duckdb_tables() where schema_name = 'marts'")
        }
    return state


# --------------------------------------------------------------------------------------------------------
# the story
# --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crashed(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("crash")
    home = base / "lan"
    settings = Settings.from_env({"LAN_HOME": str(home)})
    settings.make_folders()
    # exactly what `make run` puts in a new LAN_HOME (orchestration/run.py), written here so it can be hashed first
    seed_lan_home(settings)
    landed = {sha256(p): p.name for p in settings.landing.iterdir()}
    assert len(landed) == SAMPLE_FILES, "every sample file has bytes of its own"
    story: dict[str, Any] = {"home": home, "landed": landed, "seconds": {}}

    # run 1: killed during ingest, as soon as the first landed file has been kept
    log = base / "run1-killed-in-ingest.log"
    started = time.monotonic()
    proc = start_pipeline(home, log)
    try:
        wait_for("a file kept in raw/ or quarantine/", lambda: visible(kept_originals(home)), proc, log)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        kill_group(proc)
    story["seconds"]["run 1 (killed in ingest)"] = time.monotonic() - started
    story["ingest_kill"] = snapshot(home)
    story["ingest_kill"]["group_gone"] = group_is_gone(proc.pid)

    # run 2: takes everything in again, killed during `dbt build` once marts are being built
    log = base / "run2-killed-in-dbt.log"
    started = time.monotonic()
    proc = start_pipeline(home, log)
    try:
        pid, target = wait_for("a `dbt build` process", lambda: dbt_build(proc.pid), proc, log)
        started_marts = wait_for(
            f"{MARTS_STARTED_BEFORE_KILL} marts models started by dbt",
            lambda: len(m := marts_started(target)) >= MARTS_STARTED_BEFORE_KILL and m,
            proc,
            log,
        )
        dbt_alive = pid in {p for p, _ in group_processes(proc.pid)}
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        kill_group(proc)
    story["seconds"]["run 2 (killed in dbt)"] = time.monotonic() - started
    story["dbt_kill"] = snapshot(home)
    story["dbt_kill"].update(
        dbt_alive_at_kill=dbt_alive, marts_started=[p.stem for p in started_marts], group_gone=group_is_gone(proc.pid)
    )

    # run 3: to the end
    started = time.monotonic()
    story["rerun"] = run_pipeline(home)
    story["seconds"]["run 3 (complete)"] = time.monotonic() - started
    print(
        "\ncrash-safety timings:",
        {k: round(v, 1) for k, v in story["seconds"].items()},
        f"\nkilled in ingest with {len(story['ingest_kill']['kept'])} of {SAMPLE_FILES} files kept,",
        f"raw.files {story['ingest_kill']['raw_files']};",
        f"\nkilled in dbt with marts {sorted(story['dbt_kill']['marts'] or [])} built",
        f"(dbt had started {story['dbt_kill']['marts_started']})",
    )
    return story


# --------------------------------------------------------------------------------------------------------
# the kill points really were where they should be
# --------------------------------------------------------------------------------------------------------


def test_the_first_kill_came_mid_ingest_after_some_files_were_kept_before_the_commit(crashed):
    state = crashed["ingest_kill"]
    assert state["group_gone"], "no process of the killed run may survive"
    # some files copied to raw/ or quarantine/, not all ...
    assert 0 < len(state["kept"]) < SAMPLE_FILES, (
        f"{len(state['kept'])} files kept at the kill: the kill missed the copying window"
    )
    # ... landing/ untouched, and nothing committed to the warehouse
    assert len(state["landing"]) == SAMPLE_FILES
    assert state["raw_files"] in (None, (0, 0)), state["raw_files"]
    assert not state["published"]


def test_the_second_kill_came_during_dbt_and_left_a_half_built_marts_schema(crashed):
    state = crashed["dbt_kill"]
    assert state["dbt_alive_at_kill"], "dbt build was running when the group was killed"
    assert state["group_gone"], "dbt must not outlive the killed run (it would hold the warehouse)"
    # the ingest of run 2 completed: every file taken in once, landing/ emptied
    assert state["landing"] == []
    assert state["raw_files"] == (SAMPLE_FILES, SAMPLE_FILES)
    # marts half built: some dbt marts exist, the Python-built one and the published copy do not yet
    assert state["marts"], f"no marts table was built before the kill (dbt had started {state['marts_started']})"
    assert "run_chart_points" not in state["marts"]
    assert not state["published"]


# --------------------------------------------------------------------------------------------------------
# after the rerun: no loss, no duplicate, the same result as a build never interrupted
# --------------------------------------------------------------------------------------------------------


def test_every_landed_file_is_kept_exactly_once_and_landing_is_empty(crashed):
    home = crashed["home"]
    assert list((home / "landing").iterdir()) == []
    kept = kept_originals(home)
    assert not [p for p in kept if p.name.startswith(".")], "partial copies left behind"
    by_checksum: dict[str, list[Path]] = {}
    for path in kept:
        by_checksum.setdefault(sha256(path), []).append(path)
    assert {c: [p.name for p in ps] for c, ps in by_checksum.items() if len(ps) > 1} == {}
    assert set(by_checksum) == set(crashed["landed"])
    for checksum, [path] in by_checksum.items():
        assert path.name == f"{checksum[:12]}__{crashed['landed'][checksum]}"
        if path.is_relative_to(home / "raw"):
            assert path.with_name(path.name + ".sha256").read_text().split()[0] == checksum


def test_the_warehouse_holds_every_file_and_row_once(crashed):
    home = crashed["home"]
    warehouse = home / "warehouse" / "lan.duckdb"
    files = query(warehouse, "select checksum, stored_path from raw.files")
    assert len(files) == len({c for c, _ in files}) == SAMPLE_FILES
    assert {c for c, _ in files} == set(crashed["landed"])
    assert all((home / stored).is_file() for _, stored in files)
    duplicates = {
        "raw.files": "select checksum from raw.files group by all having count(*) > 1",
        "raw.file_arrivals": "select checksum, file_name, received_at from raw.file_arrivals "
        "group by all having count(*) > 1",
        "raw.submissions": "select submission_id from raw.submissions group by all having count(*) > 1",
        "raw.submissions by site-month-file": "select site_code, month_start_date, checksum from raw.submissions "
        "group by all having count(*) > 1",
        "raw.return_rows": "select submission_id, source_row from raw.return_rows group by all having count(*) > 1",
        "raw.return_rows by key": "select submission_id, measure_code, ethnic_code from raw.return_rows "
        "group by all having count(*) > 1",
    }
    for what, sql in duplicates.items():
        assert query(warehouse, sql) == [], what
    # each file arrived once (run 1 committed nothing; run 2 took everything in; run 3 found landing empty)
    assert query(warehouse, "select count(*), count(*) filter (where is_repeat) from raw.file_arrivals") == [
        (SAMPLE_FILES, 0)
    ]
    assert query(warehouse, "select count(*) from raw.submissions") == [(SAMPLE_SUBMISSIONS,)]
    assert query(
        warehouse,
        """
        select count(*) from raw.submissions s
        where row_count != (select count(*) from raw.return_rows r where r.submission_id = s.submission_id)""",
    ) == [(0,)]


def test_the_published_marts_equal_an_uninterrupted_build(crashed, built_home):
    home = crashed["home"]
    # the same inputs as the uninterrupted build
    built = {sha256(p) for p in kept_originals(built_home)}
    assert built == set(crashed["landed"])
    con = duckdb.connect()
    try:
        con.execute(f"attach '{home / 'publish' / 'warehouse.duckdb'}' as crashed (read_only)")
        con.execute(f"attach '{built_home / 'publish' / 'warehouse.duckdb'}' as built (read_only)")
        for table, columns in COMPARED.items():
            counts = con.execute(
                f"select (select count(*) from crashed.marts.{table}), (select count(*) from built.marts.{table})"
            ).fetchone()
            assert counts[0] == counts[1] and counts[0] > 0, (table, counts)
            for left, right in (("crashed", "built"), ("built", "crashed")):
                extra = con.execute(
                    f"select count(*) from (select {columns} from {left}.marts.{table} "
                    f"except all select {columns} from {right}.marts.{table})"
                ).fetchone()[0]
                assert extra == 0, f"{table}: {extra} rows in the {left} build only"
        crashed_tables = {
            t
            for (t,) in con.execute(
                "select table_name from duckdb_tables() where database_name = 'crashed' and schema_name = 'marts'"
            ).fetchall()
        }
        built_tables = {
            t
            for (t,) in con.execute(
                "select table_name from duckdb_tables() where database_name = 'built' and schema_name = 'marts'"
            ).fetchall()
        }
        assert crashed_tables == built_tables
    finally:
        con.close()


def test_the_interface_holds_after_the_crashes(crashed):
    done = subprocess.run(
        [sys.executable, str(CHECK_INTERFACE), str(crashed["home"])], capture_output=True, text=True, timeout=300
    )
    lines = done.stdout.strip().splitlines()
    assert lines and lines[-1] == "interface holds", done.stdout[-3000:] + done.stderr[-3000:]


def test_the_killed_runs_are_no_longer_recorded_as_in_progress(crashed):
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(crashed["home"] / "dagster"))) as instance:
        statuses = [r.status for r in instance.get_runs(filters=dg.RunsFilter(job_name="lan_pipeline"))]
    assert len(statuses) == 3 and statuses[0] == dg.DagsterRunStatus.SUCCESS  # newest first
    assert dg.DagsterRunStatus.STARTED not in statuses, statuses
