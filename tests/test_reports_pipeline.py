"""Monthly reports and due dates through the real pipeline (`python -m orchestration.run`): the sample's reports
in fct_site_report, nothing overdue in a sample LAN_HOME, and a small LAN_HOME run on an injected date with a
report holding a telephone number that must appear nowhere but in quarantine."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import duckdb
import pytest

from ingest.reference import load_reference
from tests.conftest import run_pipeline
from tests.fixtures.bad_files import good_table, write_csv
from tests.test_pipeline_end_to_end import latest_check_evaluations

pytestmark = pytest.mark.e2e
SECRET = "020 7946 0958"


def test_the_sample_reports_are_published(published):
    assert published(
        "select count(distinct site_code), count(distinct (site_code, month_start_date)), min(month_start_date), "
        "max(month_start_date) from marts.fct_site_report"
    ) == [(10, 120, date(2024, 1, 1), date(2024, 12, 1))]
    assert published("select count(*) from marts.fct_site_report where measure_code is null") != [(0,)]
    assert published(
        "select count(*) from marts.fct_submission_status where report_received <> (year(month_start_date) = 2024)"
    ) == [(0,)]


def test_a_sample_home_shows_no_month_after_the_sample_and_nothing_overdue(built_home, published):
    assert "LAN_RUN_DATE=2025-01-15" in (built_home / "SAMPLE_DATA").read_text()
    assert published(
        "select max(month_start_date), count(*) filter (where is_overdue), min(due_date) "
        "from marts.fct_submission_status"
    ) == [(date(2024, 12, 1), 0, date(2023, 2, 15))]
    evaluated = latest_check_evaluations(built_home, 1)
    assert evaluated["no_overdue_returns"].passed is True
    assert evaluated["every_site_month_with_numbers_has_a_report"].passed is True


@pytest.fixture(scope="module")
def small_home(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("reports") / "lan"
    landing = home / "landing"
    landing.mkdir(parents=True)
    ref = load_reference()
    write_csv(landing / "BARTS_2024-05.csv", good_table(ref, site="BARTS", month=date(2024, 5, 1)))
    header = ["site_code", "period", "measure_code", "change_idea", "pdsa_stage", "narrative"]
    with (landing / "BARTS_2024-05_report.csv").open("w", newline="") as f:
        csv.writer(f).writerows([header, ["BARTS", "2024-05", "", "Huddles", "Plan", "Weekly huddles on ward 7."]])
    with (landing / "BSOL_2024-05_report.csv").open("w", newline="") as f:
        csv.writer(f).writerows([header, ["BSOL", "2024-05", "PPH1500", "Swabs", "do", f"Family rang {SECRET}."]])
    done = run_pipeline(home, LAN_RUN_DATE="2024-07-16", LAN_REPORTING_START="2024-04")
    return {"home": home, "log": done.stdout + done.stderr}


def test_overdue_site_months_on_an_injected_run_date(small_home):
    home = small_home["home"]
    con = duckdb.connect(str(home / "publish" / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "select site_code, strftime(month_start_date, '%Y-%m'), status, due_date, is_overdue, report_received "
            "from marts.fct_submission_status where site_code in ('BARTS', 'BSOL') order by 1, 2"
        ).fetchall()
        months = con.execute("select distinct strftime(month_start_date, '%Y-%m') from marts.dim_month").fetchall()
    finally:
        con.close()
    # on 16 July 2024 June's return (due 15 July) is overdue; July's is not due yet, so the table ends in June
    assert sorted(m for (m,) in months) == ["2024-04", "2024-05", "2024-06"]
    assert rows == [
        ("BARTS", "2024-04", "missing", date(2024, 5, 15), True, False),
        ("BARTS", "2024-05", "loaded", date(2024, 6, 15), False, True),
        ("BARTS", "2024-06", "missing", date(2024, 7, 15), True, False),
        ("BSOL", "2024-04", "missing", date(2024, 5, 15), True, False),
        ("BSOL", "2024-05", "missing", date(2024, 6, 15), True, False),  # its refused report refuses no return
        ("BSOL", "2024-06", "missing", date(2024, 7, 15), True, False),
    ]
    evaluation = latest_check_evaluations(home, 1)["no_overdue_returns"]
    assert evaluation.passed is False
    assert evaluation.metadata["overdue_site_months"].value == 10 * 3 - 1
    assert "| BSOL | 2024-05 | missing | 2024-06-15 |" in evaluation.metadata["overdue"].value


def test_the_ingest_asset_shows_the_reports_as_a_markdown_table(small_home):
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(small_home["home"] / "dagster"))) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["raw", "files"]))
    metadata = event.asset_materialization.metadata
    assert (metadata["reports_accepted"].value, metadata["reports_refused"].value) == (1, 1)
    table = metadata["reports"].value
    assert table.startswith("| report |") and "BSOL_2024-05_report.csv" in table and "personal_data" in table


def test_a_personal_value_is_nowhere_but_in_the_quarantined_file(small_home):
    home: Path = small_home["home"]
    assert SECRET not in small_home["log"]
    [original] = [p for p in (home / "quarantine").glob("*__BSOL_2024-05_report.csv")]
    assert SECRET in original.read_text()  # kept, unchanged, in quarantine only
    assert not list((home / "raw").rglob("*BSOL_2024-05_report.csv"))
    for path in home.rglob("*"):
        if path.is_file() and path != original:
            assert SECRET.encode() not in path.read_bytes(), path
    con = duckdb.connect(str(home / "warehouse" / "lan.duckdb"), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, table in tables:
            assert SECRET not in str(con.execute(f'select * from "{schema}"."{table}"').fetchall()), table
    finally:
        con.close()
    # the Dagster event log (run log, metadata, check results)
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home / "dagster"))) as instance:
        [run] = instance.get_runs()
        logs = instance.all_logs(run.run_id)
    assert logs and not any(SECRET in str(entry) for entry in logs)
    assert any("BSOL_2024-05_report.csv" in str(entry) for entry in logs)


def test_the_report_check_lists_site_months_with_numbers_but_no_report(built_home, tmp_path):
    import shutil

    from dagster_duckdb import DuckDBResource

    from orchestration.assets.status_checks import every_site_month_with_numbers_has_a_report
    from orchestration.resources import LanHome

    home = tmp_path / "lan"
    shutil.copytree(built_home, home, symlinks=True)
    resources = {
        "lan": LanHome(lan_home=str(home)),
        "warehouse": DuckDBResource(database=str(home / "warehouse" / "lan.duckdb")),
    }
    assert every_site_month_with_numbers_has_a_report(**resources).passed
    con = duckdb.connect(str(home / "warehouse" / "lan.duckdb"))
    con.execute(
        "update marts.fct_submission_status set report_received = false "
        "where site_code = 'UHL' and month_start_date in ('2024-03-01', '2023-03-01')"
    )
    con.close()
    result = every_site_month_with_numbers_has_a_report(**resources)
    assert not result.passed and result.severity.value == "WARN"
    assert result.metadata["site_months_without_report"].value == 1  # 2023 is before the programme start
    assert "| UHL | 2024-03 | loaded |" in result.metadata["without_report"].value


def test_markdown_table():
    import pandas as pd

    from orchestration.markdown import markdown_table

    frame = pd.DataFrame({"site_code": ["A", "B|C"], "month": ["2024-01", "2024-02"]})
    assert markdown_table(frame) == "| site_code | month |\n|---|---|\n| A | 2024-01 |\n| B\\|C | 2024-02 |"
    assert markdown_table(frame, limit=1).endswith("…and 1 more.")
    assert markdown_table(frame.iloc[0:0]) == "none"
