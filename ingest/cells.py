"""Turning one cell of a site file into a typed value: the period and count rules of the contract.

Pure functions, no pandas. The parser calls them once per DISTINCT cell value (text results are
cached), so their cost does not grow with the number of rows.

Cells come either from a CSV (always `str`) or from a workbook read by calamine (`str`, `int`,
`float`, `bool`, `datetime.date`, `datetime.datetime`, `datetime.time`, `datetime.timedelta`;
an empty cell is `""`).

Periods (`parse_period`) accepted, each meaning the month it falls in:

* `2024-03` (also `2024-3`)
* `2024-03-01`, and any real day of the month (`2024-03-15` means March 2024); a midnight time
  after it (`2024-03-01 00:00:00`, as pandas and some databases export dates) is tolerated
* `01/03/2024`: day first, any real day of the month (`15/03/2024` means March 2024)
* `Mar-2024`, `Mar 2024`, `March 2024`, `March-2024`, `Sept 2024`, any case
* an Excel date cell (calamine gives `date`/`datetime`), any day, time ignored
* an Excel number in the range of date serial numbers for 2000-01-01..2099-12-31 (a date cell
  whose number format calamine did not recognise as a date); read with the 1900 date system

Refused: years before 2000 (a typo such as `0224-03` would otherwise pass every later check),
two-digit years (`Mar-24` is what Excel writes for a date formatted `mmm-yy`; it is ambiguous),
month first (`03/01/2024` is read day first, so it means 3 January), impossible dates.

Counts (`parse_count`): whole numbers, optional minus sign (negatives are refused later by the
structural suite, not here), thousands separators as `1,234`, and a zero fraction as `12.0`
(what Excel and pandas write for whole numbers held as floats). Empty means not submitted.
Anything else (fractions, `*`, `<5`, `n/a`, scientific notation) is refused.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta
from functools import lru_cache

EARLIEST_YEAR = 2000
MAX_COUNT = 10**15  # beyond this a "count" is certainly a mistake (and would not fit safely in Int64 arithmetic)

_MONTH_NAMES = {
    "jan": 1,
    "january": 1,
    "feb": 2,
    "february": 2,
    "mar": 3,
    "march": 3,
    "apr": 4,
    "april": 4,
    "may": 5,
    "jun": 6,
    "june": 6,
    "jul": 7,
    "july": 7,
    "aug": 8,
    "august": 8,
    "sep": 9,
    "sept": 9,
    "september": 9,
    "oct": 10,
    "october": 10,
    "nov": 11,
    "november": 11,
    "dec": 12,
    "december": 12,
}

_ISO_MONTH = re.compile(r"(\d{4})-(\d{1,2})", re.ASCII)
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ]00:00(?::00(?:\.0+)?)?)?", re.ASCII)
_DMY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})", re.ASCII)
_NAMED = re.compile(r"([A-Za-z]+)[\s\-]+(\d{4})", re.ASCII)
_TWO_DIGIT_YEAR = re.compile(r"[A-Za-z]+[\s\-]+\d{2}|\d{1,2}/\d{1,2}/\d{2}", re.ASCII)
_COUNT = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.0*)?", re.ASCII)
_DECIMAL = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)?\.\d+", re.ASCII)

_EXCEL_ERRORS = frozenset(
    {
        "#NULL!",
        "#DIV/0!",
        "#VALUE!",
        "#REF!",
        "#NAME?",
        "#NUM!",
        "#N/A",
        "#GETTING_DATA",
        "#SPILL!",
        "#CALC!",
        "#FIELD!",
        "#BLOCKED!",
        "#CONNECT!",
        "#BUSY!",
        "#UNKNOWN!",
    }
)
_EXCEL_EPOCH = date(1899, 12, 30)
_SERIAL_MIN = (date(2000, 1, 1) - _EXCEL_EPOCH).days
_SERIAL_MAX = (date(2099, 12, 31) - _EXCEL_EPOCH).days

PERIOD_EXPECTED = (
    "expected a month as 2024-03, 2024-03-01, 01/03/2024 (day first), Mar-2024 or March 2024, or an Excel date cell"
)
COUNT_EXPECTED = "expected a whole number such as 12 or 1,234, or an empty cell if not submitted"


def cell_text(value: object) -> str:
    """A cell as the analyst would read it: text unchanged, whole floats without `.0`, dates in ISO."""
    if value.__class__ is str:
        return value  # type: ignore[return-value]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def _month_or_error(year: int, month: int, day: int = 1) -> tuple[date | None, str | None]:
    try:
        date(year, month, day)
    except ValueError:
        return None, f"is not a real date; {PERIOD_EXPECTED}"
    if year < EARLIEST_YEAR:
        return None, f"has the year {year}, before {EARLIEST_YEAR}; {PERIOD_EXPECTED}"
    return date(year, month, 1), None


@lru_cache(maxsize=65536)
def parse_period_text(text: str) -> tuple[date | None, str | None]:
    """(first day of the month, None) or (None, what was expected). Empty text is an error."""
    t = text.strip()
    if not t:
        return None, f"is empty; {PERIOD_EXPECTED}"
    m = _ISO_MONTH.fullmatch(t)
    if m:
        return _month_or_error(int(m[1]), int(m[2]))
    m = _ISO_DATE.fullmatch(t)
    if m:
        return _month_or_error(int(m[1]), int(m[2]), int(m[3]))
    m = _DMY.fullmatch(t)
    if m:
        return _month_or_error(int(m[3]), int(m[2]), int(m[1]))
    m = _NAMED.fullmatch(t)
    if m and m[1].lower() in _MONTH_NAMES:
        return _month_or_error(int(m[2]), _MONTH_NAMES[m[1].lower()])
    if _TWO_DIGIT_YEAR.fullmatch(t):
        return None, f"has a two-digit year, which is ambiguous; {PERIOD_EXPECTED}"
    return None, PERIOD_EXPECTED


def parse_period(value: object) -> tuple[date | None, str | None]:
    """A period cell (text, or an Excel date/datetime/serial number) -> its month."""
    if value.__class__ is str:
        return parse_period_text(value)  # type: ignore[arg-type]
    if isinstance(value, (datetime, date)):
        return _month_or_error(value.year, value.month)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if math.isfinite(value) and _SERIAL_MIN <= value <= _SERIAL_MAX:
            d = _EXCEL_EPOCH + timedelta(days=int(value))
            return date(d.year, d.month, 1), None
        return None, f"is a number, not a month; {PERIOD_EXPECTED}"
    return parse_period_text(cell_text(value))


@lru_cache(maxsize=65536)
def parse_count_text(text: str) -> tuple[int | None, str | None]:
    """(whole number or None when empty, None) or (None, what was expected)."""
    t = text.strip()
    if not t:
        return None, None
    if _COUNT.fullmatch(t):
        n = int(t.split(".", 1)[0].replace(",", ""))
        if abs(n) >= MAX_COUNT:
            return None, f"is too large to be a count; {COUNT_EXPECTED}"
        return n, None
    if _DECIMAL.fullmatch(t):
        return None, f"is not a whole number; {COUNT_EXPECTED}"
    if t.startswith("#") and t.upper() in _EXCEL_ERRORS:
        return None, f"is the Excel error {t}, not a number; {COUNT_EXPECTED}"
    if t.startswith("="):
        return None, (
            "is a formula whose result was not saved in the file; please open the file in Excel, "
            f"save it again (or paste the values), and send it; {COUNT_EXPECTED}"
        )
    if t.startswith(("*", "<", ">", "~")) or t.lower() in {"x", "c", "s", "supp", "suppressed", "redacted"}:
        return None, (
            "looks like a suppressed value; send the actual count (the warehouse applies its own "
            "disclosure control before publishing) or leave the cell empty if not submitted"
        )
    return None, COUNT_EXPECTED


def parse_count(value: object) -> tuple[int | None, str | None]:
    """A numerator/denominator cell -> whole number (None = empty = not submitted)."""
    if value.__class__ is str:
        return parse_count_text(value)  # type: ignore[arg-type]
    if isinstance(value, bool):
        return None, f"is TRUE/FALSE, not a number; {COUNT_EXPECTED}"
    if isinstance(value, int):
        if abs(value) >= MAX_COUNT:
            return None, f"is too large to be a count; {COUNT_EXPECTED}"
        return value, None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None, COUNT_EXPECTED
        if not value.is_integer():
            return None, f"is not a whole number; {COUNT_EXPECTED}"
        if abs(value) >= MAX_COUNT:
            return None, f"is too large to be a count; {COUNT_EXPECTED}"
        return int(value), None
    if isinstance(value, (date, time, timedelta)):
        return None, f"is a date or time, not a number; {COUNT_EXPECTED}"
    return parse_count_text(cell_text(value))
