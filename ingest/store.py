"""Take the files in landing/ into the warehouse: keep every file, load the accepted ones.

Order of work, chosen so that a run killed at any point and run again loses nothing and
duplicates nothing (every step is keyed by the file's sha256):

1. read each landing file once: hash those bytes, parse them, and write the stored copy from them
   (so the copy kept is exactly what was hashed and parsed, even if landing/ changes meanwhile);
2. write it, unchanged, to `raw/` (accepted) or `quarantine/` (refused, beside a reason
   file in text and JSON) -- written to a temporary name, then renamed;
3. record files, arrivals, submissions and rows in one DuckDB transaction (per batch of files);
4. only then delete it from `landing/`.

A file whose checksum the warehouse already holds is a repeat: its arrival is recorded
and it leaves landing/ without changing anything else.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ingest import report_store
from ingest.parsed import ParsedFile
from ingest.problems import Problem
from ingest.settings import Settings

RAW_DDL = """
create schema if not exists raw;
create table if not exists raw.files (
    checksum varchar primary key,
    file_name varchar not null,
    outcome varchar not null,          -- accepted | quarantined
    stored_path varchar not null,      -- relative to LAN_HOME
    size_bytes bigint not null,
    site_code varchar,                 -- best effort, also for refused files
    months date[],                     -- best effort, also for refused files
    problems_json varchar,             -- every problem, errors and warnings, as JSON
    problems_text varchar,             -- the errors, one per line, plain language
    warnings_text varchar,             -- the warnings, plain language
    received_at timestamp not null,    -- when it arrived in landing/ (its mtime, UTC)
    ingested_at timestamp not null,
    run_id varchar not null
);
create table if not exists raw.file_arrivals (
    checksum varchar not null,
    file_name varchar not null,
    received_at timestamp not null,
    ingested_at timestamp not null,
    is_repeat boolean not null,
    run_id varchar not null,
    primary key (checksum, file_name, received_at)
);
create table if not exists raw.submissions (
    submission_id varchar primary key,
    checksum varchar not null,
    site_code varchar not null,
    month_start_date date not null,
    file_name varchar not null,
    received_at timestamp not null,
    ingested_at timestamp not null,
    row_count bigint not null
);
create table if not exists raw.return_rows (
    submission_id varchar not null,
    source_row bigint not null,
    site_code varchar not null,
    month_start_date date not null,
    measure_code varchar not null,
    ethnic_code varchar not null,
    numerator bigint,
    denominator bigint,
    extra_columns varchar
);
"""

IGNORED_PREFIXES = (".", "~$")  # hidden files, editors' lock files, partial copies


@dataclass(frozen=True)
class LandingFile:
    path: Path
    checksum: str
    size_bytes: int
    received_at: datetime
    data: bytes = field(default=b"", repr=False, compare=False)  # the bytes hashed, parsed and kept


@dataclass
class IngestReport:
    """What one pass over landing/ did."""

    run_id: str
    accepted: list[ParsedFile] = field(default_factory=list)
    quarantined: list[ParsedFile] = field(default_factory=list)
    repeats: list[str] = field(default_factory=list)
    submission_ids: list[str] = field(default_factory=list)
    rows_loaded: int = 0
    reports: list = field(default_factory=list)  # every new monthly report (ingest.report.ParsedReport)

    @property
    def files_seen(self) -> int:
        return len(self.accepted) + len(self.quarantined) + len(self.repeats)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def submission_id(site_code: str, month: date, checksum: str) -> str:
    return f"{site_code}_{month:%Y-%m}_{checksum[:12]}"


def _landing_entries(landing: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Every file in landing/ with its stat (hidden and lock files skipped; a file taken by a run
    finishing meanwhile is skipped too)."""
    for path in landing.iterdir() if landing.is_dir() else []:
        if path.name.startswith(IGNORED_PREFIXES):
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        if path.is_file():
            yield path, stat


def _young(settle_seconds: float | None, now: float | None) -> Callable[[os.stat_result], bool]:
    """Whether a file changed (modification time) within the settle time (LAN_SETTLE_SECONDS when None)."""
    settle = Settings.from_env().settle_seconds if settle_seconds is None else settle_seconds
    cutoff = (time.time() if now is None else now) - settle
    return lambda stat: stat.st_mtime > cutoff


def waiting_paths(
    landing: Path, settle_seconds: float | None = None, now: float | None = None
) -> Iterator[tuple[Path, os.stat_result]]:
    """The files waiting in landing/ with their stat: only those that have stopped changing for the settle
    time, so that a file still being written (SFTP and network shares write in place) is left for a later
    run and a run never loads half a file."""
    young = _young(settle_seconds, now)
    for path, stat in _landing_entries(landing):
        if not young(stat):
            yield path, stat


def settling_paths(landing: Path, settle_seconds: float | None = None, now: float | None = None) -> list[Path]:
    """The files in landing/ that changed within the settle time: still being written, not yet taken."""
    young = _young(settle_seconds, now)
    return [path for path, stat in _landing_entries(landing) if young(stat)]


def read_landing_file(path: Path, stat: os.stat_result) -> LandingFile | None:
    """The file's bytes, read once, with their sha256 (None if a finishing run took it meanwhile)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    received_at = datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)
    return LandingFile(path, hashlib.sha256(data).hexdigest(), len(data), received_at, data)


def list_landing(landing: Path) -> list[LandingFile]:
    """Files waiting in landing/, each read once, oldest first (arrival order decides which
    resubmission is newest)."""
    found = [f for path, stat in waiting_paths(landing) if (f := read_landing_file(path, stat)) is not None]
    return sorted(found, key=lambda f: (f.received_at, f.path.name))


def connect_warehouse(settings: Settings) -> duckdb.DuckDBPyConnection:
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.warehouse), config=settings.duckdb_config)
    con.execute(RAW_DDL)
    con.execute(report_store.REPORT_DDL)
    return con


def keep_atomically(item: LandingFile, dest: Path) -> None:
    """Write the bytes read from landing/ to ``dest`` (temporary name, then rename), with the file's mtime."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    tmp.write_bytes(item.data)
    mtime = item.received_at.replace(tzinfo=UTC).timestamp()
    os.utime(tmp, (mtime, mtime))
    os.replace(tmp, dest)


def write_text_atomically(dest: Path, text: str) -> None:
    tmp = dest.with_name(f".{dest.name}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, dest)


def stored_name(item: LandingFile) -> str:
    return f"{item.checksum[:12]}__{item.path.name}"


def reason_text(parsed: ParsedFile, item: LandingFile) -> str:
    lines = [
        f"File: {parsed.file_name}",
        f"Received: {item.received_at:%Y-%m-%d %H:%M:%S} UTC",
        f"sha256: {item.checksum}",
        "",
        "This file was not loaded. Nothing in it reached the warehouse. Please correct the problems",
        "below and send the file again (any name; the newest file for a site-month replaces earlier ones).",
        "",
        f"Problems ({len(parsed.errors)}):",
    ]
    lines += [f"  - {p}" for p in parsed.errors]
    if parsed.warnings:
        lines += ["", "Also noted (these alone would not stop the file):"]
        lines += [f"  - {p}" for p in parsed.warnings]
    return "\n".join(lines) + "\n"


def keep_file(settings: Settings, parsed: ParsedFile, item: LandingFile) -> Path:
    """Copy the file unchanged to raw/ or quarantine/; return where, relative to LAN_HOME."""
    report = parsed.report
    if report is not None and report.sheet is not None and not report.accepted:
        kept = report_store.quarantine_report_sheet(settings, report, item)
        if report.personal_data and parsed.accepted:
            return kept  # a report holding personal data is kept only in quarantine, though its numbers load
    if parsed.accepted:
        dest = settings.raw / f"{item.received_at:%Y-%m}" / stored_name(item)
        keep_atomically(item, dest)
        write_text_atomically(dest.with_name(dest.name + ".sha256"), f"{item.checksum}  {dest.name}\n")
    else:
        dest = settings.quarantine / stored_name(item)
        keep_atomically(item, dest)
        write_text_atomically(dest.with_name(dest.name + ".reason.txt"), reason_text(parsed, item))
        reason = {
            "file_name": parsed.file_name,
            "sha256": item.checksum,
            "received_at": item.received_at.isoformat() + "Z",
            "problems": [p.to_dict() for p in parsed.problems],
        }
        write_text_atomically(dest.with_name(dest.name + ".reason.json"), json.dumps(reason, indent=2) + "\n")
    return dest.relative_to(settings.lan_home)


def _lines(problems: Sequence[Problem]) -> str | None:
    return "\n".join(str(p) for p in problems) or None


def _file_record(parsed: ParsedFile, item: LandingFile, stored: Path, now: datetime, run_id: str) -> dict:
    return {
        "checksum": item.checksum,
        "file_name": item.path.name,
        "outcome": "accepted" if parsed.accepted else "quarantined",
        "stored_path": str(stored),
        "size_bytes": item.size_bytes,
        "site_code": parsed.site_code,
        "months": [m for m in parsed.months],
        "problems_json": json.dumps([p.to_dict() for p in parsed.problems]),
        "problems_text": _lines(parsed.errors),
        "warnings_text": _lines(parsed.warnings),
        "received_at": item.received_at,
        "ingested_at": now,
        "run_id": run_id,
    }


def _submission_frames(
    accepted: list[tuple[ParsedFile, LandingFile]], now: datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split accepted files into site-month submissions and their rows, in one pass over the whole batch."""
    frames = [parsed.rows for parsed, _ in accepted if not parsed.rows.empty]
    if not frames:
        return pd.DataFrame(), pd.DataFrame()
    items = [item for parsed, item in accepted if not parsed.rows.empty]
    rows = pd.concat(frames, ignore_index=True)
    file_index = np.repeat(np.arange(len(frames)), [len(f) for f in frames])
    checksums = pd.Series([i.checksum for i in items])
    rows["submission_id"] = (
        rows["site_code"]
        + "_"
        + rows["month_start_date"].dt.strftime("%Y-%m")
        + "_"
        + checksums.str[:12].to_numpy()[file_index]
    )
    rows["_file"] = file_index
    subs = (
        rows.groupby("submission_id", sort=True)
        .agg(
            site_code=("site_code", "first"),
            month_start_date=("month_start_date", "first"),
            row_count=("source_row", "size"),
            _file=("_file", "first"),
        )
        .reset_index()
    )
    subs["checksum"] = checksums.to_numpy()[subs["_file"]]
    subs["file_name"] = [items[i].path.name for i in subs["_file"]]
    subs["received_at"] = [items[i].received_at for i in subs["_file"]]
    subs["ingested_at"] = now
    return subs.drop(columns="_file"), rows.drop(columns="_file")


Checker = Callable[[list[ParsedFile]], None]
#: Parses files from their names and the bytes already read (``parse_files(paths, ref, today, contents)``).
Parser = Callable[[Sequence[Path], Sequence[bytes]], list[ParsedFile]]


#: Files parsed, checked and loaded together, each batch in one transaction: a run holds one batch's parsed rows at a
#: time, not those of everything waiting (a first load of 7,800 files held every file's frame at once).
BATCH_FILES = 1000


def ingest_landing(
    settings: Settings,
    parse: Parser,
    check: Checker | None,
    run_id: str,
    now: datetime | None = None,
    batch_files: int = BATCH_FILES,
) -> IngestReport:
    """Take in everything waiting in landing/. `parse` reads files; `check` adds structural problems.

    New files go in batches of `batch_files`, oldest first: each batch is parsed, checked, kept and recorded in one
    transaction, and only then leaves landing/ (a run stopped between batches has loaded the first ones, and the
    next run takes the rest). The rows of a file are dropped from the report once loaded (they are in
    raw.return_rows)."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    settings.make_folders()
    report = IngestReport(run_id=run_id)
    waiting = list_landing(settings.landing)
    if not waiting:
        return report
    con = connect_warehouse(settings)
    try:
        known = {c for (c,) in con.execute("select checksum from raw.files").fetchall()}
        fresh: dict[str, LandingFile] = {}
        repeats: list[LandingFile] = []
        for item in waiting:
            if item.checksum in known or item.checksum in fresh:
                report.repeats.append(item.path.name)
                repeats.append(item)
            else:
                fresh[item.checksum] = item
        items = list(fresh.values())
        # the repeats' arrivals go with the first batch (alone when nothing is new)
        batches = [items[i : i + batch_files] for i in range(0, len(items), batch_files)] or [[]]
        for number, batch in enumerate(batches):
            repeated = repeats if number == 0 else []
            _load_batch(con, settings, parse, check, batch, repeated, now, report)
            for item in [*repeated, *batch]:
                item.path.unlink(missing_ok=True)
    finally:
        con.close()
    return report


def _arrival(item: LandingFile, now: datetime, run_id: str, repeat: bool) -> dict:
    return {
        "checksum": item.checksum,
        "file_name": item.path.name,
        "received_at": item.received_at,
        "ingested_at": now,
        "is_repeat": repeat,
        "run_id": run_id,
    }


def _load_batch(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    parse: Parser,
    check: Checker | None,
    items: list[LandingFile],
    repeats: list[LandingFile],
    now: datetime,
    report: IngestReport,
) -> None:
    """Parse, check and keep one batch of new files, and record them, their arrivals and those of `repeats` in one
    transaction."""
    run_id = report.run_id
    arrivals = [_arrival(item, now, run_id, True) for item in repeats]
    arrivals += [_arrival(item, now, run_id, False) for item in items]
    parsed_files = parse([i.path for i in items], [i.data for i in items]) if items else []
    if check is not None and parsed_files:
        check(parsed_files)

    file_records, accepted = [], []
    for parsed, item in zip(parsed_files, items, strict=True):
        stored = keep_file(settings, parsed, item)
        file_records.append(_file_record(parsed, item, stored, now, run_id))
        (report.accepted if parsed.accepted else report.quarantined).append(parsed)
        if parsed.accepted:
            accepted.append((parsed, item))
    subs, rows = _submission_frames(accepted, now)
    report_files, report_rows = report_store.report_frames(settings, parsed_files, items, file_records, now, run_id)
    report.reports += [p.report for p in parsed_files if p.report is not None]

    con.execute("begin transaction")
    if file_records:
        con.register("new_files", pd.DataFrame(file_records))
        con.execute("insert into raw.files by name select * from new_files")
    if arrivals:
        con.register("new_arrivals", pd.DataFrame(arrivals))
        con.execute("insert or ignore into raw.file_arrivals by name select * from new_arrivals")
    if not subs.empty:
        con.register("new_submissions", subs)
        con.execute("insert into raw.submissions by name select * from new_submissions")
        con.register("new_rows", rows)
        con.execute("""
            insert into raw.return_rows by name
            select submission_id, source_row, site_code, month_start_date::date as month_start_date,
                   measure_code, ethnic_code, numerator, denominator, extra_columns
            from new_rows""")
        report.submission_ids += subs["submission_id"].tolist()
        report.rows_loaded += len(rows)
    report_store.insert_reports(con, report_files, report_rows)
    con.execute("commit")
    for name in ("new_files", "new_arrivals", "new_submissions", "new_rows"):
        con.unregister(name)
    for parsed, _ in accepted:
        parsed.rows = parsed.rows.iloc[0:0]  # loaded: the batch's frames are freed with it
