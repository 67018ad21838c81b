"""Keeping the monthly reports (ingest.report): their raw tables, and the quarantine of a refused report sheet.

A report file is kept like any file (ingest.store.keep_file: raw/ when its report is accepted, quarantine/
when refused). A monthly workbook is kept by its numbers' outcome; when its `report` sheet is refused, the
workbook is also copied to quarantine/ beside `<stored name>.report.reason.txt|json`, and when that sheet
holds personal data the workbook is kept ONLY in quarantine/ (its numbers still load).

Each site-month in an accepted report is a report submission,
`<SITE>_<YYYY-MM>_<first 12 hex digits of the file's sha256>` (the same id as the return's submission
when the report is a sheet of the monthly workbook); the newest replaces earlier ones (dbt: fct_site_report).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from ingest import store
from ingest.parsed import ParsedFile
from ingest.report import ParsedReport
from ingest.settings import Settings

REPORT_DDL = """
create schema if not exists raw;
create table if not exists raw.report_files (
    checksum varchar primary key,      -- the file's sha256 (a workbook holds at most one report sheet)
    file_name varchar not null,
    sheet varchar,                     -- 'report' for a monthly workbook's report sheet; null for a report file
    outcome varchar not null,          -- accepted | quarantined (the report's own outcome)
    stored_path varchar not null,      -- where the file is kept, relative to LAN_HOME
    site_code varchar,                 -- best effort, null when it holds personal data
    months date[],
    row_count bigint not null,         -- changes loaded
    problems_json varchar,             -- the report's problems (never a personal value)
    problems_text varchar,
    received_at timestamp not null,
    ingested_at timestamp not null,
    run_id varchar not null
);
create table if not exists raw.report_rows (
    submission_id varchar not null,
    checksum varchar not null,
    file_name varchar not null,
    source_row bigint not null,
    site_code varchar not null,
    month_start_date date not null,
    measure_code varchar,              -- null: the site's work as a whole
    change_idea varchar not null,
    pdsa_stage varchar not null,       -- lower case
    narrative varchar,
    received_at timestamp not null,
    ingested_at timestamp not null
);
"""


def report_reason_text(report: ParsedReport, item: store.LandingFile) -> str:
    lines = [
        f"File: {report.source}",
        f"Received: {item.received_at:%Y-%m-%d %H:%M:%S} UTC",
        f"sha256: {item.checksum}",
        "",
        "The monthly report in this file was not loaded (any numbers sent beside it are judged on their own).",
        "Please correct the problems below and send the report again.",
        "",
        f"Problems ({len(report.errors)}):",
    ]
    lines += [f"  - {p}" for p in report.errors]
    return "\n".join(lines) + "\n"


def quarantine_report_sheet(settings: Settings, report: ParsedReport, item: store.LandingFile) -> Path:
    """Copy a workbook whose report sheet was refused to quarantine/, beside the report's reasons."""
    dest = settings.quarantine / store.stored_name(item)
    store.keep_atomically(item, dest)
    store.write_text_atomically(dest.with_name(dest.name + ".report.reason.txt"), report_reason_text(report, item))
    reason = {
        "file_name": item.path.name,
        "sheet": report.sheet,
        "sha256": item.checksum,
        "received_at": item.received_at.isoformat() + "Z",
        "problems": [p.to_dict() for p in report.problems],
    }
    store.write_text_atomically(dest.with_name(dest.name + ".report.reason.json"), json.dumps(reason, indent=2) + "\n")
    return dest.relative_to(settings.lan_home)


def report_frames(
    settings: Settings,
    parsed_files: Sequence[ParsedFile],
    items: Sequence[store.LandingFile],
    file_records: Sequence[dict],
    now: datetime,
    run_id: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(raw.report_files rows, raw.report_rows rows) for the reports among a batch of new files."""
    files, rows = [], []
    for parsed, item, record in zip(parsed_files, items, file_records, strict=True):
        report = parsed.report
        if report is None:
            continue
        stored = record["stored_path"]
        if report.sheet is not None and not report.accepted:
            stored = str((settings.quarantine / store.stored_name(item)).relative_to(settings.lan_home))
        files.append(
            {
                "checksum": item.checksum,
                "file_name": item.path.name,
                "sheet": report.sheet,
                "outcome": "accepted" if report.accepted else "quarantined",
                "stored_path": stored,
                "site_code": report.site_code,
                "months": list(report.months),
                "row_count": len(report.rows),
                "problems_json": json.dumps([p.to_dict() for p in report.problems]),
                "problems_text": "\n".join(str(p) for p in report.errors) or None,
                "received_at": item.received_at,
                "ingested_at": now,
                "run_id": run_id,
            }
        )
        for row in report.rows:
            rows.append(
                {
                    "submission_id": store.submission_id(row["site_code"], row["month_start_date"], item.checksum),
                    "checksum": item.checksum,
                    "file_name": item.path.name,
                    **row,
                    "received_at": item.received_at,
                    "ingested_at": now,
                }
            )
    return pd.DataFrame(files), pd.DataFrame(rows)


def insert_reports(con: duckdb.DuckDBPyConnection, files: pd.DataFrame, rows: pd.DataFrame) -> None:
    """Insert a batch's reports (inside the caller's transaction)."""
    if not files.empty:
        con.register("new_report_files", files)
        con.execute("insert into raw.report_files by name select * from new_report_files")
    if not rows.empty:
        con.register("new_report_rows", rows)
        con.execute("""
            insert into raw.report_rows by name
            select * replace (month_start_date::date as month_start_date) from new_report_rows""")
