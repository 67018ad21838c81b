"""A problem found in a site's file, worded so that the site's analyst can act on it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file. `error` refuses the file; `warning` is reported only.

    `rule` is a stable code (e.g. `unknown_site`) for machines; `message` says, in plain
    language, what was expected. `row` is the row number as the analyst sees it in Excel or a
    text editor (header row included), `column` the header as written in the file.
    """

    file_name: str
    rule: str
    message: str
    row: int | None = None
    column: str | None = None
    value: str | None = None
    severity: Severity = "error"

    def __str__(self) -> str:
        where = [self.file_name]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        if self.value is not None:
            where.append(f"value '{self.value}'")
        return f"{', '.join(where)}: {self.message}"

    def to_dict(self) -> dict:
        return asdict(self)
