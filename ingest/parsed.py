"""What parsing a site file yields: typed rows in the contract's long format, and its problems."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ingest.problems import Problem

if TYPE_CHECKING:
    from ingest.report import ParsedReport

# The long format every parsed file is turned into, and the dtypes the rest of the pipeline can rely on.
# `site_code`, `measure_code` and `ethnic_code` hold the normalised code when the value was recognised
# (upper case code; ethnic labels mapped to codes; blank/Not known -> '99'; Not stated -> 'Z'), and the
# value as written (stripped) when it was not, so that the structural suite can name it.
ROW_DTYPES: dict[str, str] = {
    "file_name": "string",
    "source_row": "int64",  # row number as seen in Excel / a text editor, header included
    "site_code": "string",
    "month_start_date": "datetime64[s]",  # first day of the month reported
    "measure_code": "string",
    "ethnic_code": "string",
    "numerator": "Int64",  # <NA> = not submitted (empty cell)
    "denominator": "Int64",
    "extra_columns": "string",  # JSON object of columns beyond the contract's, or <NA>
}
ROW_COLUMNS = list(ROW_DTYPES)
KEY_COLUMNS = ["site_code", "month_start_date", "measure_code", "ethnic_code"]


def empty_rows() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in ROW_DTYPES.items()})


@dataclass
class ParsedFile:
    """One received file after parsing. Refused when it has any error-severity problem."""

    path: Path
    rows: pd.DataFrame = field(default_factory=empty_rows)
    problems: list[Problem] = field(default_factory=list)
    site_code: str | None = None  # best effort: from the content, else the file name
    months: list[date] = field(default_factory=list)  # best effort: months the file holds
    report: ParsedReport | None = None  # its monthly report (a report file, or a workbook's report sheet)

    @property
    def file_name(self) -> str:
        return self.path.name

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def accepted(self) -> bool:
        return not self.errors
