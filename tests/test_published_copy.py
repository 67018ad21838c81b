"""The published copy, publish/warehouse.duckdb, as BI tools meet it.

- `publish_copy` on small hand-made warehouses: only schema `marts` is copied, the row counts it returns
  are right, and the file is replaced atomically (a reader of the old file keeps its snapshot, no
  temporary file is left, a failed copy leaves the old copy untouched).
- DuckDB 1.x, the version ODBC drivers and BI bundles carry: a separate virtualenv (`.venv-duckdb1`,
  made once and reused) with DuckDB 1.4 opens the published copy of a real build and reads exactly what
  DuckDB 2.0 reads, while it cannot open the working warehouse (the reason the copy exists).
- A reader holding the published copy open during a whole pipeline run neither blocks nor breaks the run,
  reads its snapshot throughout, and a new connection afterwards sees the new build.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

import publish.published_copy as published_copy
from ingest.sample_data import default_profiles, write_returns
from publish.published_copy import publish_copy
from tests.conftest import REPO_ROOT, run_pipeline

# ----------------------------------------------------------------------------------------------------
# A DuckDB 1.x interpreter in its own virtualenv
# ----------------------------------------------------------------------------------------------------

DUCKDB1_PIN = "duckdb==1.4.4"
DUCKDB1_VENV = REPO_ROOT / ".venv-duckdb1"  # gitignored by `.venv-*/`
PIN_FILE = "lan-test-pin.txt"  # what the virtualenv was made with


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _clean_env() -> dict[str, str]:
    """The environment for another interpreter: nothing that would put this venv's packages on its path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update({"DO_NOT_TRACK": "1"})
    return env


def _venv_matches(venv: Path, pin: str) -> bool:
    python = _venv_python(venv)
    pin_file = venv / PIN_FILE
    if not python.exists() or not pin_file.is_file() or pin_file.read_text().strip() != pin:
        return False
    done = subprocess.run(
        [str(python), "-I", "-c", "import duckdb; print(duckdb.__version__)"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_clean_env(),
    )
    wanted = dict(requirement.split("==", 1) for requirement in pin.split())["duckdb"]
    return done.returncode == 0 and done.stdout.strip() == wanted


def ensure_duckdb1_venv(venv: Path = DUCKDB1_VENV, pin: str = DUCKDB1_PIN) -> Path:
    """The python of a virtualenv holding exactly `pin` (space-separated `name==version` requirements, duckdb among
    them); made (about 10 s) only when missing or made with another pin. It is built beside its final place and renamed into it, so an interrupted build is never
    taken for a good one."""
    if _venv_matches(venv, pin):
        return _venv_python(venv)
    build = venv.with_name(f"{venv.name}-build-{os.getpid()}")  # still matches `.venv-*/`
    shutil.rmtree(build, ignore_errors=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(build)], check=True, capture_output=True, timeout=300)
        installed = subprocess.run(
            [str(_venv_python(build)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *pin.split()],
            capture_output=True,
            text=True,
            timeout=900,
            env=_clean_env(),
        )
        if installed.returncode != 0:
            pytest.fail(
                f"could not install {pin} into {build}:\n{installed.stdout[-3000:]}\n{installed.stderr[-3000:]}"
            )
        (build / PIN_FILE).write_text(pin + "\n")
        shutil.rmtree(venv, ignore_errors=True)
        try:
            os.rename(build, venv)
        except OSError:
            pass  # another session put a virtualenv there first: checked just below
    finally:
        shutil.rmtree(build, ignore_errors=True)
    if not _venv_matches(venv, pin):
        pytest.fail(f"{venv} does not hold {pin} after building it")
    return _venv_python(venv)


@pytest.fixture(scope="session")
def duckdb1_python() -> Path:
    return ensure_duckdb1_venv()


def snapshot(con, queries: dict, tables: bool = True) -> dict:
    """What a reader sees through `con`: for every table of schema marts its columns, row count and a
    sha256 of all its rows in sorted order; and the rows of each of `queries`. Values are made
    JSON-comparable (floats kept exact, NaN as a string, dates as ISO text).

    Its source is also sent to the DuckDB 1.x interpreter, so the two sides compute the same thing: it
    must stay self-contained and run on Python 3.11 with DuckDB >= 1.1.
    """
    import datetime
    import decimal
    import hashlib
    import json
    import math

    def norm(value):
        if isinstance(value, float):
            return "NaN" if math.isnan(value) else value
        if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
            return value.isoformat()
        if isinstance(value, (decimal.Decimal, datetime.timedelta)):
            return str(value)
        if isinstance(value, (list, tuple)):
            return [norm(v) for v in value]
        if isinstance(value, dict):
            return {str(k): norm(v) for k, v in value.items()}
        return value

    seen = {
        "schemas": sorted(s for (s,) in con.execute("select distinct schema_name from duckdb_tables()").fetchall()),
        "views": con.execute("select count(*) from duckdb_views() where not internal").fetchone()[0],
        "tables": {},
        "queries": {},
    }
    if tables:
        names = [
            n
            for (n,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts' order by 1"
            ).fetchall()
        ]
        for name in names:
            columns = con.execute(
                "select column_name, data_type from duckdb_columns() "
                "where schema_name = 'marts' and table_name = ? order by column_index",
                [name],
            ).fetchall()
            count = con.execute(f'select count(*) from marts."{name}"').fetchone()[0]
            rows = con.execute(f'select * from marts."{name}" order by all').fetchall()
            digest = hashlib.sha256(json.dumps([norm(list(r)) for r in rows]).encode()).hexdigest()
            seen["tables"][name] = {"columns": [list(c) for c in columns], "count": count, "sha256": digest}
    for key, sql in queries.items():
        rel = con.execute(sql)
        seen["queries"][key] = {
            "columns": [d[0] for d in rel.description],
            "rows": [norm(list(r)) for r in rel.fetchall()],
        }
    return seen


_DUCKDB1_MAIN = """
import json, sys
import duckdb
args = json.loads(sys.argv[1])
result = {"version": duckdb.__version__}
try:
    con = duckdb.connect(args["path"], read_only=True)
except Exception as exc:
    result["error"] = f"{type(exc).__name__}: {exc}"
else:
    try:
        result.update(snapshot(con, args["queries"], args["tables"]))
    finally:
        con.close()
print(json.dumps(result))
"""


def read_with(python: Path, path: Path, queries: dict | None = None, tables: bool = True) -> dict:
    """`snapshot` of the DuckDB file `path`, taken by another interpreter (a separate process)."""
    script = inspect.getsource(snapshot) + _DUCKDB1_MAIN
    args = json.dumps({"path": str(path), "queries": queries or {}, "tables": tables})
    done = subprocess.run(
        [str(python), "-I", "-c", script, args], capture_output=True, text=True, timeout=600, env=_clean_env()
    )
    assert done.returncode == 0, done.stderr[-5000:]
    return json.loads(done.stdout)


def read_here(path: Path, queries: dict | None = None, tables: bool = True) -> dict:
    """`snapshot` with the DuckDB of this process (2.0), through the same JSON round trip."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return json.loads(json.dumps(snapshot(con, queries or {}, tables)))
    finally:
        con.close()


# ----------------------------------------------------------------------------------------------------
# publish_copy on small hand-made warehouses
# ----------------------------------------------------------------------------------------------------


def _make_warehouse(path: Path, value: int = 1) -> Path:
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema marts; create schema raw; create schema staging")
        con.execute(f"""
            create table marts.dim_thing as
            select * from (values
                ('A', date '2024-01-01', timestamp '2024-02-10 08:30:00', 0.1::double, true, {value}::bigint, 'Née'),
                ('B', date '2024-02-01', null, 'NaN'::double, false, null, null),
                ('C', date '2024-03-01', timestamp '2024-04-10 17:59:59', 1e-300::double, null, 7, '')
            ) as t(code, month_start_date, received_at, rate, is_known, n, label)""")
        con.execute("create table marts.fct_empty (code varchar, n bigint)")
        con.execute("create table raw.return_rows as select range as i from range(5)")
        con.execute("create table staging.stg as select 1 as x")
        con.execute("create view staging.v as select * from marts.dim_thing")
    finally:
        con.close()
    return path


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_publish_copy_copies_only_the_marts_tables_and_returns_their_row_counts(tmp_path):
    source = _make_warehouse(tmp_path / "lan.duckdb")
    dest = tmp_path / "publish" / "warehouse.duckdb"
    counts = publish_copy(source, dest)
    assert counts == {"marts.dim_thing": 3, "marts.fct_empty": 0}
    published = read_here(dest)
    assert published["schemas"] == ["marts"] and published["views"] == 0
    assert sorted(published["tables"]) == ["dim_thing", "fct_empty"]
    assert {t: v["count"] for t, v in published["tables"].items()} == {"dim_thing": 3, "fct_empty": 0}
    # the same columns, types and values as in the working warehouse
    working = read_here(source)
    for table in ("dim_thing", "fct_empty"):
        assert published["tables"][table] == working["tables"][table]
    assert _files(dest.parent) == ["warehouse.duckdb"]  # no .tmp, no .wal left behind


def test_publish_copy_replaces_the_file_atomically_under_a_reader(tmp_path):
    dest = tmp_path / "publish" / "warehouse.duckdb"
    publish_copy(_make_warehouse(tmp_path / "first.duckdb", value=1), dest)
    old_inode = dest.stat().st_ino
    held = duckdb.connect(str(dest), read_only=True)
    try:
        assert held.execute("select n from marts.dim_thing where code = 'A'").fetchone() == (1,)
        # a temporary file left by an earlier, interrupted copy does not get in the way
        (dest.parent / ".warehouse.duckdb.tmp").write_bytes(b"half a database")
        publish_copy(_make_warehouse(tmp_path / "second.duckdb", value=2), dest)
        assert dest.stat().st_ino != old_inode  # a new file took the name (os.replace)
        assert _files(dest.parent) == ["warehouse.duckdb"]  # the .tmp became it: nothing else there
        # the held connection still reads the file it opened
        assert held.execute("select n from marts.dim_thing where code = 'A'").fetchone() == (1,)
        # a new connection from another process reads the new file
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "import duckdb, sys; print(duckdb.connect(sys.argv[1], read_only=True)"
                ".execute(\"select n from marts.dim_thing where code = 'A'\").fetchone()[0])",
                str(dest),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.stdout.strip() == "2", done.stderr
    finally:
        held.close()
    con = duckdb.connect(str(dest), read_only=True)
    try:
        assert con.execute("select n from marts.dim_thing where code = 'A'").fetchone() == (2,)
    finally:
        con.close()


class _FailingDuckDB:
    """Stands in for the duckdb module inside publish.published_copy: the second table copied fails, as a
    full disk would."""

    def __init__(self) -> None:
        self.creates = 0

    def connect(self, *args, **kwargs):
        return _FailingConnection(duckdb.connect(*args, **kwargs), self)


class _FailingConnection:
    def __init__(self, con, owner: _FailingDuckDB) -> None:
        self._con, self._owner = con, owner

    def execute(self, sql: str, *args):
        if sql.lstrip().lower().startswith("create table"):
            self._owner.creates += 1
            if self._owner.creates == 2:
                raise duckdb.IOException("No space left on device (simulated)")
        return self._con.execute(sql, *args)

    def close(self) -> None:
        self._con.close()


def test_a_failed_copy_leaves_the_published_copy_untouched(tmp_path, monkeypatch):
    dest = tmp_path / "publish" / "warehouse.duckdb"
    publish_copy(_make_warehouse(tmp_path / "first.duckdb", value=1), dest)
    before = dest.read_bytes()
    inode = dest.stat().st_ino
    failing = _FailingDuckDB()
    monkeypatch.setattr(published_copy, "duckdb", failing)
    with pytest.raises(duckdb.IOException, match="simulated"):
        publish_copy(_make_warehouse(tmp_path / "second.duckdb", value=2), dest)
    assert failing.creates == 2
    assert dest.stat().st_ino == inode and dest.read_bytes() == before
    monkeypatch.undo()
    assert read_here(dest, {"a": "select n from marts.dim_thing where code = 'A'"})["queries"]["a"]["rows"] == [[1]]


def test_a_failed_copy_leaves_no_temporary_file(tmp_path, monkeypatch):
    dest = tmp_path / "publish" / "warehouse.duckdb"
    publish_copy(_make_warehouse(tmp_path / "first.duckdb"), dest)
    monkeypatch.setattr(published_copy, "duckdb", _FailingDuckDB())
    with pytest.raises(duckdb.IOException):
        publish_copy(_make_warehouse(tmp_path / "second.duckdb"), dest)
    assert _files(dest.parent) == ["warehouse.duckdb"]


def test_the_copy_of_a_small_warehouse_opens_in_duckdb_1x(tmp_path, duckdb1_python):
    dest = tmp_path / "publish" / "warehouse.duckdb"
    publish_copy(_make_warehouse(tmp_path / "lan.duckdb"), dest)
    old = read_with(duckdb1_python, dest)
    assert old["version"] == DUCKDB1_PIN.split("==")[1] and "error" not in old
    new = read_here(dest)
    assert old["tables"] == new["tables"] and old["schemas"] == ["marts"]


# ----------------------------------------------------------------------------------------------------
# The published copy of a real build, read by DuckDB 1.x
# ----------------------------------------------------------------------------------------------------

FEW_VALUES = {
    "sites": "select site_code from marts.dim_site order by 1",
    "black_pph_baseline": """
        select rate_ratio, rate_ratio_lower_95, rate_ratio_upper_95, gap_assessment from marts.gap_metrics
        where geography_level = 'lan' and measure_code = 'PPH1500' and period_type = 'programme_phase'
          and period_label = 'baseline' and ethnic_group = 'Black or Black British'""",
    "status": "select status, count(*) from marts.fct_submission_status group by 1 order by 1",
    "uhl_2024_06": """
        select measure_code, completeness, meets_completeness_threshold from marts.fct_ethnicity_completeness
        where site_code = 'UHL' and month_start_date = date '2024-06-01' order by 1""",
    "numerators": "select measure_code, sum(numerator), sum(denominator) from marts.fct_measure_monthly group by 1 order by 1",
    "latest_point": """
        select site_code, measure_code, series_type, ethnic_group, value, centre_line, runs_signal, point_type
        from marts.run_chart_points where month_start_date = (select max(month_start_date) from marts.run_chart_points)
        order by all limit 20""",
}


@pytest.mark.e2e
def test_duckdb_1x_reads_the_published_copy_exactly_as_duckdb_2_does(built_home, duckdb1_python):
    path = built_home / "publish" / "warehouse.duckdb"
    old = read_with(duckdb1_python, path, FEW_VALUES)
    assert old["version"] == "1.4.4" and "error" not in old, old.get("error")
    new = read_here(path, FEW_VALUES)
    assert duckdb.__version__.startswith("2.")
    assert old["schemas"] == new["schemas"] == ["marts"]
    assert (
        set(old["tables"])
        == set(new["tables"])
        >= {"dim_site", "fct_measure_monthly", "gap_metrics", "run_chart_points", "fct_submission_status"}
    )
    for table in new["tables"]:
        assert old["tables"][table]["count"] == new["tables"][table]["count"], table
        assert old["tables"][table]["columns"] == new["tables"][table]["columns"], table
        assert old["tables"][table]["sha256"] == new["tables"][table]["sha256"], table  # every value
    assert old["queries"] == new["queries"]
    # and the values are the real ones, not two empty answers agreeing
    values = new["queries"]
    assert len(values["sites"]["rows"]) == 10
    [[ratio, lower, upper, assessment]] = values["black_pph_baseline"]["rows"]
    assert 1 < lower < ratio < upper and assessment == "worse"
    assert dict(map(tuple, values["status"]["rows"]))["flagged"] == 1
    assert len(values["uhl_2024_06"]["rows"]) == 7 and not any(r[2] for r in values["uhl_2024_06"]["rows"])
    assert new["tables"]["fct_measure_monthly"]["count"] == 10 * 24 * 7 * 18


@pytest.mark.e2e
def test_duckdb_1x_cannot_open_the_working_warehouse(built_home, duckdb1_python):
    """Why the published copy exists: the working warehouse is in DuckDB 2.0's storage format."""
    result = read_with(duckdb1_python, built_home / "warehouse" / "lan.duckdb")
    assert result["version"] == "1.4.4"
    assert "error" in result, "DuckDB 1.4 opened warehouse/lan.duckdb: the 1.x copy would not be needed"
    assert "version" in result["error"].lower() and "newer" in result["error"].lower(), result["error"]


# ----------------------------------------------------------------------------------------------------
# A reader holding the published copy during a whole pipeline run
# ----------------------------------------------------------------------------------------------------

RESUBMITTED = ("LTH", date(2024, 10, 1))
RESUBMISSION_NAME = "LTH_2024-10_v2.csv"
FACTS_SQL = f"""
    select
        (select file_name from marts.dim_submission
         where site_code = '{RESUBMITTED[0]}' and month_start_date = date '{RESUBMITTED[1]}' and is_current),
        (select cast(sum(numerator) as bigint) from marts.fct_measure_monthly
         where site_code = '{RESUBMITTED[0]}' and month_start_date = date '{RESUBMITTED[1]}'),
        (select count(*) from marts.dim_submission)"""


class _Reader(threading.Thread):
    """Queries the held connection again and again until told to stop (or MAX_READS), noting every answer,
    every error and which file the published name pointed at."""

    MAX_READS = 20_000
    PAUSE = 0.02

    def __init__(self, con, path: Path) -> None:
        super().__init__(daemon=True)
        self.con, self.path = con, path
        self.stop = threading.Event()
        self.answers: list[tuple] = []
        self.errors: list[str] = []
        self.inodes: list[int] = []

    def run(self) -> None:
        while not self.stop.is_set() and len(self.answers) + len(self.errors) < self.MAX_READS:
            try:
                self.inodes.append(self.path.stat().st_ino)
                self.answers.append(self.con.execute(FACTS_SQL).fetchone())
            except Exception as exc:  # noqa: BLE001 - every failure is the finding
                self.errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(self.PAUSE)


@pytest.mark.e2e
def test_a_reader_holding_the_published_copy_keeps_its_snapshot_through_a_run(built_home, tmp_path, duckdb1_python):
    home = tmp_path / "lan"
    shutil.copytree(built_home, home, symlinks=True)
    published = home / "publish" / "warehouse.duckdb"
    site, month = RESUBMITTED
    profile = [p for p in default_profiles() if p.site_code == site]
    [resubmission] = write_returns(
        tmp_path / "scratch", profiles=profile, start=month, end=month, seed=99, variants=False, set_mtime=False
    )
    shutil.move(resubmission, home / "landing" / RESUBMISSION_NAME)

    held = duckdb.connect(str(published), read_only=True)
    try:
        old = held.execute(FACTS_SQL).fetchone()
        assert old[0] != RESUBMISSION_NAME and old[2] == 240
        first_inode = published.stat().st_ino

        reader = _Reader(held, published)
        reader.start()
        started = time.monotonic()
        try:
            run_pipeline(home)  # fails the test, with the log, if the run fails
        finally:
            reader.stop.set()
            reader.join(timeout=120)
        seconds = time.monotonic() - started
        assert not reader.is_alive()

        # reads never failed and always saw the snapshot, before and after the copy was replaced
        assert reader.errors == []
        assert len(reader.answers) >= 20, (len(reader.answers), seconds)
        assert set(reader.answers) == {old}
        after_replace = sum(1 for inode in reader.inodes if inode != first_inode)
        assert after_replace >= 5, "no read happened after the published copy was replaced"
        assert published.stat().st_ino != first_inode
        assert held.execute(FACTS_SQL).fetchone() == old

        # a new connection from another process (a BI tool; here the DuckDB 1.4 of a BI driver) sees the new
        # build, while this process still holds the old one
        other = read_with(duckdb1_python, published, {"facts": FACTS_SQL}, tables=False)
        assert "error" not in other, other.get("error")
        [[file_name, numerators, submissions]] = other["queries"]["facts"]["rows"]
        assert file_name == RESUBMISSION_NAME and submissions == 241 and numerators != old[1]
        new = (file_name, numerators, submissions)

        # in this process, a new connection by path would share the held one's database (DuckDB caches one
        # instance per file and process), so it is attached from a fresh in-memory connection instead
        fresh = duckdb.connect()
        try:
            fresh.execute(f"attach '{published}' as published (read_only)")
            fresh.execute("use published")
            assert fresh.execute(FACTS_SQL).fetchone() == new
        finally:
            fresh.close()
    finally:
        held.close()

    # once every connection of this process is closed, a plain new connection sees the new build
    con = duckdb.connect(str(published), read_only=True)
    try:
        assert con.execute(FACTS_SQL).fetchone() == new
    finally:
        con.close()
    assert not [p.name for p in (home / "publish").iterdir() if p.name.startswith(".")]  # no .tmp left
    assert not any((home / "landing").iterdir())


# ----------------------------------------------------------------------------------------------------
# The partner's copy: the tables of one evaluation release
# ----------------------------------------------------------------------------------------------------


def _make_release(folder: Path, numerator: int | None = 10) -> Path:
    """A release folder as publish/release.py writes it: one table's Parquet file and the dictionary."""
    folder.mkdir(parents=True)
    con = duckdb.connect()
    con.execute(
        f"copy (select 'BARTS' as site_code, {numerator if numerator is not None else 'null'}::bigint as numerator, "
        f"100::bigint as denominator) to '{folder / 'fct_thing.parquet'}'"
    )
    con.close()
    (folder / "data_dictionary.csv").write_text(
        "table,column,type,meaning\nfct_thing,,table,Things by site.\nfct_thing,site_code,varchar,Site.\n"
        "fct_thing,numerator,bigint,Events (rounded; empty when from 1 to 7).\n"
        "fct_thing,denominator,bigint,Population (rounded).\n"
    )
    return folder


def test_partner_copy_holds_the_release_tables_with_their_meanings(tmp_path):
    release = _make_release(tmp_path / "evaluation" / "2026-11-22T10-30-00Z", numerator=None)
    dest = tmp_path / "publish" / "partner" / "warehouse.duckdb"
    counts = published_copy.publish_partner_copy(release, dest, ["fct_thing"])
    assert counts == {"marts.fct_thing": 1}
    assert published_copy.partner_copy_release(dest) == release.name
    con = duckdb.connect(str(dest), read_only=True)
    try:
        assert con.execute("select * from marts.fct_thing").fetchall() == [("BARTS", None, 100)]
        assert con.execute("select comment from duckdb_tables() where table_name = 'fct_thing'").fetchone() == (
            "Things by site.",
        )
        comments = dict(
            con.execute("select column_name, comment from duckdb_columns() where table_name = 'fct_thing'").fetchall()
        )
        assert comments["numerator"] == "Events (rounded; empty when from 1 to 7)."
    finally:
        con.close()
    assert _files(dest.parent) == ["RELEASE", "warehouse.duckdb"]


def test_partner_copy_is_replaced_atomically_under_a_reader(tmp_path):
    dest = tmp_path / "publish" / "partner" / "warehouse.duckdb"
    published_copy.publish_partner_copy(_make_release(tmp_path / "r1", 10), dest, ["fct_thing"])
    held = duckdb.connect(str(dest), read_only=True)
    try:
        published_copy.publish_partner_copy(_make_release(tmp_path / "r2", 20), dest, ["fct_thing"])
        assert held.execute("select numerator from marts.fct_thing").fetchone() == (10,)
    finally:
        held.close()
    assert read_here(dest)["tables"]["fct_thing"]["count"] == 1
    assert published_copy.partner_copy_release(dest) == "r2"


def test_the_partner_copy_opens_in_duckdb_1x(tmp_path, duckdb1_python):
    dest = tmp_path / "partner" / "warehouse.duckdb"
    published_copy.publish_partner_copy(_make_release(tmp_path / "r1"), dest, ["fct_thing"])
    old = read_with(duckdb1_python, dest)
    assert "error" not in old and old["tables"] == read_here(dest)["tables"]


@pytest.mark.e2e
def test_the_partner_copy_of_the_sample_build_is_the_latest_release(built_home):
    from publish.release import latest_release, read_manifest

    release = latest_release(built_home / "publish" / "evaluation")
    tables = read_manifest(release)["tables"]
    dest = built_home / "publish" / "partner" / "warehouse.duckdb"
    assert published_copy.partner_copy_release(dest) == release.name
    con = duckdb.connect(str(dest), read_only=True)
    try:
        present = {
            t for (t,) in con.execute("select table_name from duckdb_tables() where schema_name = 'marts'").fetchall()
        }
        assert present == set(tables)
        for table, info in tables.items():
            assert con.execute(f"select count(*) from marts.{table}").fetchone()[0] == info["rows"], table
        assert not con.execute(
            "select column_name from duckdb_columns() where column_name like '%\\_hidden' escape '\\'"
        ).fetchall()
        small = con.execute(
            "select count(*) from marts.fct_measure_monthly where numerator between 1 and 7 or numerator % 5 <> 0"
        ).fetchone()[0]
        hidden = con.execute("select count(*) from marts.fct_measure_monthly where numerator is null").fetchone()[0]
    finally:
        con.close()
    assert small == 0 and hidden > 0  # the sample holds small numerators: hidden, never shown
    unrounded = duckdb.connect(str(built_home / "publish" / "warehouse.duckdb"), read_only=True)
    try:
        assert (
            unrounded.execute(
                "select count(*) from marts.fct_measure_monthly where numerator between 1 and 7"
            ).fetchone()[0]
            > 0
        )
    finally:
        unrounded.close()
