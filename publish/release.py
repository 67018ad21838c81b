"""Evaluation releases: disclosure-controlled extracts of the published tables, built whole and atomically.

    build_release(source_db, dest_root, tables, dictionary, submissions, rule, code_version,
                  created_at=None, *, synthetic=False, skip_if_unchanged=True, statistics=None) -> Path

reads each table of `tables` (None: `RELEASE_TABLES`, the spec's nine) from schema ``marts``
of the DuckDB file `source_db` (read-only), protects it with `publish.disclosure` (see its
docstring for the rules and their limits) and writes, into a staging folder
``dest_root/.<release_id>.tmp``:

* ``<table>.parquet`` and ``<table>.csv`` for every table, with the same rows and values;
* ``data_dictionary.csv`` (table, column, type, meaning): the caller's dictionary, cut to the
  columns released; a column it does not describe (or describes with an empty meaning) fails
  the release;
* ``README.md`` for the evaluation partner;
* ``manifest.json``: release_id, created_at, code_version, synthetic, source_database,
  disclosure_rule (name, description), tables (rows, files, key, count columns, withheld
  columns), submissions (submission_id, site_code, month_start_date, file_name, checksum,
  received_at), files (sha256 and size of every other file) and content_fingerprint.

It then checks the staging folder (`check_release`: every file's sha256 and the row counts
match the manifest; every CSV, read back with Arrow's parser rather than the csv module that
wrote it, equals its Parquet file cell by cell, a hidden ``*`` standing for a null count; no
count from 1 to 7, 5 included, in any count column of any file under either rule; every count
a whole multiple of 5; every extracted column described in the dictionary) and only then
renames it to ``dest_root/<release_id>`` with `os.rename`
(atomic on one file system). Any failure deletes the staging folder and raises `ReleaseError`
naming the problems: a release is either complete and checked, or absent.

Decisions
---------
* release_id is created_at in UTC as ``YYYY-MM-DDTHH-MM-SSZ`` (sortable, so the newest sorts
  last, and safe in file names on every OS). If that folder (or its staging folder) exists,
  ``-02``, ``-03``, ... up to ``-99`` is appended; these sort after the bare id. A naive
  `created_at` is taken as UTC. Ids are only as ordered as the `created_at` passed in: leave it
  None (now) outside tests. `latest_release` picks the greatest name, ignoring dot-folders
  (staging) and folders without a manifest.
* Determinism: the extract files (Parquet, CSV, data_dictionary.csv) depend only on the
  inputs, never on the time or the release id, so two releases built from the same inputs are
  byte-identical apart from README.md and manifest.json. Rows are read with ``ORDER BY`` the
  table's key, and a duplicate key fails the release (an order among duplicates would not be
  reproducible). Parquet is written by pyarrow with fixed options (zstd, format 2.6, data page
  v1, dictionary encoding, statistics) and without the pandas schema metadata; the Arrow
  schema is kept, so dates stay dates and time zones survive. CSV is written by the csv module:
  UTF-8 without a byte-order mark, ``\\n`` line ends, header row, minimal quoting; null is an
  empty field and a hidden count (1 to 7) ``*``; booleans ``true``/``false``; dates ISO 8601
  (``2024-03-01``), timestamps ISO 8601 with ``T``; floats by Python's shortest round-trip
  repr (``0.1``, ``12.345678901234567``, ``1e-05``), so the CSV loses nothing the Parquet holds;
  ``-0.0`` is written ``0.0``.
* data_dictionary.csv keeps the caller's table-level rows (column empty, as
  `publish.dictionary.describe_tables` gives them) and the rows of the columns released, in
  the extract's column order; rows for withheld or absent columns are left out; a missing type
  is filled with the Arrow type.
* Types: counts are written as 64-bit integers (nullable); statistics as doubles; every other
  column keeps the type DuckDB gives it.
* Skipping an unchanged release (the default): ``content_fingerprint`` in the manifest is the
  sha256 of the extracts' and dictionary's sha256s, the disclosure rule and the
  (submission_id, checksum) pairs: everything a partner would receive except the README, the
  time and the code version (a code change that changes no output is no reason to
  re-release). With ``skip_if_unchanged=True``, `build_release` builds and fingerprints the
  release, and when the latest release has the same fingerprint it deletes the staging folder
  and returns the latest release's path instead of publishing a copy; pass False to always
  publish. `same_as_latest(dest_root, fingerprint)` answers the same question for a caller
  that wants to decide itself.
* Counts: a table's `TableSpec.count_columns` plus every column named like a count anywhere
  (`publish.disclosure.KNOWN_COUNT_COLUMNS`), so that forgetting to declare one cannot publish
  it raw. Any other number in a table that holds counts must be a known non-count
  (`NON_COUNT_NUMERIC_COLUMNS`: completeness_threshold, multiplier, n_months, ...) or declared
  in `TableSpec.passthrough`, or the release fails. A table that is not gap_metrics-like must
  not hold rates or other statistics. gap_metrics-like tables go through
  `protect_gap_metrics`; multiplier and higher_is_better come from ``marts.dim_measure`` when
  the table lacks them; the build checks that every published rate equals numerator /
  denominator x multiplier of the published counts (a hidden count taken as 5 under ``msds``),
  so a statistic computed from true counts cannot slip through.
* Small counts (``publish/disclosure.py``, "Reconciling the spec ..."): under both rules a
  count from 1 to 7 is written ``*`` in CSV and null in Parquet, so no extract file ever holds
  a count from 1 to 7 (5 included) and the acceptance check passes under either rule. Under
  ``msds`` (default) the statistics of such a row are present, computed as if the count were
  5 (NHS England's maternity statistics convention); under ``hes`` they are empty.
* Free text is withheld: ``fct_submission_status.problems`` quotes the true completeness
  (``PPH1500 87.5%``, i.e. 7 of 8) and the problems of refused files, which name cell values
  (a small count, or for a file refused for holding identifiers, possibly the identifier
  itself), so `RELEASE_TABLES` leaves it out of extracts and the README says so.
* Not released by default: run_chart_points (rates from unrounded counts),
  gap_metrics_by_ethnic_category (it adds "group = sum of categories" relations, the very
  thing the interval attack of publish/disclosure.py feeds on, beside fct_measure_monthly),
  fct_data_quality_results and dim_submission (free text and file-level detail; the manifest
  lists the submissions). A caller may pass its own `tables`; the protections still apply.
* Provenance: the manifest lists the submissions with their checksums, as the spec asks. A
  sha256 of a raw file could in principle be used to test guesses of its content; with some
  250 counts a file, each known only to within 5 values from the extract, guessing is not
  feasible, so this was judged acceptable.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ingest.store import sha256_of
from publish.disclosure import (
    DEFAULT_PROPORTIONS,
    DERIVED_COUNT_COLUMNS,
    GAP_STATISTIC_COLUMNS,
    KNOWN_COUNT_COLUMNS,
    NON_COUNT_NUMERIC_COLUMNS,
    DisclosureRule,
    apply_disclosure,
    count_value_problem,
    protect_gap_metrics,
    rule_from_name,
    suppressed_cells,
)

__all__ = [
    "TableSpec",
    "RELEASE_TABLES",
    "rule_from_name",
    "ReleaseError",
    "build_release",
    "check_release",
    "latest_release",
    "read_manifest",
    "same_as_latest",
    "release_id_for",
    "format_value",
    "column_texts",
]

MANIFEST = "manifest.json"
DICTIONARY = "data_dictionary.csv"
README = "README.md"
DICTIONARY_COLUMNS = ["table", "column", "type", "meaning"]
SUBMISSION_COLUMNS = ["submission_id", "site_code", "month_start_date", "file_name", "checksum", "received_at"]
_ID_FORMAT = "%Y-%m-%dT%H-%M-%SZ"
_ID_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z(-\d{2})?$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PARQUET_OPTIONS = dict(
    compression="zstd",
    version="2.6",
    data_page_version="1.0",
    use_dictionary=True,
    write_statistics=True,
    store_schema=True,
)


class ReleaseError(RuntimeError):
    """A release could not be built or failed its checks; nothing was published."""


@dataclass(frozen=True)
class TableSpec:
    """How one marts table becomes an extract.

    sort_keys: the table's grain; rows are sorted by it and it must be unique.
    count_columns: counts to protect (columns named like counts are protected anyway).
    gap_metrics: True for a gap_metrics-like table (counts rounded, statistics recomputed).
    description: one line for the README.
    withheld_columns / withheld_reason: columns left out of the extract, and why (README).
    passthrough: other numeric columns of a table with counts that are not counts (settings,
        calendar); `publish.disclosure.NON_COUNT_NUMERIC_COLUMNS` are allowed anyway, and any
        other number beside counts fails the release rather than being published unprotected.
    """

    sort_keys: tuple[str, ...]
    count_columns: tuple[str, ...] = ()
    gap_metrics: bool = False
    description: str = ""
    withheld_columns: tuple[str, ...] = ()
    withheld_reason: str = ""
    passthrough: tuple[str, ...] = ()


# The tables of the spec's "Published tables", as extracts (what is left out, and why: module docstring).
RELEASE_TABLES: dict[str, TableSpec] = {
    "dim_site": TableSpec(("site_code",), description="The LAN sites: team, integrated care system, NHS region."),
    "dim_ethnic_category": TableSpec(
        ("ethnic_code",),
        description="NHS ethnic categories and the groups they "
        "are reported in; is_known is false for Not stated (Z) and Not known (99).",
    ),
    "dim_condition": TableSpec(("condition_code",), description="The four conditions the LAN works on."),
    "dim_measure": TableSpec(
        ("measure_code",),
        description="The LAN measures: definitions, multiplier, unit and whether a higher rate is better.",
    ),
    "dim_month": TableSpec(
        ("month_start_date",),
        description="Calendar months with financial year, quarter and programme phase (baseline or intervention).",
    ),
    "fct_measure_monthly": TableSpec(
        ("site_code", "month_start_date", "measure_code", "ethnic_code"),
        count_columns=("numerator", "denominator"),
        description="Each site's monthly numerator and denominator per measure and ethnic category (rounded counts).",
    ),
    "fct_ethnicity_completeness": TableSpec(
        ("site_code", "month_start_date", "measure_code"),
        count_columns=("denominator_total", "denominator_known"),
        description="Share of each site-month-measure's denominator whose "
        "ethnic category is known (from rounded counts).",
    ),
    "fct_submission_status": TableSpec(
        ("site_code", "month_start_date"),
        description="Whether each site's return for each month was loaded, flagged, quarantined or is missing.",
        withheld_columns=("problems",),
        withheld_reason="free text that can quote values from the sites' files",
    ),
    "gap_metrics": TableSpec(
        ("geography_level", "site_code", "measure_code", "period_type", "period_label", "ethnic_group"),
        count_columns=("numerator", "denominator"),
        gap_metrics=True,
        withheld_columns=("completeness", "flagged_share"),
        withheld_reason="shares of the true (unrounded) denominators; fct_ethnicity_completeness has completeness "
        "from rounded counts",
        description="Each ethnic group's rate compared with the reference group's, by site "
        "and for the whole LAN, per month, quarter, rolling 12 months and programme phase "
        "(statistics recomputed from rounded counts).",
    ),
}


# ---------------------------------------------------------------------------------------------
# Small helpers


def _write_bytes(path: Path, data: bytes) -> None:
    with path.open("xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


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


def _utc(created_at: datetime | None) -> datetime:
    if created_at is None:
        return datetime.now(UTC)
    if created_at.tzinfo is None:
        return created_at.replace(tzinfo=UTC)
    return created_at.astimezone(UTC)


def release_id_for(created_at: datetime) -> str:
    """The bare release id for a creation time (UTC, sortable, file-name safe)."""
    return _utc(created_at).strftime(_ID_FORMAT)


def _is_missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        return bool(pd.isna(value)) if np.isscalar(value) else False
    except (TypeError, ValueError):
        return False


def format_value(value) -> str:
    """How one value is written in a release's CSV files (null -> empty field)."""
    if _is_missing(value):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return repr(number + 0.0) if math.isfinite(number) else repr(number)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _float_text(value) -> str:
    if value is None or value != value:
        return ""
    return repr(value + 0.0) if math.isfinite(value) else repr(value)


def column_texts(column: pa.ChunkedArray | pa.Array) -> list[str]:
    """A whole Arrow column as written in CSV: `format_value` of each value, with fast paths by type."""
    kind = column.type
    if (
        pa.types.is_integer(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_date32(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
    ):
        # Arrow's own casts write these exactly as format_value does (tests check it), at C speed.
        return pc.cast(column, pa.string()).fill_null("").to_pylist()
    if pa.types.is_floating(kind):
        return [_float_text(v) for v in column.to_pylist()]
    return [format_value(v) for v in column.to_pylist()]


def _json_value(value):
    text = format_value(value)
    if text == "":
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return text


# ---------------------------------------------------------------------------------------------
# Reading and protecting


@dataclass
class _Extract:
    name: str
    spec: TableSpec
    table: pa.Table
    suppressed: dict[str, np.ndarray] = field(default_factory=dict)
    count_columns: tuple[str, ...] = ()
    derived_columns: tuple[str, ...] = ()


def _read_marts(source_db: Path, tables: Mapping[str, TableSpec], problems: list[str]):
    if not Path(source_db).is_file():
        raise ReleaseError(f"no source warehouse at {source_db}")
    frames: dict[str, tuple[pd.DataFrame, pa.Schema]] = {}
    measures = None
    con = duckdb.connect(str(source_db), read_only=True)
    try:
        try:  # time zone-aware timestamps come out in UTC whatever the machine's zone (determinism)
            con.execute("set TimeZone = 'UTC'")
        except duckdb.Error:
            pass
        have: dict[str, list[str]] = {}
        for table, column in con.execute(
            "select table_name, column_name from information_schema.columns where table_schema = 'marts' "
            "order by table_name, ordinal_position"
        ).fetchall():
            have.setdefault(table, []).append(column)
        for name in sorted(tables):
            spec = tables[name]
            if not _IDENTIFIER.match(name):
                problems.append(f"{name!r} is not a plain table name")
                continue
            if name not in have:
                problems.append(f"marts.{name} does not exist in {Path(source_db).name}")
                continue
            absent = [k for k in spec.sort_keys if k not in have[name]]
            if absent or not spec.sort_keys:
                problems.append(f"marts.{name}: sort keys {list(spec.sort_keys)} not all columns of the table")
                continue
            order = ", ".join(f'"{k}"' for k in spec.sort_keys)
            arrow = con.sql(f'select * from marts."{name}" order by {order}').to_arrow_table()
            frames[name] = (arrow.to_pandas(), arrow.schema)
        if any(tables[n].gap_metrics for n in frames) and "dim_measure" in have:
            wanted = [c for c in ("measure_code", "multiplier", "higher_is_better") if c in have["dim_measure"]]
            measures = (
                con.sql(f"select {', '.join(wanted)} from marts.dim_measure order by measure_code")
                .to_arrow_table()
                .to_pandas()
            )
    finally:
        con.close()
    return frames, measures


def _gap_rate_problems(
    name: str,
    frame: pd.DataFrame,
    measures: pd.DataFrame | None,
    rule: DisclosureRule | None = None,
    hidden: Mapping[str, np.ndarray] | None = None,
) -> list[str]:
    """Every published rate must be the one the published counts give (nothing from true counts).

    `hidden` (column -> mask by position) marks the counts the rule hides; where `rule` computes
    with a stand-in for them (``msds``: 5) the rate is checked against the stand-in, and under
    ``hes`` a hidden count leaves nothing to check against, so any rate shown there fails.
    """
    if "rate" not in frame.columns:
        return []
    if "multiplier" in frame.columns:
        multiplier = pd.to_numeric(frame["multiplier"], errors="coerce")
    elif measures is not None and "multiplier" in measures.columns:
        lookup = measures.drop_duplicates("measure_code").set_index("measure_code")["multiplier"]
        multiplier = pd.to_numeric(frame["measure_code"].map(lookup), errors="coerce")
    else:
        return [f"{name}: no multiplier to check rates against"]
    num = frame["numerator"].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    den = frame["denominator"].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    stand_in = rule.small_count_stand_in if rule is not None else None
    if stand_in is not None and hidden:
        for values, column in ((num, "numerator"), (den, "denominator")):
            mask = hidden.get(column)
            if mask is not None:
                values[np.asarray(mask, dtype=bool) & np.isnan(values)] = stand_in
    rate = pd.to_numeric(frame["rate"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    mult = multiplier.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = num / np.where(den > 0, den, np.nan) * mult
    shown = ~np.isnan(rate)
    bad = shown & (np.isnan(expected) | (np.abs(rate - expected) > 1e-9 * np.maximum(1.0, np.abs(expected))))
    if bad.any():
        return [f"{name}: {int(bad.sum())} rate(s) that the published counts do not give"]
    return []


def _protect(
    name: str,
    spec: TableSpec,
    frame: pd.DataFrame,
    schema: pa.Schema,
    rule: DisclosureRule,
    measures: pd.DataFrame | None,
    statistics,
    problems: list[str],
) -> _Extract | None:
    keep = [c for c in frame.columns if c not in spec.withheld_columns]
    frame = frame[keep]
    undeclared = [c for c in spec.count_columns if c not in frame.columns]
    if undeclared:
        problems.append(f"{name}: count column(s) {', '.join(undeclared)} not in the table")
        return None
    counts = tuple(c for c in frame.columns if c in set(spec.count_columns) | KNOWN_COUNT_COLUMNS)
    dupes = int(frame.duplicated(list(spec.sort_keys)).sum())
    if dupes:
        problems.append(f"{name}: {dupes} row(s) repeat the key {list(spec.sort_keys)}")
        return None
    try:
        suppressed = suppressed_cells(frame, counts, rule)
        if spec.gap_metrics:
            protected = protect_gap_metrics(frame, rule, measures=measures, statistics=statistics)
            problems.extend(
                _gap_rate_problems(name, protected, measures, rule, {c: suppressed[c].to_numpy() for c in counts})
            )
        else:
            leaked = [c for c in GAP_STATISTIC_COLUMNS if c in frame.columns and c != "gap_assessment"]
            if leaked:
                problems.append(f"{name}: has statistics ({', '.join(leaked)}) but is not marked gap_metrics")
                return None
            allowed = set(counts) | set(DEFAULT_PROPORTIONS) | NON_COUNT_NUMERIC_COLUMNS | set(spec.passthrough)
            unprotected = [
                c
                for c in frame.columns
                if counts
                and c not in allowed
                and pd.api.types.is_numeric_dtype(frame[c].dtype)
                and not pd.api.types.is_bool_dtype(frame[c].dtype)
            ]
            if unprotected:
                problems.append(
                    f"{name}: numeric column(s) {', '.join(unprotected)} beside counts are neither "
                    f"counts nor declared passthrough; refusing to publish them unprotected"
                )
                return None
            protected = apply_disclosure(frame, counts, rule)
    except (ValueError, KeyError) as exc:
        problems.append(f"{name}: {exc}")
        return None
    derived = tuple(c for c in protected.columns if c in DERIVED_COUNT_COLUMNS)
    fields = []
    for column in protected.columns:
        if column in counts:
            fields.append(pa.field(column, pa.int64()))
        elif column in GAP_STATISTIC_COLUMNS or column == "completeness":
            fields.append(pa.field(column, pa.string() if column == "gap_assessment" else pa.float64()))
        else:
            fields.append(schema.field(column).remove_metadata())
    try:
        table = pa.Table.from_pandas(protected, schema=pa.schema(fields), preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        problems.append(f"{name}: cannot convert to Arrow: {exc}")
        return None
    table = table.replace_schema_metadata(None)
    return _Extract(name, spec, table, {c: suppressed[c].to_numpy() for c in counts}, counts, derived)


# ---------------------------------------------------------------------------------------------
# Writing


def _csv_bytes(rows) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _extract_csv(extract: _Extract, rule: DisclosureRule) -> bytes:
    table = extract.table
    columns = []
    for name in table.column_names:
        texts = column_texts(table.column(name))
        mask = extract.suppressed.get(name)
        if mask is not None and mask.any():
            texts = [rule.suppressed_mark if hidden else text for text, hidden in zip(texts, mask)]
        columns.append(texts)
    return _csv_bytes([table.column_names, *zip(*columns)])


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **_PARQUET_OPTIONS)
    return sink.getvalue().to_pybytes()


def _dictionary_rows(extracts: list[_Extract], dictionary: pd.DataFrame, problems: list[str]) -> list[list[str]]:
    lacking = [c for c in DICTIONARY_COLUMNS if c not in dictionary.columns]
    if lacking:
        problems.append(f"the data dictionary lacks column(s) {', '.join(lacking)}")
        return []
    entries: dict[tuple[str, str], tuple[str, str]] = {}
    for row in dictionary[DICTIONARY_COLUMNS].itertuples(index=False):
        key = (format_value(row[0]).strip(), format_value(row[1]).strip())
        if key in entries:
            problems.append(f"the data dictionary describes {key[0]}.{key[1]} twice")
        entries[key] = (format_value(row[2]).strip(), format_value(row[3]).strip())
    rows, undescribed = [], []
    for extract in extracts:
        if (extract.name, "") in entries:  # a table-level row (column empty), as publish.dictionary gives
            kind, meaning = entries[(extract.name, "")]
            rows.append([extract.name, "", kind or "table", meaning])
        for field_ in extract.table.schema:
            kind, meaning = entries.get((extract.name, field_.name), ("", ""))
            if not meaning:
                undescribed.append(f"{extract.name}.{field_.name}")
            rows.append([extract.name, field_.name, kind or str(field_.type), meaning])
    if undescribed:
        problems.append(
            f"the data dictionary does not describe {len(undescribed)} column(s): {', '.join(undescribed[:20])}"
        )
    return rows


def _submission_records(submissions: pd.DataFrame, problems: list[str]) -> list[dict]:
    lacking = [c for c in SUBMISSION_COLUMNS if c not in submissions.columns]
    if lacking:
        problems.append(f"submissions lack column(s) {', '.join(lacking)}")
        return []
    records = [
        {c: _json_value(v) for c, v in zip(SUBMISSION_COLUMNS, row)}
        for row in submissions[SUBMISSION_COLUMNS].itertuples(index=False)
    ]
    return sorted(
        records,
        key=lambda r: tuple(str(r[c] or "") for c in ("site_code", "month_start_date", "received_at", "submission_id")),
    )


def _fingerprint(file_hashes: Mapping[str, str], rule: DisclosureRule, submissions: list[dict]) -> str:
    content = {
        "disclosure_rule": rule.name,
        "files": dict(sorted(file_hashes.items())),
        "submissions": sorted([str(s["submission_id"]), str(s["checksum"])] for s in submissions),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _readme(
    release_id: str,
    created: str,
    code_version: str,
    rule: DisclosureRule,
    extracts: list[_Extract],
    submissions: list[dict],
    synthetic: bool,
    described: Mapping[str, str],
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
        f"evaluation partner. Built {created} (UTC) by code version `{code_version}` from {len(submissions)} "
        "site submission(s), listed with their checksums in `manifest.json`.",
        "",
        "## What is here",
        "",
        "| table | rows | what it holds |",
        "|---|---:|---|",
    ]
    for extract in extracts:
        text = extract.spec.description or described.get(extract.name) or "See data_dictionary.csv."
        text = " ".join(text.split()).replace("|", "/")
        lines.append(f"| `{extract.name}` | {extract.table.num_rows} | {text} |")
    lines += [
        "",
        "Each table comes twice with the same content: `<table>.parquet` (typed) and `<table>.csv` (UTF-8, "
        "comma-separated, header row, empty field = no value, dates as `YYYY-MM-DD`, `true`/`false`). Rows are "
        "sorted by the table's key columns. `data_dictionary.csv` describes every column (table, column, type, "
        "meaning). `manifest.json` records the release id, creation time, code version, the source submissions "
        "with their checksums, the row count of every table, the SHA-256 of every other file (check them with "
        "`sha256sum`) and the disclosure rule.",
        "",
    ]
    withheld = [(e.name, e.spec.withheld_columns, e.spec.withheld_reason) for e in extracts if e.spec.withheld_columns]
    if withheld:
        lines += ["Left out of this extract:", ""]
        lines += [
            f"- `{name}`: {', '.join(f'`{c}`' for c in cols)} ({reason or 'not for release'})."
            for name, cols, reason in withheld
        ]
        lines.append("")
    lines += [
        "## Disclosure control",
        "",
        rule.description,
        "",
    ]
    lines.append(
        "- A `*` in a CSV file (null in Parquet) is a count from 1 to 7, which is never shown. A 0 is a true zero."
    )
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
        "Rates from small counts are imprecise, and rounding makes them more so: "
        + (
            "a count from 1 to 7 is not shown at all, and a count shown as 10 can be anything from 8 to 12. "
            if rule.suppresses
            else "where a numerator is shown as `*` its rate is computed from 5 although the true numerator can be "
            "anything from 1 to 7, so the rate can be out by a factor of several, and a count shown as 10 can be "
            "anything from 8 to 12. "
        )
        + "Use the 95 % "
        "confidence intervals, prefer quarters, rolling 12 months, programme phases and LAN-wide rows to single "
        "months at one site, and read `gap_assessment` (`worse`, `better`, `higher`, `lower`, `no clear "
        "difference`, `not calculable`, `reference`) rather than a ratio alone. Rows whose "
        "`meets_completeness_threshold` is false come from site-months where too few records have a known "
        "ethnic category for the comparison to be trusted.",
        "",
        "## How to cite",
        "",
        f"NHS Race and Health Observatory Learning and Action Network. LAN equity warehouse evaluation extract, "
        f"release {release_id} (code version {code_version}). Quote the release id with every figure, so that it "
        "can be traced to this folder's `manifest.json`.",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Checking


def read_manifest(release: Path) -> dict:
    """The parsed manifest.json of a release folder."""
    return json.loads((Path(release) / MANIFEST).read_text(encoding="utf-8"))


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _read_csv_columns(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and columns of a CSV as text, read by Arrow's parser (not the writer's csv module)."""
    with path.open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f), [])
    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(encoding="utf8", column_names=header, skip_rows=1),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in header}, strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    )
    return header, [table.column(i).to_pylist() for i in range(table.num_columns)]


def check_release(release: Path) -> list[str]:
    """The release's own checks; returns the problems found (empty: the release holds)."""
    release = Path(release)
    problems: list[str] = []
    try:
        manifest = read_manifest(release)
    except (OSError, ValueError) as exc:
        return [f"no readable {MANIFEST}: {exc}"]
    try:
        rule = rule_from_name(manifest["disclosure_rule"]["name"])
        listed: dict = manifest["files"]
        tables: dict = manifest["tables"]
    except (KeyError, TypeError, ValueError) as exc:
        return [f"{MANIFEST} is incomplete: {exc}"]

    present = {p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file()} - {MANIFEST}
    for name in sorted(present - set(listed)):
        problems.append(f"{name} is not in the manifest")
    for name in sorted(set(listed) - present):
        problems.append(f"{name} is in the manifest but not in the folder")
    for name in sorted(present & set(listed)):
        if sha256_of(release / name) != listed[name].get("sha256"):
            problems.append(f"{name}: sha256 differs from the manifest")
    for name in (DICTIONARY, README):
        if name not in present:
            problems.append(f"no {name}")

    header_of: dict[str, list[str]] = {}
    for table, info in tables.items():
        csv_path, parquet_path = release / f"{table}.csv", release / f"{table}.parquet"
        if not csv_path.is_file() or not parquet_path.is_file():
            problems.append(f"{table}: CSV or Parquet file missing")
            continue
        try:
            header, columns = _read_csv_columns(csv_path)
        except (pa.ArrowException, UnicodeDecodeError, ValueError) as exc:
            problems.append(f"{table}.csv cannot be read: {exc}")
            continue
        header_of[table] = header
        parquet = pq.read_table(parquet_path)
        rows = len(columns[0]) if columns else 0
        if rows != info.get("rows") or parquet.num_rows != info.get("rows"):
            problems.append(
                f"{table}: {rows} CSV rows and {parquet.num_rows} Parquet rows, manifest says {info.get('rows')}"
            )
            continue
        if header != parquet.column_names:
            problems.append(f"{table}: CSV header differs from the Parquet columns")
            continue
        counts = set(info.get("count_columns", [])) | (KNOWN_COUNT_COLUMNS & set(header))
        derived = set(info.get("derived_count_columns", [])) | (DERIVED_COUNT_COLUMNS & set(header))
        for index, column in enumerate(header):
            texts = columns[index]
            expected = column_texts(parquet.column(column))
            mismatched = 0
            if texts != expected:
                mismatched = sum(
                    1
                    for text, want in zip(texts, expected)
                    if text != want and not (column in counts and text == rule.suppressed_mark and want == "")
                )
            if column in counts or column in derived:
                for shown in sorted(set(texts) | set(expected)):
                    why = count_value_problem(shown, rule, derived=column in derived)
                    if why:
                        lines = [line for line, text in enumerate(texts, start=2) if text == shown][:5]
                        problems.append(
                            f"{table}.csv:{','.join(map(str, lines)) or 'parquet'}: {column} {why}, "
                            f"which breaks disclosure control"
                        )
            if mismatched:
                problems.append(f"{table}.{column}: {mismatched} CSV value(s) differ from the Parquet file")

    for path in sorted(release.rglob("*.csv")):  # any CSV, as the acceptance check reads them
        table = path.stem
        if table in tables or path.name == DICTIONARY:
            continue
        rows = _read_csv(path)
        for index, column in enumerate(rows[0] if rows else []):
            if column in KNOWN_COUNT_COLUMNS:
                for line, row in enumerate(rows[1:], start=2):
                    why = count_value_problem(row[index] if index < len(row) else "", rule)
                    if why:
                        problems.append(f"{path.name}:{line}: {column} {why}")

    if (release / DICTIONARY).is_file():
        rows = _read_csv(release / DICTIONARY)
        if not rows or rows[0] != DICTIONARY_COLUMNS:
            problems.append(f"{DICTIONARY}: header is not {','.join(DICTIONARY_COLUMNS)}")
        else:
            described = {(r[0], r[1]) for r in rows[1:] if len(r) == 4 and r[3].strip()}
            for table, header in header_of.items():
                missing = [c for c in header if (table, c) not in described]
                if missing:
                    problems.append(f"{DICTIONARY} does not describe {table}: {', '.join(missing)}")
    return problems


# ---------------------------------------------------------------------------------------------
# Releases in a folder


def latest_release(dest_root: Path) -> Path | None:
    """The newest published release under `dest_root` (greatest name; staging folders ignored)."""
    root = Path(dest_root)
    if not root.is_dir():
        return None
    releases = sorted(
        p for p in root.iterdir() if p.is_dir() and _ID_PATTERN.match(p.name) and (p / MANIFEST).is_file()
    )
    return releases[-1] if releases else None


def same_as_latest(dest_root: Path, fingerprint: str) -> bool:
    """True when the latest release has this content fingerprint (see the module docstring)."""
    latest = latest_release(dest_root)
    if latest is None:
        return False
    try:
        return read_manifest(latest).get("content_fingerprint") == fingerprint
    except (OSError, ValueError):
        return False


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
# Building


def build_release(
    source_db: Path,
    dest_root: Path,
    tables: Mapping[str, TableSpec] | None = None,
    dictionary: pd.DataFrame | None = None,
    submissions: pd.DataFrame | None = None,
    rule: DisclosureRule | str = "msds",
    code_version: str = "unknown",
    created_at: datetime | None = None,
    *,
    synthetic: bool = False,
    skip_if_unchanged: bool = True,
    statistics: Callable[..., pd.DataFrame] | None = None,
) -> Path:
    """Build, check and publish one evaluation release; returns its folder (see the module docstring).

    tables: None = `RELEASE_TABLES`. dictionary (table, column, type, meaning) and submissions
    are required. synthetic: the README says the data are synthetic. skip_if_unchanged (default):
    when the latest release has the same content fingerprint, publish nothing and return the
    latest release's folder. statistics: the add_statistics function for gap_metrics tables
    (default publish.gap_metrics.add_statistics). Raises ReleaseError, leaving nothing behind,
    if anything fails.
    """
    if dictionary is None or submissions is None:
        raise ReleaseError("a release needs its data dictionary and the list of submissions")
    tables = RELEASE_TABLES if tables is None else tables
    rule = rule_from_name(rule)
    created = _utc(created_at)
    dest_root = Path(dest_root)
    if not tables:
        raise ReleaseError("no tables to release")

    problems: list[str] = []
    submission_records = _submission_records(submissions, problems)
    frames, measures = _read_marts(Path(source_db), tables, problems)
    extracts = []
    for name, (frame, schema) in frames.items():
        extract = _protect(name, tables[name], frame, schema, rule, measures, statistics, problems)
        if extract is not None:
            extracts.append(extract)
    dictionary_rows = _dictionary_rows(extracts, dictionary, problems)
    if problems:
        raise ReleaseError("release not built: " + "; ".join(problems))

    dest_root.mkdir(parents=True, exist_ok=True)
    release_id, staging = _allocate(dest_root, created)
    try:
        file_hashes: dict[str, str] = {}

        def put(name: str, data: bytes) -> None:
            _write_bytes(staging / name, data)
            file_hashes[name] = hashlib.sha256(data).hexdigest()

        for extract in extracts:
            put(f"{extract.name}.parquet", _parquet_bytes(extract.table))
            put(f"{extract.name}.csv", _extract_csv(extract, rule))
        put(DICTIONARY, _csv_bytes([DICTIONARY_COLUMNS, *dictionary_rows]))
        fingerprint = _fingerprint(file_hashes, rule, submission_records)
        if skip_if_unchanged and same_as_latest(dest_root, fingerprint):
            shutil.rmtree(staging)
            return latest_release(dest_root)

        created_text = created.isoformat(timespec="seconds").replace("+00:00", "Z")
        described = {row[0]: row[3] for row in dictionary_rows if row[1] == ""}
        put(
            README,
            _readme(
                release_id, created_text, code_version, rule, extracts, submission_records, synthetic, described
            ).encode("utf-8"),
        )
        manifest = {
            "release_id": release_id,
            "created_at": created_text,
            "code_version": code_version,
            "synthetic": bool(synthetic),
            "source_database": Path(source_db).name,
            "disclosure_rule": {"name": rule.name, "description": rule.description},
            "content_fingerprint": fingerprint,
            "tables": {
                e.name: {
                    "rows": e.table.num_rows,
                    "files": [f"{e.name}.parquet", f"{e.name}.csv"],
                    "key": list(e.spec.sort_keys),
                    "count_columns": list(e.count_columns),
                    "derived_count_columns": list(e.derived_columns),
                    "withheld_columns": list(e.spec.withheld_columns),
                }
                for e in extracts
            },
            "submissions": submission_records,
            "files": {
                name: {"sha256": digest, "bytes": (staging / name).stat().st_size}
                for name, digest in sorted(file_hashes.items())
            },
        }
        _write_bytes(staging / MANIFEST, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
        _fsync_dir(staging)

        problems = check_release(staging)
        if problems:
            raise ReleaseError(
                f"release {release_id} failed its checks: "
                + "; ".join(problems[:50])
                + (f" (and {len(problems) - 50} more)" if len(problems) > 50 else "")
            )
        final = dest_root / release_id
        if final.exists():
            raise ReleaseError(f"{final} appeared while the release was being built")
        os.rename(staging, final)
        _fsync_dir(dest_root)
        return final
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, ReleaseError) or not isinstance(exc, Exception):
            raise
        raise ReleaseError(f"release {release_id} not published: {exc}") from exc
