"""ingest/store.py on its own: every landing file kept once, rows loaded once, repeats recorded, reasons written."""

from __future__ import annotations

import json
import os
from datetime import date, datetime

import duckdb
import pytest

from ingest.parse import parse_files
from ingest.reference import load_reference
from ingest.settings import Settings
from ingest.store import ingest_landing, submission_id
from tests.fixtures.bad_files import good_table, write_csv

REF = load_reference()
NOW = datetime(2025, 2, 1, 12, 0, 0)


@pytest.fixture()
def settings(tmp_path):
    s = Settings(lan_home=tmp_path / "lan")
    s.make_folders()
    return s


def drop(settings, name, site="BARTS", month=date(2024, 5, 1), mtime=1_700_000_000, bump=0):
    rows = good_table(REF, site=site, month=month)
    if bump:
        rows[1][4] = str(int(rows[1][4]) + bump)
    path = write_csv(settings.landing / name, rows)
    os.utime(path, (mtime, mtime))
    return path


def ingest(settings, run_id="run-1"):
    return ingest_landing(
        settings,
        parse=lambda paths, contents: parse_files(paths, REF, date(2025, 1, 15), contents),
        check=None,
        run_id=run_id,
        now=NOW,
    )


def query(settings, sql):
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_accepted_files_are_kept_with_checksum_and_loaded_once(settings):
    drop(settings, "BARTS_2024-05.csv")
    drop(settings, "BSOL_2024-05.csv", site="BSOL")
    report = ingest(settings)
    assert len(report.accepted) == 2 and not report.quarantined and report.rows_loaded == 2 * 7 * 18
    assert not any(settings.landing.iterdir())
    kept = sorted(p.name for p in settings.raw.rglob("*.csv"))
    assert len(kept) == 2 and all("__" in name for name in kept)
    assert query(settings, "select count(*), count(distinct submission_id) from raw.return_rows") == [(252, 2)]
    assert query(settings, "select outcome, count(*) from raw.files group by 1") == [("accepted", 2)]


def test_the_same_bytes_again_change_nothing_but_are_recorded(settings):
    path = drop(settings, "BARTS_2024-05.csv")
    content = path.read_bytes()
    ingest(settings)
    (settings.landing / "BARTS_2024-05_copy.csv").write_bytes(content)
    report = ingest(settings, run_id="run-2")
    assert report.repeats == ["BARTS_2024-05_copy.csv"] and not report.accepted
    assert query(settings, "select count(*) from raw.return_rows") == [(126,)]
    assert query(settings, "select file_name, is_repeat from raw.file_arrivals order by is_repeat") == [
        ("BARTS_2024-05.csv", False),
        ("BARTS_2024-05_copy.csv", True),
    ]


def test_two_versions_in_one_batch_are_two_submissions_newest_by_arrival(settings):
    drop(settings, "BARTS_2024-05.csv", mtime=1_700_000_000)
    drop(settings, "BARTS_2024-05_v2.csv", mtime=1_700_000_100, bump=3)
    report = ingest(settings)
    assert len(report.submission_ids) == 2
    arrivals = query(settings, "select file_name from raw.submissions order by received_at")
    assert arrivals == [("BARTS_2024-05.csv",), ("BARTS_2024-05_v2.csv",)]


def test_a_refused_file_is_quarantined_unchanged_beside_its_reasons(settings):
    rows = good_table(REF)
    rows[3][0] = "XYZ"  # a second, unknown site in the file
    path = write_csv(settings.landing / "BARTS_2024-05.csv", rows)
    content = path.read_bytes()
    report = ingest(settings)
    assert len(report.quarantined) == 1 and report.rows_loaded == 0
    [kept] = [p for p in settings.quarantine.iterdir() if p.suffix == ".csv"]
    assert kept.read_bytes() == content
    reason = json.loads(kept.with_name(kept.name + ".reason.json").read_text())
    assert {p["rule"] for p in reason["problems"]} == {"several_sites"}
    text = kept.with_name(kept.name + ".reason.txt").read_text()
    assert "row 4" in text and "'XYZ'" in text
    assert query(settings, "select outcome, site_code, months from raw.files") == [
        ("quarantined", "BARTS", [date(2024, 5, 1)])
    ]


def test_submission_ids_name_site_month_and_file():
    assert submission_id("BARTS", date(2024, 5, 1), "ab" * 32) == "BARTS_2024-05_abababababab"


def test_each_landing_file_is_read_once_and_kept_as_read(settings, monkeypatch):
    """Hash, parse and the stored copy all come from one read of the file's bytes."""
    import builtins
    import io
    from pathlib import Path

    path = drop(settings, "BARTS_2024-05.csv")
    original = path.read_bytes()
    opened: list[str] = []
    real_io_open, real_open = io.open, builtins.open  # Path.open goes through io.open

    def counted(real):
        def wrapper(file, *args, **kwargs):
            if str(file).startswith(str(settings.landing)):
                opened.append(Path(file).name)
            return real(file, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(io, "open", counted(real_io_open))
    monkeypatch.setattr(builtins, "open", counted(real_open))
    report = ingest(settings)
    monkeypatch.undo()
    assert len(report.accepted) == 1 and opened == ["BARTS_2024-05.csv"]
    [kept] = settings.raw.rglob("*.csv")
    assert kept.read_bytes() == original and kept.stat().st_mtime == 1_700_000_000


def test_files_go_in_batches_each_loaded_before_it_leaves_landing(settings):
    """Five new files and a repeat in batches of two: three transactions; a batch that fails leaves the batches
    before it loaded and out of landing/, and itself and the rest in landing/ for the next run."""
    for i, site in enumerate(["BARTS", "BSOL", "UHL", "NUH", "LTH"]):
        drop(settings, f"{site}_2024-05.csv", site=site, mtime=1_700_000_000 + i)
    ingest(settings)  # BARTS..LTH loaded; now the same BARTS bytes again, and three new months
    drop(settings, "BARTS_2024-05.csv", mtime=1_700_000_010)
    for i, site in enumerate(["BARTS", "BSOL", "UHL"]):
        drop(settings, f"{site}_2024-06.csv", site=site, month=date(2024, 6, 1), mtime=1_700_000_011 + i)
    seen = []

    def parse(paths, contents):
        seen.append([p.name for p in paths])
        if "UHL_2024-06.csv" in seen[-1]:
            raise RuntimeError("stopped in the second batch")
        return parse_files(paths, REF, date(2025, 1, 15), contents)

    with pytest.raises(RuntimeError):
        ingest_landing(settings, parse=parse, check=None, run_id="run-2", now=NOW, batch_files=2)
    assert seen == [["BARTS_2024-06.csv", "BSOL_2024-06.csv"], ["UHL_2024-06.csv"]]
    assert sorted(p.name for p in settings.landing.iterdir()) == ["UHL_2024-06.csv"]  # the repeat went with batch 1
    assert query(settings, "select count(*) from raw.files where run_id = 'run-2'") == [(2,)]
    assert query(
        settings, "select is_repeat, count(*) from raw.file_arrivals where run_id = 'run-2' group by 1 order by 1"
    ) == [
        (False, 2),
        (True, 1),
    ]
    report = ingest_landing(
        settings,
        parse=lambda paths, contents: parse_files(paths, REF, date(2025, 1, 15), contents),
        check=None,
        run_id="run-3",
        now=NOW,
        batch_files=2,
    )
    assert [p.file_name for p in report.accepted] == ["UHL_2024-06.csv"] and report.rows_loaded == 7 * 18
    assert all(p.rows.empty for p in report.accepted)  # loaded rows are not kept in memory
    assert query(settings, "select count(distinct submission_id) from raw.return_rows") == [(8,)]
