"""Spotting what identifies a person in a file that should hold only aggregate counts (contract rule 6).

Pure functions. The parser refuses a file (`personal_data`) when

* a column header looks like a date of birth, a postcode or an NHS number (`header_personal_kind`);
* any cell anywhere in the file (title rows, header, data, extra columns) contains ten digits,
  written together or as 3-3-4 with spaces or hyphens, that pass the NHS number Modulus 11 check
  (`find_nhs_numbers`); or
* any cell contains a full UK postcode with its space (`E1 6AN`, `SW1A 1AA`) (`find_postcodes`).

The values found are never echoed: problems name the row and column only.
"""

from __future__ import annotations

import re

from ingest.reference import squash

_NHS_EXACT = re.compile(r"\d{10}|\d{3}([ -])\d{3}\1\d{4}", re.ASCII)
_NHS_IN_TEXT = re.compile(r"(?<!\d)(\d{10}|\d{3}([ -])\d{3}\2\d{4})(?!\d)", re.ASCII)
_NHS_AS_FLOAT = re.compile(r"(\d{10})\.0+", re.ASCII)
_POSTCODE_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{1,2}\d[A-Za-z\d]?[ \t]+\d[ABD-HJLNP-UW-Zabd-hjlnp-uw-z]{2}(?![A-Za-z0-9])",
    re.ASCII,
)


def is_valid_nhs_number(text: object) -> bool:
    """True when `text` is ten digits (optionally `943 476 5919` or `943-476-5919`) passing Modulus 11.

    The check digit is the tenth digit: 11 - (sum of the first nine digits weighted 10..2) mod 11,
    where 11 means 0 and 10 means the number is invalid.
    """
    if isinstance(text, bool) or text is None:
        return False
    t = str(text).strip()
    if not _NHS_EXACT.fullmatch(t):
        return False
    digits = [int(c) for c in t if c.isdigit()]
    total = sum(d * w for d, w in zip(digits[:9], range(10, 1, -1)))
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10:
        return False
    return check == digits[9]


def find_nhs_numbers(text: str) -> bool:
    """Whether a cell's text holds, alone or among other words, a value passing the NHS number check."""
    if len(text) < 10:
        return False
    m = _NHS_AS_FLOAT.fullmatch(text.strip())
    if m and is_valid_nhs_number(m.group(1)):
        return True
    return any(is_valid_nhs_number(m.group(1)) for m in _NHS_IN_TEXT.finditer(text))


def find_postcodes(text: str) -> bool:
    """Whether a cell's text holds a full UK postcode written with its space (e.g. `E1 6AN`)."""
    if len(text) < 6:
        return False
    return _POSTCODE_IN_TEXT.search(text) is not None


def header_personal_kind(header: str) -> str | None:
    """'date of birth', 'postcode' or 'NHS number' when a column header names one, else None."""
    s = squash(header)
    if not s:
        return None
    if s == "dob" or s.startswith("dob") or s.endswith("dob") or "dateofbirth" in s or "birthdate" in s:
        return "date of birth"
    if "postcode" in s or "postalcode" in s or "zipcode" in s or s == "pcode" or s.endswith("pcode"):
        return "postcode"
    if (
        s in {"nhs", "nhsno", "nhsnos", "nhsnum", "nhsnumber", "nhsnumbers", "nhsid"}
        or s.endswith("nhsnumber")
        or s.endswith("nhsno")
    ):
        return "NHS number"
    return None


def redact(text: str) -> str:
    """`text` with every NHS number (passing the check) and full postcode replaced by `[removed]`."""
    text = _NHS_IN_TEXT.sub(lambda m: "[removed]" if is_valid_nhs_number(m.group(1)) else m.group(0), text)
    return _POSTCODE_IN_TEXT.sub("[removed]", text)
