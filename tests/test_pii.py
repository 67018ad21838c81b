"""The personal-data checks of contract rule 6: NHS number Modulus 11, headers, postcodes."""

from __future__ import annotations

import pytest

from ingest.pii import find_nhs_numbers, find_postcodes, header_personal_kind, is_valid_nhs_number, redact

VALID = ["9434765919", "9434765870", "4010232137", "0000000000"]


@pytest.mark.parametrize("text", VALID + ["943 476 5919", "943-476-5919", " 9434765919 ", "943 476 5870"])
def test_valid_nhs_numbers(text):
    assert is_valid_nhs_number(text)


def test_integer_input_is_read_as_its_digits():
    assert is_valid_nhs_number(9434765919)
    assert not is_valid_nhs_number(9434765918)


@pytest.mark.parametrize("number", VALID)
def test_every_other_check_digit_is_invalid(number):
    for digit in "0123456789":
        if digit != number[-1]:
            assert not is_valid_nhs_number(number[:9] + digit)


def test_a_check_digit_of_ten_means_no_valid_number():
    # first nine digits 000000006: 6 x 2 = 12, 12 mod 11 = 1, 11 - 1 = 10 -> invalid whatever the last digit
    assert not any(is_valid_nhs_number("000000006" + d) for d in "0123456789")


@pytest.mark.parametrize(
    "text",
    [
        "943476591",  # nine digits
        "94347659190",  # eleven digits
        "943 4765919",  # not 3-3-4
        "943 476-5919",  # mixed separators
        "94 3476 5919",
        "943.476.5919",
        "9434765919x",
        "",
        "abcdefghij",
        None,
        True,
    ],
)
def test_not_nhs_numbers(text):
    assert not is_valid_nhs_number(text)


@pytest.mark.parametrize(
    "text",
    [
        "9434765919",
        "943 476 5919",
        "patient 943-476-5919 seen",
        "ref:9434765870",
        "9434765919.0",
    ],
)
def test_find_nhs_numbers_in_cells(text):
    assert find_nhs_numbers(text)


@pytest.mark.parametrize(
    "text",
    [
        "9434765918",
        "12",
        "1,234",
        "2024-03-01",
        "19434765919",
        "94347659190",
        "phone 020 7946 0958",
        "PPH1500",
    ],
)
def test_no_nhs_numbers_in_cells(text):
    assert not find_nhs_numbers(text)


@pytest.mark.parametrize("text", ["E1 6AN", "SW1A 1AA", "lives at m13 9wl", "B15 2TH", "EC1A 1BB"])
def test_postcodes_found(text):
    assert find_postcodes(text)


@pytest.mark.parametrize(
    "text",
    [
        "E1",
        "E16AN",
        "PPH1500",
        "White - British",
        "March 2024",
        "2024-03",
        "PTB37",
        "Not stated",
        "E1 6CN",
    ],
)
def test_postcodes_not_found(text):
    assert not find_postcodes(text)


@pytest.mark.parametrize(
    "header,kind",
    [
        ("DOB", "date of birth"),
        ("date_of_birth", "date of birth"),
        ("Date of Birth", "date of birth"),
        ("Birth date", "date of birth"),
        ("mother_dob", "date of birth"),
        ("DOB (mother)", "date of birth"),
        ("Postcode", "postcode"),
        ("post_code", "postcode"),
        ("Post Code", "postcode"),
        ("pcode", "postcode"),
        ("patient pcode", "postcode"),
        ("Postal code", "postcode"),
        ("NHS number", "NHS number"),
        ("NHS No", "NHS number"),
        ("nhs_no", "NHS number"),
        ("Mother NHS Number", "NHS number"),
    ],
)
def test_personal_headers(header, kind):
    assert header_personal_kind(header) == kind


@pytest.mark.parametrize(
    "header",
    [
        "site",
        "period",
        "measure",
        "ethnicity",
        "numerator",
        "denominator",
        "notes",
        "NHS North West",
        "total",
        "",
    ],
)
def test_other_headers(header):
    assert header_personal_kind(header) is None


def test_redact():
    assert (
        redact("sites BARTS, E1 6AN and 943 476 5919; count 9434765918")
        == "sites BARTS, [removed] and [removed]; count 9434765918"
    )
