"""The monthly report (data contract, "The monthly report"): what each site tested, beside its numbers.

    parse_report(path, ref, today, sheet=None) -> ParsedReport
    parse_with_reports(paths, ref, today, contents=None) -> list[ParsedFile]   # the returns' parser, plus reports

A report comes as its own file, `<SITE>_<YYYY-MM>_report.csv|xlsx` (recognised by the `_report` after the
month in its name; any suffix after that, e.g. `_report_v2.csv`), or as a sheet named `report` in the
monthly workbook. One row per change: site_code, period, measure_code (empty: the site's work as a whole),
change_idea (at most 120 characters), pdsa_stage (plan, do, study, act, adopt, adapt, abandon; any case),
narrative (at most 2,000 characters, may be empty). Headers match as the return's do (the parser's header
search and spellings: ingest.parse); the measure_code and narrative columns may be left out (empty).

Rules (stable codes, as the return's where the rule is the same): not_csv_or_excel, empty_file,
unreadable_workbook, no_header, missing_column, duplicate_column, invalid_period, future_period,
unknown_site, unknown_measure, several_sites, and for reports only:

    invalid_pdsa_stage   a stage that is not one of the seven
    missing_change_idea  a row with no change idea (a row is one change: it needs its title)
    text_too_long        a change idea over 120 or a narrative over 2,000 characters
    duplicate_change     two rows for the same site, month, measure and change idea
    personal_data        any cell, anywhere in the report (title rows, header, data, extra columns), holding
                         an NHS number, a date of birth, a postcode, an e-mail address or a UK telephone
                         number (ingest.pii.free_text_personal_kinds). The reason names the row and column and
                         the kind, never the value; no other problem of that report is listed, so no value of
                         it is echoed anywhere.

A refused report loads none of its rows and does not refuse the numbers beside it, nor the reverse.
Values of the free-text columns (change_idea, narrative) are never repeated in a problem.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ingest.cells import cell_text, parse_period
from ingest.parse import ALIASES, MAX_PROBLEMS_PER_COLUMN, _find_header, _is_blank, column_letter, parse_files
from ingest.parsed import ParsedFile, empty_rows
from ingest.pii import free_text_personal_kinds
from ingest.problems import Problem
from ingest.readers import REPORT_SHEET, ZIP_SIGNATURE, ReadFailure, read_grid, sheet_index
from ingest.reference import Reference, squash

REPORT_COLUMNS: tuple[str, ...] = ("site_code", "period", "measure_code", "change_idea", "pdsa_stage", "narrative")
REQUIRED_REPORT_COLUMNS = ("site_code", "period", "change_idea", "pdsa_stage")
REPORT_ALIASES: dict[str, tuple[str, ...]] = {
    "site_code": ALIASES["site_code"],
    "period": ALIASES["period"],
    "measure_code": ALIASES["measure_code"],
    "change_idea": ("change_idea",),
    "pdsa_stage": ("pdsa_stage",),
    "narrative": ("narrative",),
}
REPORT_HEADER_LOOKUP: dict[str, str] = {squash(a): f for f, names in REPORT_ALIASES.items() for a in names}
PDSA_STAGES = ("plan", "do", "study", "act", "adopt", "adapt", "abandon")
MAX_CHANGE_IDEA = 120
MAX_NARRATIVE = 2000
REPORT_FILE_NAME = re.compile(r"[A-Za-z0-9]+_\d{4}-\d{2}_report(?:_[^.]*)?\.(?:csv|xlsx)", re.I)

REPORT_RULES: dict[str, str] = {
    "invalid_pdsa_stage": "report: a PDSA stage is not plan, do, study, act, adopt, adapt or abandon",
    "missing_change_idea": "report: a row has no change idea",
    "text_too_long": "report: a change idea over 120 or a narrative over 2,000 characters",
    "duplicate_change": "report: two rows for the same site, month, measure and change idea",
    "personal_data": "report: free text holding an NHS number, date of birth, postcode, e-mail address or "
    "telephone number (kept in quarantine only, the value never repeated)",
}
_LABEL = {
    "site_code": "site",
    "period": "period",
    "measure_code": "measure",
    "change_idea": "change idea",
    "pdsa_stage": "PDSA stage",
    "narrative": "narrative",
}


@dataclass
class ParsedReport:
    """One report (a report file, or the `report` sheet of a monthly workbook) after parsing and checking."""

    path: Path
    sheet: str | None = None  # "report" for a workbook's report sheet; None for a report file
    rows: list[dict] = field(default_factory=list)  # the accepted rows ([] when refused)
    problems: list[Problem] = field(default_factory=list)
    site_code: str | None = None
    months: list[date] = field(default_factory=list)

    @property
    def source(self) -> str:
        return self.path.name if self.sheet is None else f"{self.path.name} (sheet '{self.sheet}')"

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def accepted(self) -> bool:
        return not self.errors

    @property
    def personal_data(self) -> bool:
        return any(p.rule == "personal_data" for p in self.problems)


def is_report_file(name: str) -> bool:
    """`<SITE>_<YYYY-MM>_report[_suffix].csv|xlsx`: a report sent as its own file."""
    return REPORT_FILE_NAME.fullmatch(name) is not None


class _Collector:
    def __init__(self, source: str):
        self.source = source
        self.items: list[Problem] = []
        self.counts: dict[tuple[str, str | None], int] = {}

    def add(self, rule: str, message: str, row: int | None = None, column: str | None = None, value=None) -> None:
        key = (rule, column)
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.counts[key] == MAX_PROBLEMS_PER_COLUMN + 1:
            self.items.append(Problem(self.source, rule, "More rows have the same problem (not listed).", None, column))
        if self.counts[key] <= MAX_PROBLEMS_PER_COLUMN:
            self.items.append(Problem(self.source, rule, message, row, column, value))


def _scan_personal_data(rows: list[list[object]], header_index: int | None, names: dict[int, str], out: _Collector):
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            if _is_blank(cell) or isinstance(cell, bool):
                continue
            kinds = free_text_personal_kinds(cell_text(cell))
            if kinds:
                below_header = header_index is not None and i > header_index
                column = names.get(j) if below_header else None
                out.add(
                    "personal_data",
                    (
                        f"The cell in column {column_letter(j)} holds what looks like {' and '.join(kinds)} "
                        "(not repeated here). A report must not identify a patient: please remove it and send the "
                        "report again. The report is kept in quarantine only and none of it was loaded; the numbers "
                        "sent beside it are not affected."
                    ),
                    i + 1,
                    column or f"column {column_letter(j)}",
                )


def _check_grid(rows: list[list[object]], ref: Reference, today: date, out: _Collector) -> list[dict]:
    """The report's rows as dicts, adding every problem to `out` (nothing is returned once one is found)."""
    header_index, score, best = _find_header(rows, REPORT_HEADER_LOOKUP, len(REPORT_COLUMNS), 3)
    headers = [cell_text(c).strip() for c in rows[header_index]] if header_index is not None else []
    names = {j: h for j, h in enumerate(headers) if h}
    _scan_personal_data(rows, header_index, names, out)
    if out.items:  # personal data: nothing else is said about the report, so none of its values is echoed
        return []
    if header_index is None:
        out.add(
            "no_header",
            "No header row found in the first 20 rows: expected a row naming the report's columns "
            + ", ".join(REPORT_COLUMNS)
            + ".",
            best + 1 if best is not None and score else None,
        )
        return []
    header_row = header_index + 1
    cols: dict[str, list[int]] = {f: [] for f in REPORT_COLUMNS}
    for j, h in enumerate(headers):
        f = REPORT_HEADER_LOOKUP.get(squash(h)) if h else None
        if f:
            cols[f].append(j)
    for f in REQUIRED_REPORT_COLUMNS:
        if not cols[f]:
            out.add(
                "missing_column",
                f"The header (row {header_row}) has no {_LABEL[f]} column: expected a column headed "
                + " or ".join(REPORT_ALIASES[f])
                + ".",
                header_row,
            )
    for f in REPORT_COLUMNS:
        for j in cols[f][1:]:
            out.add(
                "duplicate_column",
                f"Columns '{headers[cols[f][0]]}' and '{headers[j]}' both give the {_LABEL[f]}; expected one.",
                header_row,
                headers[j],
            )
    if out.items:
        return []
    index = {f: (cols[f][0] if cols[f] else None) for f in REPORT_COLUMNS}

    def cell(row: list[object], f: str) -> object:
        j = index[f]
        return row[j] if j is not None and j < len(row) else ""

    data = [
        (i + 1, rows[i])
        for i in range(header_index + 1, len(rows))
        if any(not _is_blank(cell(rows[i], f)) for f in REPORT_COLUMNS)
    ]
    if not data:
        out.add("empty_file", f"The report has a header row (row {header_row}) but no rows below it.", header_row)
        return []
    head = {f: headers[j] for f, j in index.items() if j is not None}
    current_month = today.replace(day=1)
    result, sites, seen = [], {}, {}
    for row_number, row in data:
        site = cell_text(cell(row, "site_code")).strip().upper()
        if site not in ref.site_codes:
            out.add(
                "unknown_site",
                "The site is not a LAN site code (dbt_project/reference/lan_sites.csv).",
                row_number,
                head["site_code"],
                site,
            )
        elif site not in sites:
            sites[site] = row_number
        month, error = parse_period(cell(row, "period"))
        if error is not None:
            out.add(
                "invalid_period",
                f"The period is not valid: {error}.",
                row_number,
                head["period"],
                cell_text(cell(row, "period")).strip(),
            )
        elif month >= current_month:
            out.add(
                "future_period",
                f"The month {month:%Y-%m} has not ended; expected a month before {current_month:%Y-%m}.",
                row_number,
                head["period"],
                f"{month:%Y-%m}",
            )
        measure = cell_text(cell(row, "measure_code")).strip().upper() or None
        if measure is not None and measure not in ref.measure_codes:
            out.add(
                "unknown_measure",
                "The measure is not a LAN measure code (measures.csv); leave it empty for the site's work as a whole.",
                row_number,
                head["measure_code"],
                measure,
            )
        change_idea = cell_text(cell(row, "change_idea")).strip()
        if not change_idea:
            out.add(
                "missing_change_idea",
                "The change idea is empty; expected a short title of the change.",
                row_number,
                head["change_idea"],
            )
        elif len(change_idea) > MAX_CHANGE_IDEA:
            out.add(
                "text_too_long",
                f"The change idea has {len(change_idea)} characters; expected at most {MAX_CHANGE_IDEA}.",
                row_number,
                head["change_idea"],
            )
        stage_text = cell_text(cell(row, "pdsa_stage")).strip()
        stage = stage_text.lower()
        if stage not in PDSA_STAGES:
            out.add(
                "invalid_pdsa_stage",
                f"The PDSA stage is not valid: expected one of {', '.join(PDSA_STAGES)}.",
                row_number,
                head["pdsa_stage"],
                stage_text,
            )
        narrative = cell_text(cell(row, "narrative")).strip() if index["narrative"] is not None else ""
        if len(narrative) > MAX_NARRATIVE:
            out.add(
                "text_too_long",
                f"The narrative has {len(narrative)} characters; expected at most {MAX_NARRATIVE}.",
                row_number,
                head["narrative"],
            )
        key = (site, month, measure, change_idea.lower())
        if key in seen and change_idea and month is not None:
            out.add(
                "duplicate_change",
                f"This change is already reported for the same site, month and measure in row {seen[key]}; "
                "expected one row per change.",
                row_number,
                head["change_idea"],
            )
        seen.setdefault(key, row_number)
        result.append(
            {
                "source_row": row_number,
                "site_code": site,
                "month_start_date": month,
                "measure_code": measure,
                "change_idea": change_idea,
                "pdsa_stage": stage,
                "narrative": narrative or None,
            }
        )
    if len(sites) > 1:
        for site, row_number in list(sites.items())[1:]:
            out.add(
                "several_sites",
                f"The report holds more than one site ({', '.join(sites)}); expected one site per report.",
                row_number,
                head["site_code"],
                site,
            )
    return result


def parse_report(path: Path, ref: Reference, today: date, sheet: int | None = None, data: bytes | None = None):
    """Parse and check one report: a report file (`sheet` None: a workbook's `report` sheet if it has one,
    else its first sheet) or the sheet at index `sheet` of a monthly workbook. Never raises on bad content."""
    path = Path(path)
    data = path.read_bytes() if data is None else data
    if sheet is None:
        sheet = sheet_index(data, REPORT_SHEET)
        is_sheet = False
    else:
        is_sheet = True
    report = ParsedReport(path=path, sheet=REPORT_SHEET if is_sheet else None)
    out = _Collector(report.source)
    try:
        grid = read_grid(data, path.name, sheet)
        rows = _check_grid(grid.rows, ref, today, out)
    except ReadFailure as failure:
        out.add(failure.rule, failure.message)
        rows = []
    except Exception as exc:  # noqa: BLE001 - a bug must refuse one report, not stop the run
        out.add("internal_error", f"The warehouse failed to read this report ({type(exc).__name__}).")
        rows = []
    report.problems = out.items
    if not report.personal_data:
        sites = sorted({r["site_code"] for r in rows if r["site_code"] in ref.site_codes})
        report.site_code = sites[0] if len(sites) == 1 else None
        report.months = sorted({r["month_start_date"] for r in rows if r["month_start_date"] is not None})
    report.rows = rows if report.accepted else []
    return report


def _report_sheet(path: Path, ref: Reference, today: date, data: bytes) -> ParsedReport | None:
    """The `report` sheet of a monthly workbook (its bytes `data`), parsed, or None when it has none."""
    if not data.startswith(ZIP_SIGNATURE):
        return None
    index = sheet_index(data, REPORT_SHEET)
    return None if index is None else parse_report(path, ref, today, sheet=index, data=data)


def parse_with_reports(
    paths: Sequence[Path], ref: Reference, today: date, contents: Sequence[bytes] | None = None
) -> list[ParsedFile]:
    """Every file's ParsedFile, in order: returns as ingest.parse reads them, each with its `report` (the
    workbook's `report` sheet) when it has one; a report file as a ParsedFile with no rows whose problems
    are the report's (so it is kept in raw/ or quarantine/ by its report's outcome).
    ``contents``: the files' bytes, one per path, when already read (ingest hashes and keeps the same bytes)."""
    paths = [Path(p) for p in paths]
    data = list(contents) if contents is not None else [p.read_bytes() for p in paths]
    is_report = [is_report_file(p.name) for p in paths]
    returns = iter(
        parse_files(
            [p for p, r in zip(paths, is_report, strict=True) if not r],
            ref,
            today,
            [d for d, r in zip(data, is_report, strict=True) if not r],
        )
    )
    out = []
    for path, content, report_file in zip(paths, data, is_report, strict=True):
        if report_file:
            report = parse_report(path, ref, today, data=content)
            parsed = ParsedFile(
                path=path,
                rows=empty_rows(),
                problems=list(report.problems),
                site_code=report.site_code,
                months=report.months,
            )
        else:
            parsed = next(returns)
            report = _report_sheet(path, ref, today, content)
        parsed.report = report
        out.append(parsed)
    return out
