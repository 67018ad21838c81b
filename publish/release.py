"""Evaluation releases: the disclosure-controlled tables of schema ``release``, written by DuckDB table by table.

What is released, and how each count is protected, is decided in dbt: one model per released table in
``dbt_project/models/release/`` (alias = the table's name, schema ``release``), its counts rounded by the
``disclosure_*`` macros under the rule of ``LAN_DISCLOSURE_RULE`` and every statistic recomputed from the
rounded counts (see ``dbt_project/macros/disclosure.sql`` and ``publish/disclosure.py`` for the rules and their
limits). Adding a table to the release is adding a model there; this module reads the list from the dbt manifest
(`release_tables`) and only writes files:

    build_release(con, dest_root, manifest, rule, code_version, created_at=None, *, synthetic=False)
        -> Release(path, built)

* ``<table>.parquet`` and ``<table>.csv`` for every table, each by one DuckDB ``COPY (select ... order by
  <release_key>) TO ...``, so a table streams from the warehouse to the file without passing through Python;
* ``data_dictionary.csv`` (table, column, type, meaning) from the models' dbt descriptions;
* ``README.md`` for the evaluation partner;
* ``manifest.json``: release_id, created_at, code_version, synthetic, inputs_hash, disclosure_rule (name,
  description), tables (rows, files, key, count columns), submissions (submission_id, site_code,
  month_start_date, file_name, checksum, received_at) and files (sha256 and size of every other file).

The files go to a hidden staging folder ``dest_root/.<release_id>.tmp``, are checked (`check_release`: every
file's sha256 and row count as the manifest says; each CSV read back equals its Parquet file; no count from 1 to
7 and every count a multiple of 5 in any file; no NaN or infinity; every column described) and only then is the
folder renamed to ``dest_root/<release_id>`` and ``dest_root/LATEST`` replaced (write, then `os.replace`) to
name it. Any failure deletes the staging folder and raises `ReleaseError`: a release is complete and checked, or
absent.

Decisions
---------
* Small counts: a count from 1 to 7 is never shown under either rule: null in Parquet (and in the partner's
  copy), ``*`` in CSV; a count missing in the warehouse (not submitted) is an empty field. The models carry a
  ``<count>_hidden`` flag beside each count for the CSV writer; flags are not released.
* Unchanged releases are not rebuilt: ``inputs_hash`` is the sha256 of each released table's row count and
  order-independent hash of its rows (DuckDB ``hash`` of every row, xor-ed), the dictionary, the disclosure rule,
  the submissions and `FORMAT_VERSION`. When the latest release has the same inputs_hash nothing is written
  (`Release.built` is False). A code change that changes no output is no reason to re-release.
* Determinism: rows are sorted by the table's release key (a dbt test keeps it unique); DuckDB writes both
  files with fixed options, one thread, so two releases from the same inputs have byte-identical extracts.
* CSV: UTF-8, header, ``\\n``, minimal quoting; dates and timestamps ISO 8601 (``2024-03-01T09:30:00``); booleans true/false; doubles in the shortest
  text that reads back to the same number (``-0.0`` written ``0.0``); null is an empty field.
* Memory: the writer's DuckDB connection is the caller's, under the caller's memory limit (the pipeline's DuckDB
  resource: LAN_DUCKDB_MEMORY_LIMIT); the check's own connection runs under `memory_limit`. No table is ever held
  in Python.
* release_id is created_at in UTC as ``YYYY-MM-DDTHH-MM-SSZ`` (sorts by time); ``-02``... if it exists.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from ingest.settings import DUCKDB_MEMORY_LIMIT
from ingest.store import sha256_of
from publish.disclosure import DisclosureRule, rule_from_name

__all__ = [
    "FORMAT_VERSION",
    "LATEST",
    "Release",
    "ReleaseColumn",
    "ReleaseError",
    "ReleaseTable",
    "build_release",
    "check_release",
    "inputs_hash",
    "latest_release",
    "read_manifest",
    "release_id_for",
    "release_tables",
    "rule_from_name",
]

# Bump when the files written for the same data change (forces one new release).
FORMAT_VERSION = "2"
SCHEMA = "release"
MANIFEST = "manifest.json"
DICTIONARY = "data_dictionary.csv"
README = "README.md"
LATEST = "LATEST"
HIDDEN_MARK = "*"
DICTIONARY_COLUMNS = ["table", "column", "type", "meaning"]
_ID_FORMAT = "%Y-%m-%dT%H-%M-%SZ"
_ID_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z(-\d{2})?$")
_FLOAT_TYPES = {"double", "float", "real", "float8", "float4"}


class ReleaseError(RuntimeError):
    """A release could not be built or failed its checks; nothing was published."""


@dataclass(frozen=True)
class ReleaseColumn:
    name: str
    data_type: str
    meaning: str
    is_count: bool = False
    hidden_flag: str | None = None  # the column that says where this count is hidden (1 to 7)


@dataclass(frozen=True)
class ReleaseTable:
    """One released table, as its dbt model in models/release/ declares it."""

    name: str
    model: str
    description: str
    key: tuple[str, ...]
    columns: tuple[ReleaseColumn, ...]
    flags: tuple[str, ...] = ()  # hidden-count flags: in the release schema, not in the files

    @property
    def count_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.is_count]


@dataclass(frozen=True)
class Release:
    path: Path
    built: bool  # False: nothing changed since the latest release, which `path` names


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def release_tables(manifest: Mapping) -> list[ReleaseTable]:
    """The released tables: every dbt model of schema ``release`` in the manifest, by table name."""
    tables = []
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model" or node.get("schema") != SCHEMA:
            continue
        name = node.get("alias") or node["name"]
        meta = node.get("meta") or node.get("config", {}).get("meta") or {}
        key = tuple(meta.get("release_key") or ())
        columns, flags = [], []
        for column in node.get("columns", {}).values():
            disclosure = (column.get("meta") or {}).get("disclosure")
            if disclosure == "hidden_flag":
                flags.append(column["name"])
                continue
            columns.append(
                ReleaseColumn(
                    column["name"],
                    (column.get("data_type") or "").lower(),
                    " ".join((column.get("description") or "").split()),
                    is_count=disclosure == "count",
                )
            )
        problems = [c.name for c in columns if not c.data_type or not c.meaning]
        if not key or problems:
            raise ReleaseError(
                f"model {node['name']}: needs meta release_key and a data_type and description for every column"
                + (f" (missing for {', '.join(problems)})" if problems else "")
            )
        columns = [
            ReleaseColumn(c.name, c.data_type, c.meaning, True, f"{c.name}_hidden") if c.is_count else c
            for c in columns
        ]
        missing_flags = [c.hidden_flag for c in columns if c.is_count and c.hidden_flag not in flags]
        if missing_flags:
            raise ReleaseError(f"model {node['name']}: no flag column {', '.join(missing_flags)} for its counts")
        tables.append(
            ReleaseTable(
                name=name,
                model=node["name"],
                description=" ".join((node.get("description") or "").split()),
                key=key,
                columns=tuple(columns),
                flags=tuple(flags),
            )
        )
    return sorted(tables, key=lambda t: t.name)


# ---------------------------------------------------------------------------------------------
# The SQL of each file


def _parquet_select(table: ReleaseTable) -> str:
    exprs = [
        f"{_quote(c.name)} + 0.0 as {_quote(c.name)}" if c.data_type in _FLOAT_TYPES else _quote(c.name)
        for c in table.columns
    ]
    order = ", ".join(_quote(k) for k in table.key)
    return f"select {', '.join(exprs)} from {SCHEMA}.{_quote(table.name)} order by {order}"


def _csv_select(table: ReleaseTable) -> str:
    exprs = []
    for c in table.columns:
        name = _quote(c.name)
        if c.is_count:
            exprs.append(
                f"case when {_quote(c.hidden_flag)} then '{HIDDEN_MARK}' else cast({name} as varchar) end as {name}"
            )
        elif c.data_type in _FLOAT_TYPES:
            exprs.append(f"{name} + 0.0 as {name}")
        elif c.data_type == "timestamp":
            exprs.append(f"replace(cast({name} as varchar), ' ', 'T') as {name}")
        else:
            exprs.append(name)
    order = ", ".join(_quote(k) for k in table.key)
    return f"select {', '.join(exprs)} from {SCHEMA}.{_quote(table.name)} order by {order}"


# ---------------------------------------------------------------------------------------------
# Small helpers


def _utc(created_at: datetime | None) -> datetime:
    if created_at is None:
        return datetime.now(UTC)
    return created_at.replace(tzinfo=UTC) if created_at.tzinfo is None else created_at.astimezone(UTC)


def release_id_for(created_at: datetime) -> str:
    """The bare release id for a creation time (UTC, sortable, file-name safe)."""
    return _utc(created_at).strftime(_ID_FORMAT)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_text(path: Path, text: str) -> None:
    with path.open("x", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _dictionary_rows(tables: Sequence[ReleaseTable]) -> list[list[str]]:
    rows = []
    for table in tables:
        rows.append([table.name, "", "table", table.description])
        rows += [[table.name, c.name, c.data_type, c.meaning] for c in table.columns]
    return rows


def _dictionary_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([DICTIONARY_COLUMNS, *rows])
    return out.getvalue()


def _submissions(con: duckdb.DuckDBPyConnection) -> list[dict]:
    cursor = con.execute(
        "select submission_id, site_code, month_start_date, file_name, checksum, received_at "
        "from marts.dim_submission where is_current order by submission_id"
    )
    names = [d[0] for d in cursor.description]
    return [
        {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in zip(names, row)} for row in cursor.fetchall()
    ]


def inputs_hash(
    con: duckdb.DuckDBPyConnection,
    tables: Sequence[ReleaseTable],
    rule: DisclosureRule,
    submissions: list[dict],
) -> tuple[str, dict[str, int]]:
    """(sha256 of everything a release is made of, row count by table); see the module docstring."""
    content: dict = {
        "format": FORMAT_VERSION,
        "rule": rule.name,
        "dictionary": _dictionary_rows(tables),
        "submissions": sorted([str(s["submission_id"]), str(s["checksum"])] for s in submissions),
        "tables": {},
    }
    rows: dict[str, int] = {}
    for table in tables:
        columns = ", ".join(_quote(c) for c in [*(c.name for c in table.columns), *table.flags])
        n, digest = con.execute(
            f"select count(*), coalesce(bit_xor(hash(row({columns}))), 0)::varchar from {SCHEMA}.{_quote(table.name)}"
        ).fetchone()
        rows[table.name] = int(n)
        content["tables"][table.name] = [int(n), digest, [c.name for c in table.columns], list(table.key)]
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest(), rows


# ---------------------------------------------------------------------------------------------
# Releases in a folder


def read_manifest(release: Path) -> dict:
    """The parsed manifest.json of a release folder."""
    return json.loads((Path(release) / MANIFEST).read_text(encoding="utf-8"))


def latest_release(dest_root: Path) -> Path | None:
    """The newest release: the one LATEST names, else the greatest release folder name (staging ignored)."""
    root = Path(dest_root)
    if not root.is_dir():
        return None
    try:
        named = (root / LATEST).read_text(encoding="utf-8").strip()
        if _ID_PATTERN.match(named) and (root / named / MANIFEST).is_file():
            return root / named
    except OSError:
        pass
    releases = sorted(
        p for p in root.iterdir() if p.is_dir() and _ID_PATTERN.match(p.name) and (p / MANIFEST).is_file()
    )
    return releases[-1] if releases else None


def _point_latest(dest_root: Path, release_id: str) -> None:
    tmp = dest_root / f".{LATEST}.tmp"
    tmp.unlink(missing_ok=True)
    _write_text(tmp, release_id + "\n")
    os.replace(tmp, dest_root / LATEST)
    _fsync_dir(dest_root)


def _allocate(dest_root: Path, created_at: datetime) -> tuple[str, Path]:
    base = release_id_for(created_at)
    for number in range(1, 100):
        release_id = base if number == 1 else f"{base}-{number:02d}"
        staging = dest_root / f".{release_id}.tmp"
        if (dest_root / release_id).exists():
            continue
        try:
            staging.mkdir()
        except FileExistsError:
            continue
        return release_id, staging
    raise ReleaseError(f"too many releases for {base}")


# ---------------------------------------------------------------------------------------------
# Checking


def check_release(release: Path, memory_limit: str = DUCKDB_MEMORY_LIMIT) -> list[str]:
    """The release's own checks; returns the problems found (empty: the release holds)."""
    release = Path(release)
    try:
        manifest = read_manifest(release)
        listed: dict = manifest["files"]
        tables: dict = manifest["tables"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"no readable, complete {MANIFEST}: {exc}"]
    problems: list[str] = []
    present = {p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file()} - {MANIFEST}
    problems += [f"{name} is not in the manifest" for name in sorted(present - set(listed))]
    problems += [f"{name} is in the manifest but not in the folder" for name in sorted(set(listed) - present)]
    for name in sorted(present & set(listed)):
        if sha256_of(release / name) != listed[name].get("sha256"):
            problems.append(f"{name}: sha256 differs from the manifest")
    for name in (DICTIONARY, README):
        if name not in present:
            problems.append(f"no {name}")
    described: set[tuple[str, str]] = set()
    if (release / DICTIONARY).is_file():
        with (release / DICTIONARY).open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        if not rows or rows[0] != DICTIONARY_COLUMNS:
            problems.append(f"{DICTIONARY}: header is not {','.join(DICTIONARY_COLUMNS)}")
        described = {(r[0], r[1]) for r in rows[1:] if len(r) == 4 and r[3].strip()}

    con = duckdb.connect(config={"memory_limit": memory_limit})  # reading: any number of threads, same answer
    try:
        for table, info in tables.items():
            parquet, csv_path = release / f"{table}.parquet", release / f"{table}.csv"
            if not parquet.is_file() or not csv_path.is_file():
                problems.append(f"{table}: CSV or Parquet file missing")
                continue
            problems += _check_table(con, table, info, parquet, csv_path, described)
    finally:
        con.close()
    return problems


def _check_table(
    con: duckdb.DuckDBPyConnection, table: str, info: dict, parquet: Path, csv_path: Path, described: set
) -> list[str]:
    problems = []
    schema = con.execute(f"describe select * from read_parquet({_sql_text(str(parquet))})").fetchall()
    types = {name: kind for name, kind, *_ in schema}
    counts = list(info.get("count_columns", []))
    missing = [c for c in types if (table, c) not in described]
    if missing:
        problems.append(f"{DICTIONARY} does not describe {table}: {', '.join(missing)}")
    source = f"read_parquet({_sql_text(str(parquet))})"
    rows = con.execute(f"select count(*) from {source}").fetchone()[0]
    csv_types = {c: ("varchar" if c in counts else kind) for c, kind in types.items()}
    csv_source = (
        f"read_csv({_sql_text(str(csv_path))}, header = true, auto_detect = false, "
        f"columns = {{{', '.join(f'{_sql_text(c)}: {_sql_text(k)}' for c, k in csv_types.items())}}})"
    )
    try:
        csv_rows = con.execute(f"select count(*) from {csv_source}").fetchone()[0]
    except duckdb.Error as exc:
        return [*problems, f"{table}.csv cannot be read as its Parquet file's columns: {exc}"]
    if rows != info.get("rows") or csv_rows != info.get("rows"):
        return [*problems, f"{table}: {csv_rows} CSV and {rows} Parquet rows, manifest says {info.get('rows')}"]
    # The CSV, its `*` read as null, is the Parquet file: same rows, compared by an order-free hash. Each file is
    # read once for all that follows: its hash with, per count column, the `*` shown (CSV) or the disclosure rule
    # and the nulls (Parquet), and per float column the NaN and infinite values.
    digest = f"coalesce(bit_xor(hash(row({', '.join(_quote(c) for c in types)}))), 0)"
    as_csv = ", ".join(
        f"cast(nullif({_quote(c)}, '{HIDDEN_MARK}') as {types[c]}) as {_quote(c)}" if c in counts else _quote(c)
        for c in types
    )
    shown = "".join(f", {_quote(c)} as _shown_{i}" for i, c in enumerate(counts))
    stars = "".join(f", count(*) filter (where _shown_{i} = '{HIDDEN_MARK}')" for i in range(len(counts)))
    try:
        from_csv, *shown_stars = con.execute(
            f"select {digest}{stars} from (select {as_csv}{shown} from {csv_source})"
        ).fetchone()
    except duckdb.Error as exc:
        return [*problems, f"{table}.csv: a count is neither a whole number nor {HIDDEN_MARK}: {exc}"]
    floats = [c for c, kind in types.items() if kind.lower() in _FLOAT_TYPES]
    tallies = "".join(
        f", count(*) filter (where {_quote(c)} between 1 and 7 or {_quote(c)} % 5 <> 0), count(*) - count({_quote(c)})"
        for c in counts
    ) + "".join(f", count(*) filter (where isnan({_quote(c)}) or isinf({_quote(c)}))" for c in floats)
    from_parquet, *found = con.execute(f"select {digest}{tallies} from {source}").fetchone()
    if from_csv != from_parquet:
        problems.append(f"{table}: the CSV file's values differ from the Parquet file's")
    for i, column in enumerate(counts):
        (bad, nulls), shown_star = found[2 * i : 2 * i + 2], shown_stars[i]
        if bad:
            problems.append(f"{table}.{column}: {bad} value(s) from 1 to 7 or not a multiple of 5 (disclosure)")
        if shown_star > nulls:
            problems.append(f"{table}.{column}: {shown_star} `*` in the CSV but {nulls} nulls in the Parquet file")
    for column, bad in zip(floats, found[2 * len(counts) :], strict=True):
        if bad:
            problems.append(f"{table}.{column}: {bad} NaN or infinite value(s)")
    return problems


# ---------------------------------------------------------------------------------------------
# Building


def _readme(
    release_id: str,
    created: str,
    code_version: str,
    rule: DisclosureRule,
    tables: Sequence[ReleaseTable],
    rows: Mapping[str, int],
    submissions: int,
    synthetic: bool,
) -> str:
    lines = [f"# LAN equity warehouse: evaluation extract {release_id}", ""]
    if synthetic:
        lines += [
            "**SYNTHETIC DATA.** Every number in this release was generated for testing. It describes no "
            "real person, site or service and must not be analysed, reported or cited as evidence.",
            "",
        ]
    lines += [
        "Prepared by the NHS Race and Health Observatory Learning and Action Network (LAN) data team for the "
        f"evaluation partner. Built {created} (UTC) by code version `{code_version}` from {submissions} "
        "site submission(s), listed with their checksums in `manifest.json`. The same tables are in the "
        "partner's DuckDB copy, `publish/partner/warehouse.duckdb` (schema `marts`, the same table names).",
        "",
        "## What is here",
        "",
        "| table | rows | what it holds |",
        "|---|---:|---|",
    ]
    for table in tables:
        text = (table.description or "See data_dictionary.csv.").replace("|", "/")
        lines.append(f"| `{table.name}` | {rows[table.name]} | {text} |")
    lines += [
        "",
        "Each table comes twice with the same content: `<table>.parquet` (typed) and `<table>.csv` (UTF-8, "
        "comma-separated, header row, empty field = no value, dates as `YYYY-MM-DD`, `true`/`false`). Rows are "
        "sorted by the table's key columns. `data_dictionary.csv` describes every column (table, column, type, "
        "meaning). `manifest.json` records the release id, creation time, code version, the source submissions "
        "with their checksums, the row count of every table, the SHA-256 of every other file (check them with "
        "`sha256sum`) and the disclosure rule.",
        "",
        "## Disclosure control",
        "",
        rule.description,
        "",
        "- A `*` in a CSV file (null in Parquet and in the DuckDB copy) is a count from 1 to 7, which is never "
        "shown. A 0 is a true zero; an empty count was not submitted by the site.",
    ]
    if rule.suppresses:
        lines.append("- Rates and other statistics that need a count shown as `*` are left empty.")
    else:
        lines.append(
            "- Rates, intervals and other statistics that need a count shown as `*` are computed as if it "
            "were 5 (NHS England's maternity statistics convention). They are indicative only: the true "
            "count can be anything from 1 to 7."
        )
    lines += [
        "- A count of 8 or more is within 2 of the number shown.",
        "- Rates, confidence intervals, rate ratios, rate differences and completeness are recomputed from the "
        "rounded counts, so you can reproduce them from this extract"
        + ("" if rule.suppresses else " (taking a `*` as 5)")
        + "; they differ slightly from figures computed on unrounded counts.",
        "- `excess_events` is recomputed from the rounded counts and rounded to the nearest 5.",
        "- Do not try to work out small numbers by combining tables or subtracting parts from totals, and do not "
        "publish any number derived from this extract that describes fewer than 8 people or events.",
        "",
        "## Read small numbers with care",
        "",
        "Rates from small counts are imprecise, and rounding makes them more so. Use the 95 % confidence "
        "intervals, prefer quarters, rolling 12 months, programme phases and LAN-wide rows to single months at "
        "one site, and read `gap_assessment` (`worse`, `better`, `higher`, `lower`, `no clear difference`, "
        "`not calculable`, `reference`) rather than a ratio alone. Rows whose `meets_completeness_threshold` is "
        "false come from site-months where too few records have a known ethnic category for the comparison to "
        "be trusted.",
        "",
        "## Did the gap narrow? And what the sites tested",
        "",
        "- `gap_change` compares each gap after the programme started with the baseline. Its counts are rounded "
        "as above, and every statistic (the periods' rate ratios, the ratio of rate ratios with its interval and "
        "p value, the difference in rate differences, the LAN's site-adjusted Mantel-Haenszel ratios and the "
        "assessments) is recomputed from the rounded counts of `gap_metrics`.",
        "- `gap_trend` (the segmented quasi-Poisson model of each gap) holds no count of people and is released "
        "as fitted, from the unrounded monthly counts: rounding every small monthly count would distort the fit "
        "far more than it would protect anyone, and no count can be read back from its estimates.",
        "- `fct_site_report` holds what each site reported testing (change ideas, PDSA stages, narratives) in "
        "the sites' own words. Every report was screened for personal data when it arrived (NHS numbers, dates "
        "of birth, postcodes, e-mail addresses, UK telephone numbers); a report with any was refused and never "
        "loaded. The narratives are not otherwise edited.",
        "",
        "## How to cite",
        "",
        "NHS Race and Health Observatory Learning and Action Network. LAN equity warehouse evaluation extract, "
        f"release {release_id} (code version {code_version}). Quote the release id with every figure, so that it "
        "can be traced to this folder's `manifest.json`.",
        "",
    ]
    return "\n".join(lines)


def _run_side_by_side(con: duckdb.DuckDBPyConnection, statements: Sequence[str], workers: int) -> None:
    """Run `statements` on `workers` threads at once, each with a cursor of `con` of its own, taking the next
    statement when it is free (a list iterator hands each out once, under the GIL).

    With DuckDB's threads at 1 a query runs in the thread that asked for it alone, so each file is still written by
    one thread, in order, whatever runs beside it (tests/test_release.py: byte-identical releases)."""
    pending = iter(statements)
    workers = max(1, workers)

    def drain(cursor: duckdb.DuckDBPyConnection) -> None:
        with cursor:
            for statement in pending:
                cursor.execute(statement)

    with ThreadPoolExecutor(workers) as pool:
        for done in [pool.submit(drain, con.cursor()) for _ in range(workers)]:
            done.result()


def build_release(
    con: duckdb.DuckDBPyConnection,
    dest_root: Path,
    manifest: Mapping,
    rule: DisclosureRule | str = "msds",
    code_version: str = "unknown",
    created_at: datetime | None = None,
    *,
    synthetic: bool = False,
    skip_if_unchanged: bool = True,
    memory_limit: str = DUCKDB_MEMORY_LIMIT,
) -> Release:
    """Write, check and publish one release from schema ``release`` of `con` (see the module docstring).

    manifest: the dbt manifest (which models are released, their keys and descriptions). rule: the rule the
    release models were built with (recorded, and checked against the models' own). memory_limit: the check's
    own connection's (check_release); `con` keeps the one it was opened with. Raises ReleaseError, leaving
    nothing behind, if anything fails."""
    rule = rule_from_name(rule)
    dest_root = Path(dest_root)
    tables = release_tables(manifest)
    if not tables:
        raise ReleaseError(f"no dbt model in schema {SCHEMA}: nothing to release")
    submissions = _submissions(con)
    digest, rows = inputs_hash(con, tables, rule, submissions)
    latest = latest_release(dest_root)
    if skip_if_unchanged and latest is not None:
        try:
            if read_manifest(latest).get("inputs_hash") == digest:
                return Release(latest, built=False)
        except (OSError, ValueError):
            pass

    created = _utc(created_at)
    dest_root.mkdir(parents=True, exist_ok=True)
    release_id, staging = _allocate(dest_root, created)
    threads = con.execute("select current_setting('threads')").fetchone()[0]
    try:
        con.execute("set threads = 1")  # one thread per file: the same bytes for the same rows
        copies = [
            f"copy ({select}) to {_sql_text(str(staging / f'{table.name}.{suffix}'))} ({options})"
            for table in tables
            for suffix, select, options in (
                ("parquet", _parquet_select(table), "format parquet, compression zstd"),
                ("csv", _csv_select(table), "format csv, header true, delimiter ','"),
            )
        ]
        _run_side_by_side(con, copies, int(threads))
        dictionary = _dictionary_rows(tables)
        _write_text(staging / DICTIONARY, _dictionary_text(dictionary))
        created_text = created.isoformat(timespec="seconds").replace("+00:00", "Z")
        _write_text(
            staging / README,
            _readme(release_id, created_text, code_version, rule, tables, rows, len(submissions), synthetic),
        )
        manifest_out = {
            "release_id": release_id,
            "created_at": created_text,
            "code_version": code_version,
            "synthetic": bool(synthetic),
            "inputs_hash": digest,
            "disclosure_rule": {"name": rule.name, "description": rule.description},
            "tables": {
                t.name: {
                    "rows": rows[t.name],
                    "files": [f"{t.name}.parquet", f"{t.name}.csv"],
                    "key": list(t.key),
                    "count_columns": t.count_columns,
                    "dbt_model": t.model,
                }
                for t in tables
            },
            "submissions": submissions,
            "files": {
                p.name: {"sha256": sha256_of(p), "bytes": p.stat().st_size}
                for p in sorted(staging.iterdir())
                if p.is_file()
            },
        }
        _write_text(staging / MANIFEST, json.dumps(manifest_out, indent=2, ensure_ascii=False) + "\n")
        _fsync_dir(staging)
        problems = check_release(staging, memory_limit)
        if problems:
            shown = "; ".join(problems[:50])
            raise ReleaseError(f"release {release_id} failed its checks: {shown}")
        final = dest_root / release_id
        os.rename(staging, final)
        _fsync_dir(dest_root)
        _point_latest(dest_root, release_id)
        return Release(final, built=True)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, ReleaseError) or not isinstance(exc, Exception):
            raise
        raise ReleaseError(f"release {release_id} not published: {exc}") from exc
    finally:
        con.execute(f"set threads = {int(threads)}")
