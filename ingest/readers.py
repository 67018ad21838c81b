"""Reading a received file's bytes into a grid of cells, whatever its name says.

The kind of file is decided by its content (magic bytes), never by its extension:

* `PK\\x03\\x04` (zip) holding `xl/workbook.xml` (or `xl/workbook.bin`) -> an Excel workbook, read with
  calamine (python-calamine directly: the engine pandas' `read_excel(engine="calamine")` uses, minus
  the DataFrame round trip). Cells calamine reads as empty although they are not (Excel error
  values such as #DIV/0!, formulas saved without their result) are put back as text, so that they
  are refused rather than read as "not submitted". The sheet named `data` (any case, surrounding spaces ignored) if there
  is one, else the first sheet. A damaged or truncated workbook -> `unreadable_workbook`; a zip
  that is not a workbook (OpenDocument, Word, a zipped CSV) -> `not_csv_or_excel`.
* `D0 CF 11 E0` (OLE2 compound file) -> refused as `unreadable_workbook`: it is either a
  password-protected (encrypted) .xlsx, whose streams are `EncryptionInfo`/`EncryptedPackage`, or
  an old Excel 97-2003 .xls (a `Workbook`/`Book` stream). The message says which and asks for an
  unprotected .xlsx or a CSV. (calamine could read most .xls files; the contract asks for .xlsx.)
  Other OLE2 files (Word .doc, Outlook .msg) -> `not_csv_or_excel`.
* a known binary signature (PDF, PNG, JPEG, GIF, gzip, 7z, RAR), NUL bytes (which includes UTF-16
  "Unicode text" exports) or many control characters -> `not_csv_or_excel`.
* an HTML or XML document (what some systems export under an .xls name) -> `not_csv_or_excel`.
* anything else is text, read as comma-separated CSV: UTF-8 with or without a byte-order mark.
  Text that is not valid UTF-8 is read as Windows-1252 (Excel's plain "CSV" save on Windows) with a
  `not_utf8` warning: codes and numbers are ASCII so this cannot change a count; only accented
  letters in extra columns could read differently. Bytes that are not even Windows-1252 ->
  `not_csv_or_excel`.
* zero bytes or only whitespace -> `empty_file`.

CSV cells are kept as `str` exactly as written; workbook cells as calamine gives them. Rows are
numbered as the analyst sees them: a CSV's n-th record is row n (Excel's view of a CSV), a sheet's
rows keep their sheet row numbers (calamine is asked not to skip leading empty rows or columns).
"""

from __future__ import annotations

import csv
import html
import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Literal

import python_calamine

from ingest.problems import Problem

Kind = Literal["csv", "xlsx"]

_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
)
_NOT_CONTROL = bytes(b for b in range(256) if b >= 0x20 or b in b"\t\n\r\x0b\x0c\x1a")
OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_SIGNATURE = b"PK\x03\x04"
SAVE_AS = "Please save it from Excel as an .xlsx workbook (no password) or as 'CSV UTF-8 (comma delimited)'."


class ReadFailure(Exception):
    """The file cannot be turned into a grid of cells at all."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule
        self.message = message


@dataclass
class Grid:
    """The cells of a file: `rows[i]` is the row numbered `i + 1` in Excel or a text editor."""

    kind: Kind
    rows: list[list[object]]
    sheet: str | None = None
    warnings: list[Problem] = field(default_factory=list)


def _utf16(name: str) -> bytes:
    return name.encode("utf-16-le")


def describe_ole2(data: bytes) -> tuple[str, str]:
    """(rule, message) for an OLE2 compound file, from the stream names in its directory."""
    if _utf16("EncryptedPackage") in data or _utf16("EncryptionInfo") in data:
        return "unreadable_workbook", (
            "This is a password-protected (encrypted) Excel workbook, which the warehouse cannot open. "
            "Please remove the password (File > Info > Protect Workbook > Encrypt with Password, clear it) "
            "and save as .xlsx, or save as 'CSV UTF-8 (comma delimited)'."
        )
    if _utf16("Workbook") in data or _utf16("Book") in data:
        return "unreadable_workbook", ("This is an old-format Excel 97-2003 (.xls) workbook. " + SAVE_AS)
    if _utf16("WordDocument") in data:
        return "not_csv_or_excel", "This is a Word document, not a CSV file or an Excel workbook. " + SAVE_AS
    if _utf16("__substg1.0_") in data:
        return "not_csv_or_excel", "This is a saved Outlook message, not a CSV file or an Excel workbook. " + SAVE_AS
    return "unreadable_workbook", (
        "This is a password-protected (encrypted) Excel workbook or an old Excel 97-2003 (.xls) file, "
        "which the warehouse cannot open. " + SAVE_AS
    )


def sniff(data: bytes) -> str:
    """'empty', 'zip', 'ole2', 'binary' or 'text', from the content only."""
    if not data.strip():
        return "empty"
    if data.startswith(ZIP_SIGNATURE):
        return "zip"
    if data.startswith(OLE2_SIGNATURE):
        return "ole2"
    if _binary_reason(data) is not None:
        return "binary"
    return "text"


def _binary_reason(data: bytes) -> str | None:
    for signature, what in _BINARY_SIGNATURES:
        if data.startswith(signature):
            return f"This is {what}, not a CSV file or an Excel workbook. " + SAVE_AS
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or (b"\x00" in data[:4096] and data[:2].count(b"\x00") == 1):
        return (
            "This file is saved as UTF-16 ('Unicode Text'), which the warehouse does not read. "
            "Please save it as 'CSV UTF-8 (comma delimited)'."
        )
    if b"\x00" in data:
        return "This file holds binary data (NUL bytes), not comma-separated text. " + SAVE_AS
    sample = data[:8192]
    controls = len(sample.translate(None, _NOT_CONTROL))
    if controls > max(2, len(sample) // 100):
        return "This file holds binary data, not comma-separated text. " + SAVE_AS
    return None


def read_grid(data: bytes, file_name: str = "", sheet: int | None = None) -> Grid:
    """The grid of cells in `data`, or ReadFailure(rule, message) when it has none. `sheet`: a workbook's
    sheet by index (default: the `data` sheet, else the first that is not the `report` sheet)."""
    kind = sniff(data)
    if kind == "empty":
        raise ReadFailure(
            "empty_file", "The file is empty (no bytes, or only blank space); expected a header row and data rows."
        )
    if kind == "zip":
        return _read_workbook(data, sheet)
    if kind == "ole2":
        raise ReadFailure(*describe_ole2(data))
    if kind == "binary":
        raise ReadFailure("not_csv_or_excel", _binary_reason(data) or "Not a CSV file or an Excel workbook.")
    return _read_csv(data, file_name)


# --- workbooks -------------------------------------------------------------------------------------


def _zip_kind(data: bytes) -> str:
    """'workbook', 'damaged_workbook', or a description of another zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
            mimetype = z.read("mimetype")[:100] if "mimetype" in names else b""
    except Exception:  # noqa: BLE001 - any failure to read the zip directory means it is damaged
        head = data[:65536]
        if b"xl/" in head or b"[Content_Types].xml" in head:
            return "damaged_workbook"
        return "a damaged zip archive"
    if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
        return "workbook"
    if b"opendocument.spreadsheet" in mimetype:
        return "an OpenDocument spreadsheet (.ods)"
    if "word/document.xml" in names:
        return "a Word document"
    if "ppt/presentation.xml" in names:
        return "a PowerPoint presentation"
    if "[Content_Types].xml" in names:
        return "damaged_workbook"
    return "a zip archive"


REPORT_SHEET = "report"  # the monthly report's sheet in a monthly workbook (ingest.report)


def _pick_sheet(names: list[str]) -> int:
    """The sheet named `data`, else the first sheet that is not the monthly report's."""
    for i, name in enumerate(names):
        if name.strip().lower() == "data":
            return i
    return next((i for i, name in enumerate(names) if name.strip().lower() != REPORT_SHEET), 0)


def sheet_index(data: bytes, wanted: str) -> int | None:
    """The index of the sheet named `wanted` (any case, surrounding spaces ignored) in an xlsx workbook, or
    None when `data` is not a readable workbook or has no such sheet."""
    if not data.startswith(ZIP_SIGNATURE) or _zip_kind(data) != "workbook":
        return None
    try:
        names = list(python_calamine.CalamineWorkbook.from_object(io.BytesIO(data)).sheet_names)
    except Exception:  # noqa: BLE001 - an unreadable workbook is the data parser's to report
        return None
    return next((i for i, name in enumerate(names) if name.strip().lower() == wanted), None)


def _read_workbook(data: bytes, index: int | None = None) -> Grid:
    kind = _zip_kind(data)
    if kind == "damaged_workbook":
        raise ReadFailure(
            "unreadable_workbook", "The Excel workbook is damaged or incomplete and cannot be opened. " + SAVE_AS
        )
    if kind != "workbook":
        raise ReadFailure("not_csv_or_excel", f"This is {kind}, not a CSV file or an Excel workbook. " + SAVE_AS)
    try:
        wb = python_calamine.CalamineWorkbook.from_object(io.BytesIO(data))
        names = list(wb.sheet_names)
        if not names:
            raise ReadFailure("empty_file", "The workbook has no sheets.")
        index = _pick_sheet(names) if index is None else index
        sheet = wb.get_sheet_by_index(index)
        rows = sheet.to_python(skip_empty_area=False)
    except ReadFailure:
        raise
    except BaseException as exc:  # calamine raises its own errors, and pyo3 panics are BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)):
            raise
        raise ReadFailure(
            "unreadable_workbook",
            "The Excel workbook is damaged, incomplete or protected and cannot be read "
            f"({type(exc).__name__}). " + SAVE_AS,
        ) from None
    _restore_hidden_cells(data, index, rows)
    if not any(any(c != "" for c in row) for row in rows):
        others = [n for i, n in enumerate(names) if i != index]
        hint = (
            (
                f" The data must be on a sheet named 'data' or on the first sheet (this workbook also has "
                f"{', '.join(repr(n) for n in others)})."
            )
            if others
            else ""
        )
        raise ReadFailure("empty_file", f"The sheet '{names[index]}' is empty.{hint}")
    return Grid(kind="xlsx", rows=rows, sheet=names[index])


_SHEET = re.compile(rb"<(?:\w+:)?sheet\b([^>]*)>")
_RELATIONSHIP = re.compile(rb"<(?:\w+:)?Relationship\b([^>]*)>")
_ATTRIBUTE = re.compile(rb'([\w:]+)\s*=\s*"([^"]*)"')
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*[^/>])?>(.*?)</(?:\w+:)?c>", re.S)
_VALUE = re.compile(rb"<(?:\w+:)?v\b[^>]*>(.*?)</(?:\w+:)?v>", re.S)
_FORMULA = re.compile(rb"<(?:\w+:)?f\b[^>]*>(.*?)</(?:\w+:)?f>", re.S)
_REF = re.compile(r"([A-Z]+)([0-9]+)")


def _sheet_part(z: zipfile.ZipFile, index: int) -> str | None:
    """The zip path of the index-th sheet (workbook order), from workbook.xml and its relationships."""
    sheets = _SHEET.findall(z.read("xl/workbook.xml"))
    if index >= len(sheets):
        return None
    rel_id = next((v for k, v in _ATTRIBUTE.findall(sheets[index]) if k.endswith(b":id")), None)
    for rel in _RELATIONSHIP.findall(z.read("xl/_rels/workbook.xml.rels")):
        attrs = dict(_ATTRIBUTE.findall(rel))
        if attrs.get(b"Id") == rel_id and b"Target" in attrs:
            target = attrs[b"Target"].decode()
            return target.lstrip("/") if target.startswith("/") else "xl/" + target
    return None


def _restore_hidden_cells(data: bytes, index: int, rows: list[list[object]]) -> None:
    """Put back what calamine reads as empty but is not: error cells (#DIV/0!, #N/A...) and formulas
    saved without their result (files written by scripts). Left empty they would read as 'not
    submitted'; as text they are refused with the cell named."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            part = _sheet_part(z, index)
            xml = z.read(part) if part else b""
    except Exception:  # noqa: BLE001 - calamine read the workbook; this is only a refinement
        return
    if b't="e"' not in xml and b"<f" not in xml and b":f" not in xml:
        return
    for attrs, content in _CELL.findall(xml):
        attr = dict(_ATTRIBUTE.findall(attrs or b""))
        ref = _REF.fullmatch(attr.get(b"r", b"").decode("ascii", "replace"))
        if not ref:
            continue
        value = _VALUE.search(content)
        if attr.get(b"t") == b"e" and value:
            text = html.unescape(value.group(1).decode("utf-8", "replace"))
        elif (formula := _FORMULA.search(content)) and not (value and value.group(1).strip()):
            text = "=" + html.unescape(formula.group(1).decode("utf-8", "replace"))
        else:
            continue
        r = int(ref.group(2)) - 1
        c = 0
        for ch in ref.group(1):
            c = c * 26 + ord(ch) - 64
        c -= 1
        while len(rows) <= r:
            rows.append([])
        row = rows[r]
        if len(row) <= c:
            row.extend([""] * (c + 1 - len(row)))
        if row[c] == "":
            row[c] = text


# --- CSV -------------------------------------------------------------------------------------------


def _looks_like_markup(text: str) -> bool:
    head = text[:2048].lstrip().lower()
    if not head.startswith("<"):
        return False
    return any(tag in head for tag in ("<html", "<table", "<?xml", "<!doctype", "<workbook", "<body"))


def _read_csv(data: bytes, file_name: str) -> Grid:
    warnings: list[Problem] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise ReadFailure(
                "not_csv_or_excel", "The file is not text in a known encoding (expected UTF-8). " + SAVE_AS
            ) from None
        warnings.append(
            Problem(
                file_name=file_name,
                rule="not_utf8",
                severity="warning",
                message=(
                    "The file is not UTF-8; it was read as Windows-1252 (Excel's plain 'CSV'). Counts and codes "
                    "are unaffected, but please use 'CSV UTF-8 (comma delimited)' next time."
                ),
            )
        )
    if not text.strip():
        raise ReadFailure("empty_file", "The file is empty (only blank space); expected a header row and data rows.")
    if _looks_like_markup(text):
        raise ReadFailure(
            "not_csv_or_excel",
            "This is a web page (HTML) or XML document, not a CSV file or an Excel workbook "
            "(some systems export HTML under an .xls name). " + SAVE_AS,
        )
    try:
        rows: list[list[object]] = list(csv.reader(io.StringIO(text, newline=None)))  # type: ignore[arg-type]
    except csv.Error as exc:
        raise ReadFailure(
            "not_csv_or_excel", f"The file cannot be read as comma-separated text ({exc}). " + SAVE_AS
        ) from None
    return Grid(kind="csv", rows=rows, warnings=warnings)
