"""Property tests: mangled versions of a valid file never crash the parser, and never give a wrong number.

A valid return is built as a grid, mangled (random cell replacements, shuffled header cells,
permuted or deleted columns, random title rows, duplicated/blank/ragged rows), written as CSV or
.xlsx, and for CSV possibly truncated or spattered with random bytes. Then:

* parse_file never raises and never reports `internal_error`;
* when it reports no error, every numerator and denominator equals the value written in the file
  at that row (in the column the file's header names so), every site equals the cell upper-cased,
  and every row below the header holding a contract value is returned (none silently dropped).

The oracle reads the written file independently: for CSV it re-reads the final bytes with the csv
module; for .xlsx it uses the grid given to openpyxl.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import openpyxl
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from ingest.parse import parse_file
from ingest.reference import load_reference, squash

REF = load_reference()
TODAY = date(2025, 6, 15)
HEADER = ["site_code", "period", "measure_code", "ethnic_category", "numerator", "denominator"]
ALIAS = {
    squash(a): f
    for f, names in {
        "site_code": ("site_code", "site", "org_code", "provider_code"),
        "period": ("period", "month", "reporting_period", "period_start"),
        "measure_code": ("measure_code", "measure", "indicator"),
        "ethnic_category": ("ethnic_category", "ethnicity", "ethnic_code", "ethnic_group"),
        "numerator": ("numerator", "num", "events", "count"),
        "denominator": ("denominator", "denom", "population", "total"),
    }.items()
    for a in names
}
ERROR = object()

INTERESTING = [
    "",
    " ",
    "2.5",
    "12.0",
    "1,234",
    "12,345,678",
    "*",
    "<5",
    "n/a",
    "-",
    "1e3",
    "  7 ",
    "0",
    "-4",
    "99",
    "007",
    "Not known",
    "White - British",
    "not stated",
    "2024-13",
    "Mar-2024",
    "01/03/2024",
    "March 2024",
    "2024-03-15",
    "9434765919",
    "943 476 5919",
    "E1 6AN",
    "BARTS",
    "elft",
    " barts ",
    "PPH1500",
    "num",
    "site",
    "Population",
    "\n",
    '"',
    ",",
    "1,2",
    "\u0661\u0662",
    "\u00a012",
    "١",
    "ZZZZ",
    "=1+1",
    "1 234",
    "+5",
    "0x10",
    "1_000",
]
cell_values = st.one_of(
    st.sampled_from(INTERESTING),
    st.text(max_size=10),
    st.integers(-5, 10**7).map(str),
    st.integers(0, 10**7).map(lambda n: f"{n:,}"),
    st.decimals(min_value=-1000, max_value=10**6, places=2, allow_nan=False).map(str),
)


def base_grid(data, excel: bool) -> list[list[object]]:
    n = data.draw(st.integers(1, 12), label="rows")
    measures = sorted(REF.measure_codes)
    grid: list[list[object]] = [list(HEADER)]
    separators = data.draw(st.booleans(), label="thousands separators")
    for k in range(n):
        den = data.draw(st.integers(0, 5000))
        num = data.draw(st.integers(0, den))
        period: object = "2024-03"
        if excel and data.draw(st.booleans()):
            period = datetime(2024, 3, 1)
        grid.append(
            [
                "BARTS",
                period,
                measures[k % len(measures)],
                REF.ethnic_codes[k % 18],
                num if excel else f"{num:,}" if separators else str(num),
                den if excel else f"{den:,}" if separators else str(den),
            ]
        )
    return grid


def mangle(data, grid: list[list[object]]) -> list[list[object]]:
    ops = data.draw(
        st.lists(
            st.sampled_from(
                [
                    "replace",
                    "replace",
                    "replace",
                    "shuffle_header",
                    "permute_columns",
                    "delete_column",
                    "rename_header",
                    "title_rows",
                    "duplicate_row",
                    "blank_row",
                    "ragged",
                    "extra_column",
                ]
            ),
            max_size=5,
        ),
        label="ops",
    )
    for op in ops:
        width = max(len(r) for r in grid)
        if op == "replace":
            r = data.draw(st.integers(0, len(grid) - 1))
            c = data.draw(st.integers(0, max(0, len(grid[r]) - 1)))
            if grid[r]:
                grid[r][c] = data.draw(cell_values)
        elif op == "shuffle_header":
            h = (
                next(i for i, r in enumerate(grid) if any(isinstance(x, str) and squash(x) in ALIAS for x in r))
                if any(any(isinstance(x, str) and squash(x) in ALIAS for x in r) for r in grid)
                else 0
            )
            grid[h] = data.draw(st.permutations(grid[h]))
        elif op == "permute_columns" and width:
            perm = data.draw(st.permutations(range(width)))
            grid = [[r[j] if j < len(r) else "" for j in perm] for r in grid]
        elif op == "delete_column" and width:
            c = data.draw(st.integers(0, width - 1))
            grid = [r[:c] + r[c + 1 :] for r in grid]
        elif op == "rename_header":
            c = data.draw(st.integers(0, width - 1)) if width else 0
            for r in grid:
                if any(isinstance(x, str) and squash(x) in ALIAS for x in r) and c < len(r):
                    field = ALIAS.get(squash(str(r[c])))
                    choices = [a for a, f in ALIAS.items() if f == field] or ["notes"]
                    r[c] = data.draw(st.sampled_from(choices)).upper().replace("_", " ")
                    break
        elif op == "title_rows":
            titles = data.draw(st.lists(st.lists(cell_values, min_size=1, max_size=3), min_size=1, max_size=4))
            grid = titles + grid
        elif op == "duplicate_row":
            r = data.draw(st.integers(0, len(grid) - 1))
            grid.insert(r, list(grid[r]))
        elif op == "blank_row":
            grid.insert(data.draw(st.integers(0, len(grid))), [])
        elif op == "ragged":
            r = data.draw(st.integers(0, len(grid) - 1))
            if data.draw(st.booleans()):
                grid[r] = grid[r] + data.draw(st.lists(cell_values, min_size=1, max_size=2))
            else:
                grid[r] = grid[r][: data.draw(st.integers(0, max(0, len(grid[r]) - 1)))]
        elif op == "extra_column":
            grid = [r + [data.draw(cell_values)] for r in grid]
    return grid


def to_csv_bytes(grid) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(
        [[x.strftime("%Y-%m-%d") if isinstance(x, datetime) else str(x) for x in r] for r in grid]
    )
    return buf.getvalue().encode("utf-8")


def mangle_bytes(data, raw: bytes) -> tuple[bytes, bool]:
    """(bytes, whether they were changed other than by a byte-order mark)."""
    ops = data.draw(st.lists(st.sampled_from(["truncate", "insert", "overwrite", "bom"]), max_size=2), label="byte ops")
    changed = False
    for op in ops:
        if op == "truncate":
            raw = raw[: data.draw(st.integers(0, len(raw)))]
        elif op == "insert":
            at = data.draw(st.integers(0, len(raw)))
            raw = raw[:at] + data.draw(st.binary(min_size=1, max_size=8)) + raw[at:]
        elif op == "overwrite" and raw:
            at = data.draw(st.integers(0, len(raw) - 1))
            junk = data.draw(st.binary(min_size=1, max_size=4))
            raw = raw[:at] + junk + raw[at + len(junk) :]
        elif op == "bom":
            raw = b"\xef\xbb\xbf" + raw
        changed = changed or op != "bom"
    return raw, changed


def expected_count(cell: object) -> object:
    """The whole number a cell holds, None when empty, ERROR otherwise (independent of ingest.cells)."""
    if cell is None:
        return None
    if isinstance(cell, bool):
        return ERROR
    if isinstance(cell, int):
        return cell
    if isinstance(cell, float):
        return int(cell) if cell.is_integer() else ERROR
    text = str(cell).strip()
    if text == "":
        return None
    if not re.fullmatch(r"[-0-9,.]+", text):
        return ERROR
    try:
        number = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return ERROR
    return int(number) if number == number.to_integral_value() else ERROR


def text_of(cell: object) -> str:
    if cell is None:
        return ""
    if isinstance(cell, datetime):
        return cell.strftime("%Y-%m-%d")
    return str(cell)


def oracle_header(grid) -> tuple[int, dict[str, int]]:
    """The header row (most contract columns named, earliest first, among the first 20 non-blank rows)."""
    best, best_fields, seen = None, {}, 0
    for i, r in enumerate(grid):
        if all(text_of(c).strip() == "" for c in r):
            continue
        seen += 1
        if seen > 20:
            break
        fields: dict[str, int] = {}
        for j, c in enumerate(r):
            f = ALIAS.get(squash(text_of(c)))
            if f and f not in fields:
                fields[f] = j
        if len(fields) > len(best_fields):
            best, best_fields = i, fields
    assert best is not None and len(best_fields) == 6, "accepted a file without a complete header"
    return best, best_fields


def check_numbers(result, grid) -> None:
    assert not any(p.rule == "internal_error" for p in result.problems), [str(p) for p in result.problems]
    event("refused: " + ", ".join(sorted({p.rule for p in result.errors})) if result.errors else "accepted")
    if result.errors:
        return
    h, cols = oracle_header(grid)
    rows = result.rows
    by_row = {int(r): k for k, r in enumerate(rows["source_row"])}
    assert len(by_row) == len(rows), "a source row appears twice"
    for f in ("numerator", "denominator"):
        got = rows[f].tolist()
        for source_row, k in by_row.items():
            cells = grid[source_row - 1]
            cell = cells[cols[f]] if cols[f] < len(cells) else None
            want = expected_count(cell)
            assert want is not ERROR, f"row {source_row}: accepted {cell!r} as a {f}"
            if want is None:
                assert got[k] is pd.NA, f"row {source_row}: {f} {got[k]!r} from empty {cell!r}"
            else:
                assert got[k] == want, f"row {source_row}: {f} {got[k]!r} but the file says {cell!r}"
    for source_row, k in by_row.items():
        cells = grid[source_row - 1]
        site = cells[cols["site_code"]] if cols["site_code"] < len(cells) else ""
        assert rows["site_code"][k] == text_of(site).strip().upper()
    # no row with a contract value is dropped
    for i in range(h + 1, len(grid)):
        if any(j < len(grid[i]) and text_of(grid[i][j]).strip() for j in cols.values()):
            assert i + 1 in by_row, f"row {i + 1} was dropped"
    assert all(source_row > h + 1 for source_row in by_row)


def read_back_csv(raw: bytes) -> list[list[str]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    return list(csv.reader(io.StringIO(text, newline=None)))


COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@settings(max_examples=300, **COMMON)
@given(data=st.data())
def test_mangled_csv(tmp_path: Path, data):
    grid = mangle(data, base_grid(data, excel=False))
    raw = to_csv_bytes(grid)
    # written by hand: no quotes, so a cell such as 1,234 splits in two. The analyst meant the grid,
    # so the grid stays the oracle (only cells with commas are affected when none holds " or a newline)
    by_hand = not any(ch in str(x) for r in grid for x in r for ch in '"\r\n') and data.draw(
        st.booleans(), label="written by hand"
    )
    if by_hand:
        raw = raw.replace(b'"', b"")
    raw, changed = mangle_bytes(data, raw)
    path = tmp_path / data.draw(st.sampled_from(["BARTS_2024-03.csv", "x.csv", "BARTS_2024-03.xlsx"]))
    path.write_bytes(raw)
    result = parse_file(path, REF, TODAY)
    if changed and not result.errors:
        grid = read_back_csv(raw)  # random bytes: what the file now says is all there is to compare with
    check_numbers(result, grid)


def clean_for_excel(value: object) -> object:
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        if value.startswith("="):
            value = "'" + value
    return value


@settings(max_examples=60, **COMMON)
@given(data=st.data())
def test_mangled_xlsx(tmp_path: Path, data):
    grid = mangle(data, base_grid(data, excel=True))
    if data.draw(st.booleans(), label="numbers as numbers"):
        grid = [
            [int(x) if isinstance(x, str) and re.fullmatch(r"-?[0-9]{1,12}", x.strip()) else x for x in r] for r in grid
        ]
    grid = [[clean_for_excel(x) for x in r] for r in grid]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = data.draw(st.sampled_from(["data", "Sheet1", "DATA"]))
    for r in grid:
        ws.append([x if x != "" else None for x in r])
    path = tmp_path / "BARTS_2024-03.xlsx"
    wb.save(path)
    if data.draw(st.sampled_from([False] * 7 + [True]), label="truncate"):  # sometimes cut off in transfer
        raw = path.read_bytes()
        path.write_bytes(raw[: data.draw(st.integers(0, len(raw)))])
    result = parse_file(path, REF, TODAY)
    check_numbers(result, grid)


@settings(max_examples=200, **COMMON)
@given(
    raw=st.one_of(
        st.binary(max_size=600),
        st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b),
        st.binary(max_size=200).map(lambda b: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b),
        st.text(max_size=300).map(lambda t: t.encode("utf-8")),
    )
)
def test_random_bytes_never_crash(tmp_path: Path, raw):
    path = tmp_path / "BARTS_2024-03.csv"
    path.write_bytes(raw)
    result = parse_file(path, REF, TODAY)
    assert not any(p.rule == "internal_error" for p in result.problems)
    assert list(result.rows.columns) == [
        "file_name",
        "source_row",
        "site_code",
        "month_start_date",
        "measure_code",
        "ethnic_code",
        "numerator",
        "denominator",
        "extra_columns",
    ]
