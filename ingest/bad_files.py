"""A corpus of bad site files: one per refusal reason of the whole contract.

    write_bad_files(dest, today) -> {key: path}
    python -m ingest.bad_files DEST [--today YYYY-MM-DD]

Each file is a complete, otherwise valid return (site BARTS, all 7 measures x 18 ethnic
categories, May 2024) with exactly one thing wrong, so that the only problem found is the intended
one. Keys are rule codes; BAD_FILE_RULES says which rule (and which stage) refuses each:

* parser rules (ingest.parse): the parser refuses the file with that rule;
* structural rules (the Great Expectations suite): the file parses with no parser error and the
  typed rows break the rule;
* `name_mismatch`: a good file under another site's name (a warning, the file is loaded);
* `encrypted_workbook`: refused as `unreadable_workbook`. Without msoffcrypto-tool a real
  encrypted .xlsx cannot be made here, so it is a structurally valid OLE2 compound file laid out
  like Office's encrypted package: an `EncryptionInfo` stream (version 4.4, an agile-encryption XML
  descriptor with random salts) and an `EncryptedPackage` stream (an 8-byte size then random bytes).
  It cannot be decrypted, by design; to readers it looks like a password-protected workbook.

* report stage: a monthly report file (ingest.report) refused with that rule; the returns are not affected.

Also used by the tests and the benchmark: `good_table`, `write_csv`, `write_xlsx`, `compound_file`.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import math
import os
import struct
from datetime import date
from pathlib import Path

from ingest.reference import Reference, load_reference

SITE = "BARTS"
MONTH = date(2024, 5, 1)
HEADER = ["site_code", "period", "measure_code", "ethnic_category", "numerator", "denominator"]

PARSER_RULES = (
    "not_csv_or_excel",
    "empty_file",
    "unreadable_workbook",
    "no_header",
    "missing_column",
    "duplicate_column",
    "duplicate_header",
    "data_above_header",
    "ragged_row",
    "invalid_period",
    "invalid_count",
    "several_sites",
    "personal_data",
)
STRUCTURAL_RULES = (
    "unknown_site",
    "unknown_measure",
    "invalid_ethnic_category",
    "negative_count",
    "numerator_above_denominator",
    "duplicate_key",
    "future_period",
)
# key -> (rule that refuses or flags the file, stage)
BAD_FILE_RULES: dict[str, tuple[str, str]] = {
    **{r: (r, "parser") for r in PARSER_RULES},
    "encrypted_workbook": ("unreadable_workbook", "parser"),
    **{r: (r, "structural") for r in STRUCTURAL_RULES},
    "name_mismatch": ("name_mismatch", "parser warning"),
    # monthly reports (ingest.report), sent as their own files: refused without touching any return
    "report_invalid_pdsa_stage": ("invalid_pdsa_stage", "report"),
    "report_personal_data": ("personal_data", "report"),
}
REPORT_HEADER = ["site_code", "period", "measure_code", "change_idea", "pdsa_stage", "narrative"]


def good_table(ref: Reference, site: str = SITE, month: date = MONTH) -> list[list[str]]:
    """Header + one row per measure and ethnic category, as text; numerator <= denominator, all >= 0."""
    rows = [list(HEADER)]
    seed = sum(map(ord, f"{site}{month:%Y-%m}"))
    for _m, measure in enumerate(sorted(ref.measure_codes)):
        for _e, code in enumerate(ref.ethnic_codes):
            seed = (seed * 1103515245 + 12345) % 2**31
            denominator = 5 + seed % 400 if code not in ("Z", "99") else seed % 6
            numerator = (seed // 400) % (denominator + 1)
            rows.append([site, f"{month:%Y-%m}", measure, code, str(numerator), str(denominator)])
    return rows


def write_csv(path: Path, rows: list[list[object]], encoding: str = "utf-8") -> Path:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, rows: list[list[object]], sheet: str = "data", before: tuple[str, ...] = ()) -> Path:
    """An .xlsx with `rows` on `sheet`; `before` names sheets put in front of it."""
    import openpyxl

    wb = openpyxl.Workbook()
    first = wb.active
    for i, name in enumerate(before):
        ws = first if i == 0 else wb.create_sheet(name)
        ws.title = name
        ws.append(["notes"])
    ws = wb.create_sheet(sheet) if before else first
    ws.title = sheet
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


# --- an OLE2 compound file (MS-CFB, version 3) -----------------------------------------------------

_END, _FREE, _FATSECT, _NOSTREAM = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF


def compound_file(streams: dict[str, bytes]) -> bytes:
    """A valid compound file (512-byte sectors) holding `streams` in its root storage."""
    sector, mini, cutoff = 512, 64, 4096
    mini_data = bytearray()
    mini_fat: list[int] = []
    placed: list[tuple[str, str, bytes]] = []  # (name, 'mini'|'big', data)
    mini_start: dict[str, int] = {}
    for name, data in streams.items():
        if len(data) < cutoff:
            first = len(mini_data) // mini
            count = max(1, math.ceil(len(data) / mini))
            mini_fat += [first + k + 1 for k in range(count - 1)] + [_END]
            mini_data += data + b"\0" * (count * mini - len(data))
            mini_start[name] = first
            placed.append((name, "mini", data))
        else:
            placed.append((name, "big", data))

    n_dir = math.ceil((len(streams) + 1) / 4)
    n_minifat = math.ceil(len(mini_fat) / 128) if mini_fat else 0
    n_ministream = math.ceil(len(mini_data) / sector)
    big_sizes = [math.ceil(len(d) / sector) for _, kind, d in placed if kind == "big"]
    body = n_dir + n_minifat + n_ministream + sum(big_sizes)
    n_fat = 1
    while n_fat * 128 < n_fat + body:
        n_fat += 1

    fat: list[int] = [_FATSECT] * n_fat

    def chain(count: int) -> int:
        start = len(fat)
        fat.extend([start + k + 1 for k in range(count - 1)] + [_END])
        return start

    dir_start = chain(n_dir)
    minifat_start = chain(n_minifat) if n_minifat else _END
    ministream_start = chain(n_ministream) if n_ministream else _END
    big_start: dict[str, int] = {}
    for name, kind, data in placed:
        if kind == "big":
            big_start[name] = chain(math.ceil(len(data) / sector))
    fat += [_FREE] * (n_fat * 128 - len(fat))

    def entry(name: str, kind: int, left: int, right: int, child: int, start: int, size: int) -> bytes:
        encoded = name.encode("utf-16-le") + b"\0\0"
        return struct.pack(
            "<64sHBBIII16sIQQIQ", encoded, len(encoded), kind, 1, left, right, child, b"\0" * 16, 0, 0, 0, start, size
        )

    # children of the root as a balanced binary tree, ordered by (name length, upper-case name)
    order = sorted(range(len(placed)), key=lambda k: (len(placed[k][0]), placed[k][0].upper()))
    links: dict[int, tuple[int, int]] = {}

    def tree(ids: list[int]) -> int:
        if not ids:
            return _NOSTREAM
        mid = len(ids) // 2
        links[ids[mid]] = (tree(ids[:mid]), tree(ids[mid + 1 :]))
        return ids[mid] + 1  # directory index (0 is the root)

    root_child = tree(order)
    directory = entry("Root Entry", 5, _NOSTREAM, _NOSTREAM, root_child, ministream_start, len(mini_data))
    for k, (name, kind, data) in enumerate(placed):
        left, right = links[k]
        start = mini_start[name] if kind == "mini" else big_start[name]
        directory += entry(name, 2, left, right, _NOSTREAM, start, len(data))
    empty = struct.pack("<64sHBBIII16sIQQIQ", b"", 0, 0, 0, _NOSTREAM, _NOSTREAM, _NOSTREAM, b"\0" * 16, 0, 0, 0, 0, 0)
    while len(directory) < n_dir * sector:
        directory += empty

    difat = list(range(n_fat)) + [_FREE] * (109 - n_fat)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        bytes.fromhex("D0CF11E0A1B11AE1"),
        b"\0" * 16,
        0x3E,
        3,
        0xFFFE,
        9,
        6,
        b"\0" * 6,
        0,
        n_fat,
        dir_start,
        0,
        cutoff,
        minifat_start,
        n_minifat,
        _END,
        0,
    )
    header += struct.pack("<109I", *difat)
    out = bytearray(header)
    out += struct.pack(f"<{len(fat)}I", *fat)
    out += directory
    if n_minifat:
        mf = mini_fat + [_FREE] * (n_minifat * 128 - len(mini_fat))
        out += struct.pack(f"<{len(mf)}I", *mf)
    out += mini_data + b"\0" * (n_ministream * sector - len(mini_data))
    for _name, kind, data in placed:
        if kind == "big":
            out += data + b"\0" * (math.ceil(len(data) / sector) * sector - len(data))
    return bytes(out)


def encrypted_workbook_bytes() -> bytes:
    """An OLE2 file shaped like a password-protected .xlsx (agile encryption); not decryptable."""
    b64 = lambda n: base64.b64encode(os.urandom(n)).decode()  # noqa: E731
    descriptor = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        '<encryption xmlns="http://schemas.microsoft.com/office/2006/encryption" '
        'xmlns:p="http://schemas.microsoft.com/office/2006/keyEncryptor/password">'
        f'<keyData saltSize="16" blockSize="16" keyBits="256" hashSize="64" cipherAlgorithm="AES" '
        f'cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512" saltValue="{b64(16)}"/>'
        f'<dataIntegrity encryptedHmacKey="{b64(64)}" encryptedHmacValue="{b64(64)}"/>'
        '<keyEncryptors><keyEncryptor uri="http://schemas.microsoft.com/office/2006/keyEncryptor/password">'
        f'<p:encryptedKey spinCount="100000" saltSize="16" blockSize="16" keyBits="256" hashSize="64" '
        f'cipherAlgorithm="AES" cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512" saltValue="{b64(16)}" '
        f'encryptedVerifierHashInput="{b64(16)}" encryptedVerifierHashValue="{b64(64)}" '
        f'encryptedKeyValue="{b64(32)}"/></keyEncryptor></keyEncryptors></encryption>'
    ).encode()
    info = struct.pack("<HHI", 4, 4, 0x40) + descriptor
    size = 9000
    package = struct.pack("<Q", size) + os.urandom(math.ceil(size / 16) * 16)
    return compound_file({"EncryptionInfo": info, "EncryptedPackage": package})


def _future_month(today: date) -> date:
    return date(today.year + (today.month == 12), today.month % 12 + 1, 1)


def write_bad_files(dest: Path, today: date) -> dict[str, Path]:
    """Writes the corpus into `dest` (created if needed); returns {key: path} (keys: BAD_FILE_RULES)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    ref = load_reference()
    good = good_table(ref)
    stem = f"{SITE}_{MONTH:%Y-%m}"
    out: dict[str, Path] = {}

    def variant(key: str, rows: list[list[object]]) -> None:
        out[key] = write_csv(dest / f"{stem}_{key}.csv", rows)

    def changed(row: int, col: int, value: str) -> list[list[object]]:
        rows = [list(r) for r in good]
        rows[row][col] = value
        return rows

    # --- the parser's own refusals
    out["not_csv_or_excel"] = dest / f"{stem}_not_csv_or_excel.csv"
    out["not_csv_or_excel"].write_bytes(
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )
    out["empty_file"] = dest / f"{stem}_empty_file.csv"
    out["empty_file"].write_bytes(b"")
    whole = write_xlsx(dest / f"{stem}_unreadable_workbook.xlsx", good)
    whole.write_bytes(whole.read_bytes()[:1500])  # cut off in transfer: the zip directory is gone
    out["unreadable_workbook"] = whole
    out["encrypted_workbook"] = dest / f"{stem}_encrypted_workbook.xlsx"
    out["encrypted_workbook"].write_bytes(encrypted_workbook_bytes())
    variant("no_header", good[1:])
    variant("missing_column", [r[:5] for r in good])
    variant("duplicate_column", [good[0] + ["num"]] + [r + [r[4]] for r in good[1:]])
    variant("duplicate_header", good[:60] + [good[0]] + good[60:])
    variant("data_above_header", [good[1], ["LAN monthly return"]] + good[:1] + good[2:])
    rows = [list(r) for r in good]
    rows[5][5] = "1,234"
    out["ragged_row"] = dest / f"{stem}_ragged_row.csv"
    out["ragged_row"].write_text("\r\n".join(",".join(r) for r in rows) + "\r\n")  # the comma is not quoted
    variant("invalid_period", changed(7, 1, "2024-13"))
    variant("invalid_count", changed(9, 4, "2.5"))
    variant("several_sites", changed(11, 0, "ELFT"))
    rows = [good[0] + ["patient_ref"]] + [r + [""] for r in good[1:]]
    rows[3][6] = "943 476 5919"
    variant("personal_data", rows)

    # --- refused by the structural suite: the parser passes these through
    out["unknown_site"] = write_csv(dest / f"ZZZZ_{MONTH:%Y-%m}_unknown_site.csv", good_table(ref, site="ZZZZ"))
    variant("unknown_measure", changed(13, 2, "PPH9999"))
    variant("invalid_ethnic_category", changed(15, 3, "White Welsh"))
    variant("negative_count", changed(17, 4, "-3"))
    rows = changed(19, 4, "60")
    rows[19][5] = "50"
    variant("numerator_above_denominator", rows)
    variant("duplicate_key", good + [good[21]])
    future = _future_month(today)
    out["future_period"] = write_csv(dest / f"{SITE}_{future:%Y-%m}_future_period.csv", good_table(ref, month=future))

    # --- a warning only
    out["name_mismatch"] = write_csv(dest / f"ELFT_{MONTH:%Y-%m}_name_mismatch.csv", good)

    # --- monthly reports
    change = [SITE, f"{MONTH:%Y-%m}", "PPH1500", "Quantitative blood loss measurement", "do", "Started on ward 7."]
    out["report_invalid_pdsa_stage"] = write_csv(
        dest / f"{stem}_report_invalid_pdsa_stage.csv", [REPORT_HEADER, change[:4] + ["finished"] + change[5:]]
    )
    out["report_personal_data"] = write_csv(
        dest / f"{stem}_report_personal_data.csv",
        [REPORT_HEADER, change[:5] + ["Discussed with the family on 020 7946 0958."]],
    )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--today", type=date.fromisoformat, default=date.today())
    args = parser.parse_args(argv)
    for key, path in write_bad_files(args.dest, args.today).items():
        rule, stage = BAD_FILE_RULES[key]
        print(f"{key:30} {stage:15} {path}")


if __name__ == "__main__":
    main()
