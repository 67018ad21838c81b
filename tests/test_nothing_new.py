"""orchestration/nothing_new.py: when a `make run` has nothing to do (the end-to-end case is in
tests/test_release_assets.py: a second run with nothing new starts no run)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from ingest.settings import Settings
from orchestration.nothing_new import (
    FINGERPRINT_TAG,
    RUN_DATE_TAG,
    due_date_between,
    files_waiting,
    fingerprint,
    why_nothing_to_do,
)


@pytest.mark.parametrize(
    ("after", "until", "due"),
    [
        (date(2025, 1, 15), date(2025, 1, 15), None),  # the same day: the due date was already past
        (date(2025, 1, 14), date(2025, 1, 15), date(2025, 1, 15)),
        (date(2025, 1, 16), date(2025, 2, 14), None),
        (date(2025, 1, 16), date(2025, 2, 15), date(2025, 2, 15)),
        (date(2024, 12, 20), date(2025, 3, 1), date(2025, 1, 15)),  # over a year's end, the first one
    ],
)
def test_due_date_between(after, until, due):
    assert due_date_between(after, until, 15) == due


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    base = Settings.from_env({"LAN_HOME": str(tmp_path / "home"), "LAN_RUN_DATE": "2025-01-20"})
    base.make_folders()
    return base


def test_nothing_to_do_only_when_nothing_changed(settings):
    current = fingerprint(settings)
    last = {FINGERPRINT_TAG: current, RUN_DATE_TAG: "2025-01-16"}
    assert "Nothing new since the last run (on 2025-01-16)" in why_nothing_to_do(settings, last, current)
    assert why_nothing_to_do(settings, None, current) is None  # no earlier run, or it failed
    assert why_nothing_to_do(settings, {**last, FINGERPRINT_TAG: "other"}, current) is None  # code or settings
    assert why_nothing_to_do(settings, {**last, RUN_DATE_TAG: "2025-01-14"}, current) is None  # 15 Jan fell due
    (settings.landing / ".partial.csv").write_text("x")  # hidden: an upload in progress elsewhere
    assert why_nothing_to_do(settings, last, current) is not None
    (settings.landing / "BARTS_2025-01.csv").write_text("x")
    assert files_waiting(settings.landing) == ["BARTS_2025-01.csv"]
    assert why_nothing_to_do(settings, last, current) is None


def test_the_fingerprint_follows_the_settings_and_the_code_not_the_run_date(settings, tmp_path):
    assert fingerprint(settings) == fingerprint(replace(settings, run_date=date(2030, 1, 1)))
    assert fingerprint(settings) != fingerprint(replace(settings, completeness_threshold=0.8))
    code = tmp_path / "code"
    (code / "ingest").mkdir(parents=True)
    (code / "ingest" / "parse.py").write_text("a = 1\n")
    (code / "dbt_project" / "target").mkdir(parents=True)
    (code / "dbt_project" / "target" / "manifest.json").write_text("{}")
    before = fingerprint(settings, code)
    (code / "dbt_project" / "target" / "manifest.json").write_text('{"changed": true}')  # build output: ignored
    assert fingerprint(settings, code) == before
    (code / "ingest" / "parse.py").write_text("a = 2\n")
    assert fingerprint(settings, code) != before
