"""The parser: a site's monthly return (CSV or Excel) -> typed rows in the long format, and problems.

    parse_file(path, ref, today) -> ParsedFile
    parse_files(paths, ref, today) -> list[ParsedFile]   # same result, shares caches across files

Plain Python, no orchestration. It refuses only what stops it from typing the rows faithfully;
what the contract forbids but can be checked on typed rows (unknown site or measure, invalid ethnic
category, negative counts, numerator above denominator, repeated keys, future months) is left to
the structural suite: the parser normalises what it recognises and passes the rest through,
stripped, so that the suite can name it.

Rule codes (stable; see PARSER_RULES):

errors (the file is refused)
    not_csv_or_excel     content is neither comma-separated text nor an .xlsx workbook (by magic
                         bytes, not by name): PDF, image, zip that is not a workbook, Word, HTML, UTF-16
    empty_file           no bytes, only blank space, an empty sheet, or a header without data rows
    unreadable_workbook  a damaged/truncated workbook, a password-protected (encrypted) workbook or
                         an Excel 97-2003 .xls (both OLE2 files)
    no_header            no row among the first 20 non-blank rows names at least 4 of the 6 columns
    missing_column       a header was found but one of the 6 columns is absent (one problem each)
    duplicate_column     two columns of the header mean the same contract column (e.g. num, numerator)
    duplicate_header     the header row appears again among the data rows (two files pasted together)
    data_above_header    a row above the header holds a month and a count (it would otherwise be
                         skipped as a title row)
    ragged_row           (CSV) a data row has more cells than the header (typically an unquoted
                         1,234 splitting a count in two) or fewer (a cut-off row)
    invalid_period       a period that is empty or not one of the accepted formats (ingest.cells)
    invalid_count        a numerator/denominator that is not a whole number (empty is fine: <NA>)
    several_sites        more than one site in the file (compared upper-cased, stripped)
    personal_data        a date of birth/postcode/NHS number column header, or any cell holding an
                         NHS number (Modulus 11) or a full postcode (ingest.pii); the value is never
                         echoed, and no rows are returned for such a file
    internal_error       the parser itself failed (a bug): the file is refused rather than the run
                         crashing; should never happen (the property tests look for it)
warnings (reported, the file is still loaded)
    name_mismatch        the file name's site or month disagrees with the content
    unexpected_file_name the name is not <SITE>_<YYYY-MM>[_suffix].csv|.xlsx, or its extension
                         disagrees with the content (an .xlsx named .csv)
    not_utf8             a CSV not in UTF-8, read as Windows-1252

Choices made here:

* A period on any real day maps to its month (`2024-03-15`, `15/03/2024`); see ingest.cells for
  all accepted formats. Years before 2000 are refused.
* Blank rows, and rows whose six contract cells are all blank (a note in an extra column), are
  skipped. A blank site or measure cell is passed through as "" (the structural suite refuses it as
  unknown); a blank ethnic category means '99' as the contract says.
* A refused file still gets its rows (cells that could not be typed are <NA>/NaT) so that the
  structural suite can report its other problems in the same reason file, except after
  no_header/missing_column/duplicate_column (no rows can be built) and personal_data (nothing
  from the file is passed on).
* At most 25 problems of one rule in one column are itemised; one more problem then says how many
  further rows have it.
* `source_row` is the row number in Excel (for a CSV: the record number, which is the line number
  unless a quoted cell spans lines). Problems use the same numbers.
* `today` is not used by any parser rule (future months are the structural suite's); it is part of
  the signature so that callers need not change if one ever needs it.
* A file that cannot be read from disk (OSError) raises: that is the environment's problem, not the
  site's.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ingest.cells import cell_text, parse_count, parse_period
from ingest.parsed import ROW_DTYPES, ParsedFile, empty_rows
from ingest.pii import find_nhs_numbers, find_postcodes, header_personal_kind, redact
from ingest.problems import Problem
from ingest.readers import Grid, ReadFailure, read_grid
from ingest.reference import Reference, squash

REQUIRED: tuple[str, ...] = ("site_code", "period", "measure_code", "ethnic_category", "numerator", "denominator")
ALIASES: dict[str, tuple[str, ...]] = {
    "site_code": ("site_code", "site", "org_code", "provider_code"),
    "period": ("period", "month", "reporting_period", "period_start"),
    "measure_code": ("measure_code", "measure", "indicator"),
    "ethnic_category": ("ethnic_category", "ethnicity", "ethnic_code", "ethnic_group"),
    "numerator": ("numerator", "num", "events", "count"),
    "denominator": ("denominator", "denom", "population", "total"),
}
HEADER_LOOKUP: dict[str, str] = {squash(a): f for f, names in ALIASES.items() for a in names}
HEADER_SEARCH_ROWS = 20
MIN_HEADER_MATCHES = 4
MAX_PROBLEMS_PER_COLUMN = 25

PARSER_RULES: dict[str, str] = {
    "not_csv_or_excel": "the file is neither comma-separated text nor an Excel .xlsx workbook",
    "empty_file": "the file, or its data sheet, holds no data rows",
    "unreadable_workbook": "the workbook is damaged, password-protected, or an old .xls",
    "no_header": "no header row naming the contract's columns in the first 20 rows",
    "missing_column": "a contract column is missing from the header",
    "duplicate_column": "two header cells name the same contract column",
    "duplicate_header": "the header row is repeated among the data rows",
    "data_above_header": "a row above the header row holds data",
    "ragged_row": "a CSV row has more or fewer cells than the header",
    "invalid_period": "a period is not a month in an accepted format",
    "invalid_count": "a numerator or denominator is not a whole number",
    "several_sites": "the file holds more than one site",
    "personal_data": "the file holds what identifies a person (NHS number, date of birth, postcode)",
    "internal_error": "the parser failed on this file (a bug in the warehouse, not in the file)",
    "name_mismatch": "warning: the file name's site or month disagrees with the content",
    "unexpected_file_name": "warning: the file name does not follow <SITE>_<YYYY-MM>.csv|.xlsx",
    "not_utf8": "warning: the CSV is not UTF-8 and was read as Windows-1252",
}
WARNING_RULES = frozenset({"name_mismatch", "unexpected_file_name", "not_utf8"})

FILE_NAME = re.compile(r"(?P<site>[A-Za-z0-9]+)_(?P<year>\d{4})-(?P<month>\d{2})(?:_.+)?\.(?P<ext>csv|xlsx)", re.I)
FIELD_LABEL = {
    "site_code": "site",
    "period": "period",
    "measure_code": "measure",
    "ethnic_category": "ethnic category",
    "numerator": "numerator",
    "denominator": "denominator",
}
_MISSING = object()


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _is_blank(value: object) -> bool:
    if value.__class__ is str:
        return not value.strip()  # type: ignore[attr-defined]
    return value is None


def _key(value: object) -> object:
    # 1, 1.0 and True are equal as dict keys but not as cells
    return value if value.__class__ is str else (value.__class__, value)


class _Normaliser:
    """Per-distinct-value caches, shared by all files of one parse_files call."""

    def __init__(self, ref: Reference):
        self.ethnic_lookup = ref.ethnic_lookup()
        self.caches: dict[str, dict] = {"upper": {}, "ethnic": {}, "period": {}, "count": {}, "pii": {}}

    def map(self, name: str, values: list[object], fn: Callable[[object], object], text_only: bool = False) -> list:
        """fn(value) for each value, computed once per distinct value (and cached across files)."""
        cache = self.caches[name]
        if text_only:  # CSV: every cell is a str, the key is the text itself
            for v in set(values).difference(cache):
                cache[v] = fn(v)
            return list(map(cache.__getitem__, values))
        out = []
        append = out.append
        get = cache.get
        for v in values:
            k = _key(v)
            r = get(k, _MISSING)
            if r is _MISSING:
                r = cache[k] = fn(v)
            append(r)
        return out

    @staticmethod
    def upper(value: object) -> str:
        return cell_text(value).strip().upper()

    def ethnic(self, value: object) -> str:
        text = cell_text(value).strip()
        return self.ethnic_lookup.get(squash(text), text)

    def pii_kind(self, value: object) -> str | None:
        k = _key(value)
        cache = self.caches["pii"]
        r = cache.get(k, _MISSING)
        if r is _MISSING:
            r = None
            if not isinstance(value, bool) and isinstance(value, (str, int, float)):
                text = cell_text(value)
                if find_nhs_numbers(text):
                    r = "NHS number"
                elif value.__class__ is str and find_postcodes(text):
                    r = "postcode"
            cache[k] = r
        return r


class _Problems:
    """Collects a file's problems, itemising at most MAX_PROBLEMS_PER_COLUMN per rule and column."""

    def __init__(self, file_name: str):
        self.file_name = file_name
        self.items: list[Problem] = []
        self.counts: Counter = Counter()

    def add(
        self,
        rule: str,
        message: str,
        row: int | None = None,
        column: str | None = None,
        value: str | None = None,
        severity: str = "error",
        capped: bool = False,
    ) -> None:
        if capped:
            self.counts[(rule, column)] += 1
            if self.counts[(rule, column)] > MAX_PROBLEMS_PER_COLUMN:
                return
        self.items.append(Problem(self.file_name, rule, message, row, column, value, severity))  # type: ignore[arg-type]

    def finish(self) -> list[Problem]:
        for (rule, column), n in self.counts.items():
            if n > MAX_PROBLEMS_PER_COLUMN:
                where = f"column '{column}'" if column else "the file"
                self.items.append(
                    Problem(
                        self.file_name,
                        rule,
                        f"{n - MAX_PROBLEMS_PER_COLUMN} more rows in {where} have the same problem (not listed one by one).",
                        None,
                        column,
                        None,
                        "warning" if rule in WARNING_RULES else "error",
                    )
                )
        return self.items


def _sentence(label: str, error: str) -> str:
    if error.startswith("expected"):
        return f"The {label} is not valid: {error}."
    return f"The {label} {error}."


def _file_name_parts(name: str) -> tuple[str | None, date | None, str | None]:
    m = FILE_NAME.fullmatch(name)
    if not m:
        return None, None, None
    month = int(m["month"])
    when = date(int(m["year"]), month, 1) if 1 <= month <= 12 else None
    return m["site"].upper(), when, m["ext"].lower()


def _find_header(
    rows: list[list[object]],
    lookup: dict[str, str] = HEADER_LOOKUP,
    full: int = len(REQUIRED),
    minimum: int = MIN_HEADER_MATCHES,
) -> tuple[int | None, int, int | None]:
    """(index of the header row or None, its score, index of the best row seen). `lookup` maps squashed
    header spellings to columns (the return's by default; ingest.report passes the report's)."""
    best_index, best_score, seen = None, 0, 0
    for i, row in enumerate(rows):
        if all(_is_blank(c) for c in row):
            continue
        seen += 1
        if seen > HEADER_SEARCH_ROWS:
            break
        fields = {lookup.get(squash(cell_text(c))) for c in row if not _is_blank(c)}
        fields.discard(None)
        if len(fields) > best_score:
            best_index, best_score = i, len(fields)
            if best_score == full:
                break
    if best_score >= minimum:
        return best_index, best_score, best_index
    return None, best_score, best_index


def _other_delimiter(rows: list[list[object]]) -> str | None:
    for row in rows[:HEADER_SEARCH_ROWS]:
        for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars")):
            for cell in row:
                if isinstance(cell, str) and sep in cell:
                    parts = {HEADER_LOOKUP.get(squash(p)) for p in cell.split(sep)}
                    parts.discard(None)
                    if len(parts) >= MIN_HEADER_MATCHES:
                        return name
    return None


def _expected_header() -> str:
    return "; ".join(f"{f} (or {', '.join(a for a in ALIASES[f][1:])})" for f in REQUIRED)


def _scan_personal_data(
    grid: Grid, header_index: int | None, names: dict[int, str], norm: _Normaliser, problems: _Problems
) -> set[str]:
    """Adds personal_data problems; returns the texts found (to be kept out of every other problem)."""
    rows = grid.rows
    if header_index is not None:
        for j, cell in enumerate(rows[header_index]):
            kind = header_personal_kind(cell_text(cell)) if not _is_blank(cell) else None
            if kind:
                problems.add(
                    "personal_data",
                    (
                        f"This column's header looks like a {kind} column. Returns must hold aggregate counts only, "
                        "nothing that identifies a person: please remove the column and send the file again. "
                        "The file is kept in quarantine only."
                    ),
                    header_index + 1,
                    names.get(j, f"column {column_letter(j)}"),
                )
    distinct: set = set()
    for row in rows:
        distinct.update(row)
    distinct.discard("")
    flagged = {}
    for v in distinct:
        # an NHS number needs 10 digits and a postcode 6 characters: skip the short cells quickly
        if v.__class__ is str:
            if len(v) < 6:
                continue
        elif v.__class__ in (int, float):
            if not 1e9 <= abs(v) < 1e10:
                continue
        else:
            continue
        kind = norm.pii_kind(v)
        if kind:
            flagged[_key(v)] = kind
    if not flagged:
        return set()
    found: dict[int, list] = {}  # column -> [kind, first row, count]
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            if v == "" or v.__class__ is bool:
                continue
            kind = flagged.get(_key(v))
            if kind:
                entry = found.setdefault(j, [kind, i + 1, 0])
                entry[2] += 1
    for j, (kind, first_row, count) in sorted(found.items()):
        # named by its header only below the header row (a title row's cell is not in that column's data)
        column = names.get(j) if (header_index is not None and first_row > header_index + 1) else None
        what = "10-digit values passing the NHS number check" if kind == "NHS number" else "full UK postcodes"
        problems.add(
            "personal_data",
            (
                f"Column {column_letter(j)} holds {count} cell(s) with {what} (the first at row {first_row}; "
                "the values are not repeated here). Returns must hold aggregate counts only, nothing that "
                "identifies a person: please remove them and send the file again. The file is kept in quarantine only."
            ),
            first_row,
            column,
        )
    return {cell_text(k if k.__class__ is str else k[1]) for k in flagged}


def _redact(problems: list[Problem], found: set[str]) -> list[Problem]:
    """Keep what identifies a person out of every other problem's message, value and column."""
    if not found:
        return problems
    pattern = re.compile("|".join(re.escape(t) for t in sorted(found, key=len, reverse=True) if t), re.I)

    def clean(text: str | None) -> str | None:
        return None if text is None else redact(pattern.sub("[removed]", text))

    out = []
    for p in problems:
        if p.rule == "personal_data":
            out.append(p)
            continue
        value = p.value if p.value is None or clean(p.value) == p.value else None
        out.append(Problem(p.file_name, p.rule, clean(p.message) or "", p.row, clean(p.column), value, p.severity))
    return out


def _extra_names(headers: list[str], columns: list[int]) -> list[str]:
    names, seen = [], Counter()
    for j in columns:
        base = headers[j] if j < len(headers) and headers[j] else f"column {column_letter(j)}"
        seen[base] += 1
        names.append(base if seen[base] == 1 else f"{base} ({seen[base]})")
    return names


Columns = dict[str, list]


def _parse_grid(
    path: Path, grid: Grid, norm: _Normaliser, problems: _Problems
) -> tuple[Columns | None, list[str], list[date], set[str]]:
    """(the rows' columns as lists or None, distinct sites in order, months, personal texts found)."""
    name = path.name
    rows = grid.rows
    header_index, score, best = _find_header(rows)
    headers: list[str] = [cell_text(c).strip() for c in rows[header_index]] if header_index is not None else []
    names = {j: h for j, h in enumerate(headers) if h}
    found = _scan_personal_data(grid, header_index, names, norm, problems)

    if header_index is None:
        hint = _other_delimiter(rows) if grid.kind == "csv" else None
        if hint:
            message = (
                f"The file seems to use {hint} between values; the warehouse reads comma-separated files. "
                "Please save it as 'CSV UTF-8 (comma delimited)'."
            )
        else:
            message = (
                f"No header row found in the first {HEADER_SEARCH_ROWS} rows: expected a row naming at least "
                f"{MIN_HEADER_MATCHES} of the columns {_expected_header()}."
            )
            if best is not None and score:
                message += f" The closest was row {best + 1}, naming {score}."
        problems.add("no_header", message, best + 1 if best is not None and score else None)
        return None, [], [], found

    header_row = header_index + 1
    field_cols: dict[str, list[int]] = {f: [] for f in REQUIRED}
    for j, h in enumerate(headers):
        f = HEADER_LOOKUP.get(squash(h)) if h else None
        if f:
            field_cols[f].append(j)
    broken = False
    for f in REQUIRED:
        cols = field_cols[f]
        if not cols:
            broken = True
            problems.add(
                "missing_column",
                (
                    f"The header (row {header_row}) has no {FIELD_LABEL[f]} column: expected a column headed "
                    f"{f} or one of {', '.join(ALIASES[f][1:])}."
                ),
                header_row,
            )
        for j in cols[1:]:
            broken = True
            problems.add(
                "duplicate_column",
                (
                    f"Columns '{headers[cols[0]]}' and '{headers[j]}' both give the {FIELD_LABEL[f]}; "
                    "expected one column each: please keep one of them."
                ),
                header_row,
                headers[j],
            )
    if broken:
        return None, [], [], found

    idx = [field_cols[f][0] for f in REQUIRED]
    required_set = set(idx)
    # rows above the header are title rows; one holding a month and a count is data that would be lost
    for i in range(header_index):
        row = rows[i]
        cells = [row[j] if j < len(row) else "" for j in idx]
        if parse_period(cells[1])[0] is not None and any(
            n is not None and error is None for n, error in (parse_count(cells[4]), parse_count(cells[5]))
        ):
            problems.add(
                "data_above_header",
                (
                    f"This row, above the header row (row {header_row}), looks like data (a month and a count); "
                    "expected only title rows above the header: please move it below the header."
                ),
                i + 1,
                capped=True,
            )
    width = max((j + 1 for j, h in enumerate(headers) if h), default=0)
    data_rows: list[int] = []
    for i in range(header_index + 1, len(rows)):
        row = rows[i]
        n = len(row)
        for j in idx:
            if j < n and not _is_blank(row[j]):
                data_rows.append(i)
                break
    if not data_rows:
        problems.add(
            "empty_file", f"The file has a header row (row {header_row}) but no data rows below it.", header_row
        )
        return None, [], [], found

    # every column that is not one of the six and has a header or a value below the header
    max_width = max(len(rows[i]) for i in data_rows)
    extra_idx = [
        j
        for j in range(max(max_width, len(headers)))
        if j not in required_set
        and (
            (j < len(headers) and headers[j]) or any(j < len(rows[i]) and not _is_blank(rows[i][j]) for i in data_rows)
        )
    ]
    if grid.kind == "csv":
        for i in data_rows:
            row = rows[i]
            n = len(row)
            if n < width or any(not _is_blank(c) for c in row[width:]):
                more = sum(1 for c in row[width:] if not _is_blank(c))
                detail = (
                    f"has {n} cells but the header has {width}. Perhaps a count such as 1,234 was written "
                    "without quotes, so its comma split it across two cells; expected one value per column"
                    if n > width and more
                    else f"has {n} cells but the header has {width}; expected one value per column (is the row cut off?)"
                )
                problems.add("ragged_row", f"This row {detail}.", i + 1, capped=True)
        extra_idx = [j for j in extra_idx if j < width] if width else extra_idx

    def column(f: str) -> list[object]:
        j = field_cols[f][0]
        return [rows[i][j] if j < len(rows[i]) else "" for i in data_rows]

    raw = {f: column(f) for f in REQUIRED}
    text_only = grid.kind == "csv"
    periods = norm.map("period", raw["period"], parse_period, text_only)

    # a repeated header row among the data: its period cell is never a valid month
    repeated: set[int] = set()
    for k, (_month, error) in enumerate(periods):
        if error is not None:
            row = rows[data_rows[k]]
            hits = sum(
                1 for f, j in zip(REQUIRED, idx) if j < len(row) and HEADER_LOOKUP.get(squash(cell_text(row[j]))) == f
            )
            if hits >= MIN_HEADER_MATCHES:
                repeated.add(k)
                problems.add(
                    "duplicate_header",
                    (
                        f"The header row is repeated here (first at row {header_row}); expected data rows only. "
                        "Were two files pasted together?"
                    ),
                    data_rows[k] + 1,
                    capped=True,
                )
    if repeated:
        keep = [k for k in range(len(data_rows)) if k not in repeated]
        data_rows = [data_rows[k] for k in keep]
        raw = {f: [vals[k] for k in keep] for f, vals in raw.items()}
        periods = [periods[k] for k in keep]
        if not data_rows:
            return None, [], [], found

    source_rows = [i + 1 for i in data_rows]
    header_of = {f: headers[field_cols[f][0]] for f in REQUIRED}

    for k, (_month, error) in enumerate(periods):
        if error is not None:
            problems.add(
                "invalid_period",
                _sentence("period", error),
                source_rows[k],
                header_of["period"],
                cell_text(raw["period"][k]).strip(),
                capped=True,
            )
    counts = {}
    for f in ("numerator", "denominator"):
        parsed = norm.map("count", raw[f], parse_count, text_only)
        for k, (_n, error) in enumerate(parsed):
            if error is not None:
                problems.add(
                    "invalid_count",
                    _sentence(FIELD_LABEL[f], error),
                    source_rows[k],
                    header_of[f],
                    cell_text(raw[f][k]).strip(),
                    capped=True,
                )
        counts[f] = [n for n, _ in parsed]

    sites = norm.map("upper", raw["site_code"], norm.upper, text_only)
    measures = norm.map("upper", raw["measure_code"], norm.upper, text_only)
    ethnic = norm.map("ethnic", raw["ethnic_category"], norm.ethnic, text_only)

    distinct_sites: dict[str, int] = {}
    for k, s in enumerate(sites):
        if s and s not in distinct_sites:
            distinct_sites[s] = k
    if len(distinct_sites) > 1:
        listed = ", ".join(distinct_sites)
        for _s, k in list(distinct_sites.items())[1:]:
            problems.add(
                "several_sites",
                (
                    f"The file holds more than one site ({listed}); expected one site per file: "
                    "please send a separate file for each site."
                ),
                source_rows[k],
                header_of["site_code"],
                cell_text(raw["site_code"][k]).strip(),
            )

    if extra_idx:
        extra_names = _extra_names(headers, extra_idx)
        extras: list[str | None] = []
        for i in data_rows:
            row = rows[i]
            n = len(row)
            extras.append(
                json.dumps(
                    {nm: (cell_text(row[j]) if j < n else "") for nm, j in zip(extra_names, extra_idx)},
                    ensure_ascii=False,
                )
            )
    else:
        extras = [None] * len(data_rows)

    columns = {
        "file_name": [name] * len(data_rows),
        "source_row": source_rows,
        "site_code": sites,
        "month_start_date": [m for m, _ in periods],
        "measure_code": measures,
        "ethnic_code": ethnic,
        "numerator": counts["numerator"],
        "denominator": counts["denominator"],
        "extra_columns": extras,
    }
    months = sorted({m for m, _ in periods if m is not None})
    return columns, list(distinct_sites), months, found


def _parse(path: Path, norm: _Normaliser, data: bytes | None = None) -> tuple[ParsedFile, Columns | None]:
    """The file's ParsedFile with its rows not yet built, and the rows' columns (None: no rows).
    ``data``: the file's bytes when the caller has read them already (else they are read here)."""
    name = path.name
    data = path.read_bytes() if data is None else data
    name_site, name_month, name_ext = _file_name_parts(name)
    problems = _Problems(name)
    name_months = [name_month] if name_month else []
    try:
        grid = read_grid(data, name)
    except ReadFailure as failure:
        problems.add(failure.rule, failure.message)
        return ParsedFile(
            path=path,
            rows=None,
            problems=problems.finish(),
            site_code=name_site,  # type: ignore[arg-type]
            months=name_months,
        ), None

    problems.items.extend(grid.warnings)
    try:
        columns, sites, months, found = _parse_grid(path, grid, norm, problems)
    except Exception as exc:  # noqa: BLE001 - a bug must quarantine one file, not stop the run
        problems.add(
            "internal_error",
            (
                f"The warehouse's parser failed on this file ({type(exc).__name__}); this is a fault in the "
                "warehouse, not necessarily in the file. The file is kept in quarantine; please tell the warehouse team."
            ),
        )
        return ParsedFile(
            path=path,
            rows=None,
            problems=problems.finish(),
            site_code=name_site,  # type: ignore[arg-type]
            months=name_months,
        ), None

    if name_site is None:
        problems.add(
            "unexpected_file_name",
            (
                "The file name does not follow the convention: expected <SITE>_<YYYY-MM>.csv or .xlsx "
                "(e.g. BARTS_2024-03.csv, optionally with a suffix such as _v2). The content decides what it holds."
            ),
            severity="warning",
        )
    elif name_ext != grid.kind:
        problems.add(
            "unexpected_file_name",
            (
                f"The file is named .{name_ext} but holds {'an Excel workbook' if grid.kind == 'xlsx' else 'CSV text'}; "
                f"expected the .{grid.kind} extension. It was read by its content."
            ),
            severity="warning",
        )

    if len(sites) == 1:
        site_code = sites[0]
        if name_site is not None and name_site != site_code:
            problems.add(
                "name_mismatch",
                (
                    f"The file name says site {name_site} but the file holds site {site_code}; expected them to agree. "
                    "The content is what counts."
                ),
                severity="warning",
                value=name_site,
            )
    elif sites:
        site_code = name_site if name_site in sites else sites[0]
    else:
        site_code = name_site
    if months and name_month is not None and name_month not in months:
        held = ", ".join(m.strftime("%Y-%m") for m in months)
        problems.add(
            "name_mismatch",
            (
                f"The file name says {name_month:%Y-%m} but the file holds {held}; expected them to agree. "
                "The content is what counts."
            ),
            severity="warning",
            value=f"{name_month:%Y-%m}",
        )

    items = _redact(problems.finish(), found)
    if found or any(p.rule == "personal_data" for p in items):
        columns = None  # nothing from a file holding personal data is passed on
    return ParsedFile(
        path=path,
        rows=None,
        problems=items,
        site_code=site_code,  # type: ignore[arg-type]
        months=months or name_months,
    ), columns


def _frame(columns: Columns) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "file_name": pd.array(columns["file_name"], dtype=ROW_DTYPES["file_name"]),
            "source_row": np.array(columns["source_row"], dtype=ROW_DTYPES["source_row"]),
            "site_code": pd.array(columns["site_code"], dtype=ROW_DTYPES["site_code"]),
            "month_start_date": np.array(columns["month_start_date"], dtype=ROW_DTYPES["month_start_date"]),
            "measure_code": pd.array(columns["measure_code"], dtype=ROW_DTYPES["measure_code"]),
            "ethnic_code": pd.array(columns["ethnic_code"], dtype=ROW_DTYPES["ethnic_code"]),
            "numerator": pd.array(columns["numerator"], dtype=ROW_DTYPES["numerator"]),
            "denominator": pd.array(columns["denominator"], dtype=ROW_DTYPES["denominator"]),
            "extra_columns": pd.array(columns["extra_columns"], dtype=ROW_DTYPES["extra_columns"]),
        },
        copy=False,
    )


def _attach_rows(parsed: list[tuple[ParsedFile, Columns | None]]) -> list[ParsedFile]:
    """Build every file's rows with ONE DataFrame construction, then slice it per file: building a
    small DataFrame costs ~0.4 ms, which would be most of the time at national scale."""
    with_rows = [(p, c) for p, c in parsed if c is not None]
    if len(with_rows) == 1:
        with_rows[0][0].rows = _frame(with_rows[0][1])
    elif with_rows:
        merged: Columns = {c: [] for c in ROW_DTYPES}
        bounds = []
        for _, columns in with_rows:
            start = len(merged["source_row"])
            for c, values in columns.items():
                merged[c].extend(values)
            bounds.append((start, len(merged["source_row"])))
        big = _frame(merged)
        for (p, _), (a, b) in zip(with_rows, bounds):
            p.rows = big.iloc[a:b].reset_index(drop=True)
    for p, columns in parsed:
        if columns is None:
            p.rows = empty_rows()
    return [p for p, _ in parsed]


def parse_file(path: Path, ref: Reference, today: date) -> ParsedFile:
    """Parse one received file. Never raises on bad content; raises OSError if it cannot be read."""
    return _attach_rows([_parse(Path(path), _Normaliser(ref))])[0]


def parse_files(
    paths: Sequence[Path], ref: Reference, today: date, contents: Sequence[bytes] | None = None
) -> list[ParsedFile]:
    """Parse many files, in order, sharing the per-distinct-value caches and building all rows at once.
    ``contents``: the files' bytes, one per path, when already read (ingest hashes and keeps the same bytes)."""
    norm = _Normaliser(ref)
    if contents is None:
        return _attach_rows([_parse(Path(p), norm) for p in paths])
    return _attach_rows([_parse(Path(p), norm, data) for p, data in zip(paths, contents, strict=True)])
