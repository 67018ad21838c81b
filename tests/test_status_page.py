"""The status page: a site x month grid from marts.fct_submission_status, one offline HTML file redrawn only when
its data change, and the same grid as markdown in the Dagster asset's metadata."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from publish.status_page import read_status, status_markdown, write_status_page

ROWS = [
    # site, month, status, problems, due_date, is_overdue, report_received
    ("BSOL", "2024-01-01", "loaded", None, "2024-02-15", False, True),
    ("BSOL", "2024-02-01", "flagged", "PPH01 completeness 71.2% < 90%", "2024-03-15", False, False),
    (
        "ELFT",
        "2024-01-01",
        "quarantined",
        "row 7, column month: '2024-13' is not a month <b>",
        "2024-02-15",
        True,
        False,
    ),
    ("ELFT", "2024-02-01", "missing", None, "2024-03-15", True, False),
]


def status_warehouse(path: Path, rows=ROWS) -> Path:
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists marts")
    con.execute("""create or replace table marts.fct_submission_status (
        site_code varchar, month_start_date date, status varchar, submission_id varchar, file_name varchar,
        received_at timestamp, problems varchar, due_date date, is_overdue boolean, report_received boolean)""")
    con.executemany(
        "insert into marts.fct_submission_status (site_code, month_start_date, status, problems, due_date, "
        "is_overdue, report_received) values (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    con.close()
    return path


@pytest.fixture()
def status(tmp_path):
    con = duckdb.connect(str(status_warehouse(tmp_path / "lan.duckdb")), read_only=True)
    try:
        return read_status(con)
    finally:
        con.close()


def test_the_page_is_one_offline_file_with_every_site_month_and_the_reasons_a_click_away(status, tmp_path):
    page = write_status_page(status, tmp_path / "status")
    html = page.path.read_text(encoding="utf-8")
    assert page.path == tmp_path / "status" / "index.html" and page.redrawn
    assert not re.search(r"<script|<link|src=|https?://", html)  # nothing fetched: works offline
    assert html.count('<tr><th class="site">') == 3  # the header and two sites
    assert "<th>2024<br>01</th>" in html and "<th>2024<br>02</th>" in html
    assert '<td class="loaded" title="BSOL 2024-01: loaded, report received (due 2024-02-15)">✓▣</td>' in html
    cells = re.findall(r'<td class="([a-z ]+)"', html)
    assert cells == ["loaded", "flagged", "quarantined overdue", "missing overdue"]
    # the reasons, escaped, a click away
    assert (
        '<details><summary>✗⌛</summary><div class="why">row 7, column month: &#x27;2024-13&#x27; is not a month &lt;b&gt;'
        in html
    )
    assert "PPH01 completeness 71.2% &lt; 90%" in html
    assert "2 overdue" in html and "1 report received" in html


def test_the_page_is_redrawn_only_when_its_data_change(status, tmp_path):
    dest = tmp_path / "status"
    first = write_status_page(status, dest, now=datetime(2025, 1, 1, tzinfo=UTC))
    before = first.path.stat().st_mtime_ns
    again = write_status_page(status.sample(frac=1, random_state=1), dest, now=datetime(2025, 2, 1, tzinfo=UTC))
    assert not again.redrawn and again.data_hash == first.data_hash
    assert first.path.stat().st_mtime_ns == before
    changed = status.copy()
    changed.loc[changed["status"] == "missing", "is_overdue"] = False
    third = write_status_page(changed, dest, now=datetime(2025, 3, 1, tzinfo=UTC))
    assert third.redrawn and third.data_hash != first.data_hash
    assert "drawn 2025-03-01" in third.path.read_text(encoding="utf-8")


def test_the_grid_as_markdown(status):
    md = status_markdown(status).splitlines()
    assert md[0] == "| site | 2024-01 | 2024-02 |"
    assert md[1] == "|---|---|---|"
    assert md[2] == "| BSOL | ✓▣ | ⚑ |"
    assert md[3] == "| ELFT | ✗⌛ | ·⌛ |"
    assert "⌛ overdue" in md[-1]


def test_a_warehouse_without_due_dates_yet_shows_nothing_overdue(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_submission_status as "
        "select 'BSOL' as site_code, date '2024-01-01' as month_start_date, 'missing' as status, null as problems"
    )
    frame = read_status(con)
    con.close()
    assert frame[["status", "is_overdue", "report_received", "due_date"]].values.tolist() == [
        ["missing", False, False, ""]
    ]
    assert 'title="BSOL 2024-01: missing">' in write_status_page(frame, tmp_path / "s").path.read_text()


def test_the_dagster_asset_writes_the_page_and_shows_the_grid(tmp_path, monkeypatch):
    from orchestration.assets.status import submission_status_page
    from orchestration.resources import LanHome

    warehouse = status_warehouse(tmp_path / "lan.duckdb")
    resources = {"lan": LanHome(lan_home=str(tmp_path / "home")), "warehouse": DuckDBResource(database=str(warehouse))}
    with dg.instance_for_test() as instance:
        first = dg.materialize([submission_status_page], resources=resources, instance=instance)
        second = dg.materialize([submission_status_page], resources=resources, instance=instance)
    (event,) = first.asset_materializations_for_node("submission_status_page")
    metadata = event.metadata
    assert (tmp_path / "home" / "publish" / "status" / "index.html").exists()
    assert metadata["grid"].value.splitlines()[2] == "| BSOL | ✓▣ | ⚑ |"
    assert metadata["redrawn"].value is True
    assert metadata["overdue"].value == 2 and metadata["quarantined"].value == 1
    (again,) = second.asset_materializations_for_node("submission_status_page")
    assert again.metadata["redrawn"].value is False
