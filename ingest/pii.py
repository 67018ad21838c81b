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

import nhs_number
from nhs_number.standardise import GOOD_FORMAT

from ingest.reference import squash

# The NHS number's written formats are the nhs-number library's (ten digits, or 3-3-4 with spaces or with
# hyphens); here they are found inside a cell's text, not only as the whole cell.
_NHS_FORMATS = GOOD_FORMAT.removeprefix("^(").removesuffix(")$")
_NHS_IN_TEXT = re.compile(rf"(?<!\d)({_NHS_FORMATS})(?!\d)", re.ASCII)
_NHS_AS_FLOAT = re.compile(r"(\d{10})\.0+", re.ASCII)
_POSTCODE_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{1,2}\d[A-Za-z\d]?[ \t]+\d[ABD-HJLNP-UW-Zabd-hjlnp-uw-z]{2}(?![A-Za-z0-9])",
    re.ASCII,
)


def is_valid_nhs_number(text: object) -> bool:
    """True when `text` is an NHS number in one of its written formats (`9434765919`, `943 476 5919`,
    `943-476-5919`) passing the Modulus 11 check: the nhs-number library's `is_valid`."""
    if isinstance(text, bool) or text is None:
        return False
    if isinstance(text, int):
        text = str(text)
    return isinstance(text, str) and nhs_number.is_valid(text)


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


# --- free text (the monthly report) -----------------------------------------------------------------------

FREE_TEXT_KINDS = ("NHS number", "date of birth", "postcode", "e-mail address", "telephone number")
_MONTHS = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|jun(?:e)?|jul(?:y)?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_DAY = r"(?:[12]\d|3[01]|0?[1-9])"
_DATES = re.compile(
    "|".join(
        (
            rf"(?<![\d/.-]){_DAY}[/.-](?:1[0-2]|0?[1-9])[/.-](?P<y1>\d{{4}}|\d{{2}})(?![\d/.-]*\d)",  # 03/03/1990
            rf"(?<!\d)(?P<y2>\d{{4}})-(?:1[0-2]|0[1-9])-{_DAY}(?!\d)",  # 1990-03-03
            rf"(?<!\d){_DAY}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS}\b\.?(?:,?\s+(?P<y3>\d{{4}})(?!\d))?",  # 3 March 1990
            rf"\b{_MONTHS}\.?\s+{_DAY}(?:st|nd|rd|th)?\b(?:,?\s+(?P<y4>\d{{4}})(?!\d))?",  # March 3, 1990
        )
    ),
    re.I,
)
_BIRTH_WORDS = re.compile(r"\b(?:dob|d\.o\.b\.?|date\s+of\s+birth|birth\s*date|birthday|born)\b", re.I)
_BIRTH_WINDOW = 40  # characters between a birth word and a date for the date to be read as a date of birth
_EARLIEST_EVENT_YEAR = 2010  # a full date in an earlier year is read as someone's date of birth
_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_POSTCODE_NO_SPACE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{1,2}\d[A-Z\d]?\d[ABD-HJLNP-UW-Z]{2}(?![A-Za-z0-9])")


def _dates_of_birth(text: str) -> bool:
    births = [m.span() for m in _BIRTH_WORDS.finditer(text)]
    for m in _DATES.finditer(text):
        year_text = next((y for y in (m.group("y1"), m.group("y2"), m.group("y3"), m.group("y4")) if y), None)
        year = int(year_text) if year_text else None
        if year is not None and year < 100:
            year += 1900 if year > 30 else 2000
        if year is not None and 1900 <= year < _EARLIEST_EVENT_YEAR:
            return True
        start, end = m.span()
        if any(b_start - _BIRTH_WINDOW <= end and start <= b_end + _BIRTH_WINDOW for b_start, b_end in births):
            return True
    return False


def _telephone_numbers(text: str) -> bool:
    import phonenumbers  # imported here: only reports need it

    return any(True for _ in phonenumbers.PhoneNumberMatcher(text, "GB"))


def free_text_personal_kinds(text: str) -> list[str]:
    """The kinds of personal data (FREE_TEXT_KINDS) found in a free-text cell, in that order; [] if none.

    * NHS number: one of the nhs-number library's written formats passing its Modulus 11 check.
    * date of birth: a date with a day and a month (`3 March`, `03/03/1990`, `1990-03-03`, `March 3rd`)
      within 40 characters of a birth word (DOB, D.O.B., date of birth, birth date, birthday, born), or any
      full date (day, month and year) before 2010: the programme's events are from the 2020s, so a full
      date that old is someone's birth. A date with no birth word near it ("on 3 March 2024 we...") is not.
    * postcode: a full UK postcode, with its space in any case (`m13 9wl`), or without the space in capitals
      (`M139WL`); an outward code alone (`M13`) is not.
    * e-mail address: anything@domain.tld.
    * telephone number: a valid UK number as libphonenumber's PhoneNumberMatcher finds it (region GB).
    """
    if not text or not text.strip():
        return []
    found = []
    if find_nhs_numbers(text):
        found.append("NHS number")
    if _dates_of_birth(text):
        found.append("date of birth")
    if find_postcodes(text) or _POSTCODE_NO_SPACE.search(text):
        found.append("postcode")
    if _EMAIL.search(text):
        found.append("e-mail address")
    if _telephone_numbers(text):
        found.append("telephone number")
    return found
