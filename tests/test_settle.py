"""Uploads in progress are left alone: a file in landing/ is taken only once it has stopped changing for
LAN_SETTLE_SECONDS, so that a run never loads half a file (SFTP and network shares write in place)."""

from __future__ import annotations

import os
import time
from datetime import date

import duckdb
import pytest

from ingest.parse import parse_files
from ingest.reference import load_reference
from ingest.settings import Settings
from ingest.store import ingest_landing, settling_paths, waiting_paths
from tests.fixtures.bad_files import good_table, write_csv

SETTLE = 5.0


def _ingest(settings: Settings, run_id: str):
    reference = load_reference()
    return ingest_landing(
        settings,
        parse=lambda paths, contents: parse_files(paths, reference, date.today(), contents),
        check=None,
        run_id=run_id,
    )


def test_a_file_changed_within_the_settle_time_is_not_waiting(tmp_path):
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    old.write_text("a")
    new.write_text("b")
    now = time.time()
    os.utime(old, (now - 120, now - 120))
    assert [p.name for p, _ in waiting_paths(tmp_path, settle_seconds=60, now=now)] == ["old.csv"]
    assert [p.name for p in settling_paths(tmp_path, settle_seconds=60, now=now)] == ["new.csv"]
    assert sorted(p.name for p, _ in waiting_paths(tmp_path, settle_seconds=0, now=now + 1)) == ["new.csv", "old.csv"]


def test_the_settle_time_is_read_from_lan_settle_seconds(tmp_path, monkeypatch):
    (tmp_path / "x.csv").write_text("a")
    monkeypatch.setenv("LAN_SETTLE_SECONDS", "3600")
    assert Settings.from_env().settle_seconds == 3600
    assert list(waiting_paths(tmp_path)) == []
    monkeypatch.setenv("LAN_SETTLE_SECONDS", "0")
    assert len(list(waiting_paths(tmp_path, now=time.time() + 1))) == 1
    monkeypatch.delenv("LAN_SETTLE_SECONDS")
    assert Settings.from_env().settle_seconds == 60


def test_a_file_written_in_two_parts_around_a_run_is_taken_whole_after_it_settles(tmp_path, monkeypatch):
    monkeypatch.setenv("LAN_SETTLE_SECONDS", str(SETTLE))
    settings = Settings.from_env({"LAN_HOME": str(tmp_path), "LAN_SETTLE_SECONDS": str(SETTLE)})
    settings.make_folders()
    whole = write_csv(tmp_path / "whole.csv", good_table(load_reference())).read_bytes()
    half = whole.rfind(b"\r\n", 0, len(whole) // 2) + 2  # a cut at a line end: the first half parses on its own
    upload = settings.landing / "BSOL_2024-01.csv"
    upload.write_bytes(whole[:half])  # an SFTP upload, half way

    first = _ingest(settings, "run-1")  # a run while the upload is in progress
    assert first.files_seen == 0
    assert upload.exists()

    with upload.open("ab") as f:  # the upload ends
        f.write(whole[half:])
    assert list(waiting_paths(settings.landing)) == []  # just changed: still settling
    time.sleep(SETTLE + 0.2)

    second = _ingest(settings, "run-2")
    assert len(second.accepted) == 1 and not second.quarantined
    assert not upload.exists()
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        (size,) = con.execute("select size_bytes from raw.files").fetchone()
        (rows,) = con.execute("select count(*) from raw.return_rows").fetchone()
    finally:
        con.close()
    assert size == len(whole)
    assert rows == len(good_table(load_reference())) - 1  # every data row, none from a half file


def test_the_landing_sensor_waits_for_a_file_still_being_written(tmp_path):
    import dagster as dg

    from tests.test_definitions import load_definitions

    with pytest.MonkeyPatch.context() as patch, dg.DagsterInstance.ephemeral() as instance:
        defs = load_definitions(tmp_path / "home", patch)
        sensor = defs.resolve_sensor_def("landing_sensor")
        (tmp_path / "home" / "landing" / "BSOL_2024-01.csv").write_text("site_code,month\n")

        def tick():
            return sensor(dg.build_sensor_context(instance=instance, sensor_name="landing_sensor", definitions=defs))

        patch.setenv("LAN_SETTLE_SECONDS", "60")
        skipped = tick()
        assert isinstance(skipped, dg.SkipReason)
        assert "still being written" in skipped.skip_message
        patch.setenv("LAN_SETTLE_SECONDS", "0")
        time.sleep(0.01)
        assert isinstance(tick(), dg.RunRequest)
