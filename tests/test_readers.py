"""Reading bytes into cells: kind by content (magic bytes), encodings, sheets, and the OLE2 writer."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import struct
import zipfile

import openpyxl
import pytest

from ingest.readers import ReadFailure, read_grid, sniff
from tests.fixtures.bad_files import compound_file, encrypted_workbook_bytes

HEADER = "site_code,period,measure_code,ethnic_category,numerator,denominator"
ROW = "BARTS,2024-03,PPH1500,A,1,10"


def xlsx_bytes(sheets: dict[str, list[list[object]]]) -> bytes:
    wb = openpyxl.Workbook()
    for i, (name, rows) in enumerate(sheets.items()):
        ws = wb.active if i == 0 else wb.create_sheet()
        ws.title = name
        for row in rows:
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def failure(data: bytes) -> ReadFailure:
    with pytest.raises(ReadFailure) as info:
        read_grid(data)
    return info.value


# --- kind by content -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data,kind",
    [
        (b"", "empty"),
        (b"  \r\n\t\n", "empty"),
        (b"PK\x03\x04rest", "zip"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "ole2"),
        (b"%PDF-1.7\n", "binary"),
        (b"\x89PNG\r\n\x1a\n", "binary"),
        (b"a,b\x00,c\n", "binary"),
        (bytes(range(256)) * 4, "binary"),
        ((HEADER + "\n" + ROW).encode(), "text"),
        (b"\xef\xbb\xbf" + HEADER.encode(), "text"),
    ],
)
def test_sniff(data, kind):
    assert sniff(data) == kind


def test_csv_cells_are_text_as_written():
    grid = read_grid(f'{HEADER}\r\n{ROW}\r\n"BARTS"," 2024-03 ",PPH1500,A,"1,234",\r\n'.encode())
    assert grid.kind == "csv"
    assert grid.rows[0] == HEADER.split(",")
    assert grid.rows[1] == ROW.split(",")
    assert grid.rows[2] == ["BARTS", " 2024-03 ", "PPH1500", "A", "1,234", ""]
    assert grid.warnings == []


def test_bom_is_dropped():
    grid = read_grid(b"\xef\xbb\xbf" + f"{HEADER}\n{ROW}\n".encode())
    assert grid.rows[0][0] == "site_code"


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_line_endings(newline):
    grid = read_grid(newline.join([HEADER, ROW, ROW]).encode())
    assert len(grid.rows) == 3 and grid.rows[2] == ROW.split(",")


def test_cp1252_is_read_with_a_warning():
    grid = read_grid(f"{HEADER},notes\n{ROW},caf\xe9\n".encode("cp1252"), "x.csv")
    assert grid.rows[1][-1] == "caf\u00e9"
    assert [(w.rule, w.severity, w.file_name) for w in grid.warnings] == [("not_utf8", "warning", "x.csv")]


@pytest.mark.parametrize(
    "data,words",
    [
        (b"%PDF-1.4\n1 0 obj\n", "PDF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG"),
        (gzip.compress(HEADER.encode(), mtime=0), "gzip"),  # no timestamp: the same test id in every xdist worker
        (f"{HEADER}\n{ROW}\n".encode("utf-16"), "UTF-16"),
        (f"{HEADER}\n{ROW}\n".encode("utf-16-le"), "UTF-16"),
        (b"<html><body><table><tr><td>site</td></tr></table></body></html>", "HTML"),
        (b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"/>', "HTML"),
        (bytes(range(1, 32)) * 50, "binary"),
    ],
)
def test_not_csv_or_excel(data, words):
    f = failure(data)
    assert f.rule == "not_csv_or_excel"
    assert words in f.message


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, content in files.items():
            z.writestr(name, content)
    return buf.getvalue()


@pytest.mark.parametrize(
    "files,words",
    [
        ({"returns.csv": f"{HEADER}\n{ROW}\n".encode()}, "zip archive"),
        ({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<x/>"}, "OpenDocument"),
        ({"[Content_Types].xml": b"<x/>", "word/document.xml": b"<x/>"}, "Word"),
    ],
)
def test_zip_that_is_not_a_workbook(files, words):
    f = failure(_zip(files))
    assert f.rule == "not_csv_or_excel"
    assert words in f.message


def test_empty_files():
    assert failure(b"").rule == "empty_file"
    assert failure(b"\n\n   \r\n").rule == "empty_file"
    assert failure(b"\xef\xbb\xbf\r\n").rule == "empty_file"


# --- workbooks -------------------------------------------------------------------------------------


def test_sheet_named_data_any_case_wins():
    data = xlsx_bytes({"Cover": [["read me"]], " DATA ": [["site"], ["BARTS"]]})
    grid = read_grid(data)
    assert grid.kind == "xlsx" and grid.sheet == " DATA "
    assert grid.rows == [["site"], ["BARTS"]]


def test_first_sheet_without_a_data_sheet():
    grid = read_grid(xlsx_bytes({"Return": [["site"], ["BARTS"]], "Other": [["x"]]}))
    assert grid.sheet == "Return"


def test_rows_keep_their_sheet_numbers():
    wb = openpyxl.Workbook()
    wb.active["C4"] = "site"
    wb.active["C5"] = dt.datetime(2024, 3, 1)
    buf = io.BytesIO()
    wb.save(buf)
    grid = read_grid(buf.getvalue())
    assert grid.rows[3][2] == "site"  # row 4, column C
    assert grid.rows[4][2] == dt.date(2024, 3, 1)


def test_empty_sheet_names_the_other_sheets():
    f = failure(xlsx_bytes({"Sheet1": [], "Return": [["site"]]}))
    assert f.rule == "empty_file"
    assert "'Sheet1'" in f.message and "'Return'" in f.message


def test_truncated_workbook():
    data = xlsx_bytes({"data": [[HEADER]] * 50})
    f = failure(data[: len(data) // 2])
    assert f.rule == "unreadable_workbook"


def test_workbook_with_a_broken_part():
    data = xlsx_bytes({"data": [["site"], ["BARTS"]]})
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        for item in src.infolist():
            content = src.read(item)
            if item.filename.startswith("xl/worksheets/"):
                content = content[: len(content) // 2]
            dst.writestr(item, content)
    assert failure(buf.getvalue()).rule == "unreadable_workbook"


# --- OLE2: encrypted workbooks and .xls -------------------------------------------------------------


def test_encrypted_workbook_is_refused_as_unreadable():
    f = failure(encrypted_workbook_bytes())
    assert f.rule == "unreadable_workbook"
    assert "password" in f.message


def test_old_xls_is_refused_as_unreadable():
    f = failure(compound_file({"Workbook": b"\x09\x08" + b"\0" * 5000}))
    assert f.rule == "unreadable_workbook"
    assert "97-2003 (.xls)" in f.message and "encrypted" not in f.message


def test_word_document_is_not_a_workbook():
    assert failure(compound_file({"WordDocument": b"\0" * 5000})).rule == "not_csv_or_excel"


def _read_compound(data: bytes) -> dict[str, bytes]:
    """A minimal MS-CFB reader (version 3), independent of the writer, to check what it writes."""
    assert data[:8] == bytes.fromhex("D0CF11E0A1B11AE1")
    (minor, major, order, shift, mini_shift) = struct.unpack_from("<5H", data, 24)
    assert (major, order, shift, mini_shift) == (3, 0xFFFE, 9, 6)
    n_fat, dir_start, _, cutoff, minifat_start, n_minifat = struct.unpack_from("<IIIIII", data, 44)
    difat = struct.unpack_from("<109I", data, 76)[:n_fat]
    assert len(data) % 512 == 0

    def sector(n: int) -> bytes:
        return data[512 + n * 512 : 1024 + n * 512]

    fat = [x for s in difat for x in struct.unpack("<128I", sector(s))]

    def chain(start: int) -> bytes:
        out, seen = b"", set()
        while start != 0xFFFFFFFE:
            assert start not in seen
            seen.add(start)
            out += sector(start)
            start = fat[start]
        return out

    directory = chain(dir_start)
    entries = [struct.unpack_from("<64sHBBIII16sIQQIQ", directory, k) for k in range(0, len(directory), 128)]
    root = entries[0]
    assert root[2] == 5
    mini_stream = chain(root[11])[: root[12]]
    minifat = struct.unpack(f"<{n_minifat * 128}I", chain(minifat_start)) if n_minifat else ()

    def mini_chain(start: int) -> bytes:
        out = b""
        while start != 0xFFFFFFFE:
            out += mini_stream[start * 64 : start * 64 + 64]
            start = minifat[start]
        return out

    streams = {}
    seen_children = set()

    def walk(k: int) -> None:
        if k == 0xFFFFFFFF:
            return
        assert k not in seen_children
        seen_children.add(k)
        e = entries[k]
        name = e[0][: e[1] - 2].decode("utf-16-le")
        size = e[12]
        streams[name] = (mini_chain(e[11]) if size < cutoff else chain(e[11]))[:size]
        walk(e[4])
        walk(e[5])

    walk(root[6])
    return streams


def test_compound_file_writer_writes_a_readable_file():
    streams = {"EncryptionInfo": b"info" * 300, "EncryptedPackage": bytes(range(256)) * 40, "Tiny": b"x"}
    assert _read_compound(compound_file(streams)) == streams


def test_encrypted_workbook_has_the_office_layout():
    streams = _read_compound(encrypted_workbook_bytes())
    assert set(streams) == {"EncryptionInfo", "EncryptedPackage"}
    info = streams["EncryptionInfo"]
    assert struct.unpack_from("<HH", info) == (4, 4)  # agile encryption
    assert b"keyEncryptor" in info and b"SHA512" in info
    size = struct.unpack_from("<Q", streams["EncryptedPackage"])[0]
    assert len(streams["EncryptedPackage"]) >= 8 + size
