"""Reading the dates and codes that real extracts contain."""

from __future__ import annotations

import pytest

from gateway.matching.normalise import PartialDate, parse_date, sex


@pytest.mark.parametrize("text", [
    "2015-03-04", "2015/03/04", "2015.3.4", "04/03/2015", "4.3.2015", "4-3-2015",
    "20150304", "4 March 2015", "04-Mar-2015", "4th March 2015", "4 mar. 2015",
    "2015-03-04 00:00:00", "2015-03-04T00:00:00Z", "2015-03-04T00:00:00+01:00",
    "2015-03-04 00:00:00.000", "2015-03-04 00:00:00 +0100", "04/03/2015 00:00",
    "4 March 2015 00:00", " 2015-03-04 ",
])
def test_full_dates_in_the_forms_extracts_use(text: str) -> None:
    assert parse_date(text) == PartialDate(2015, 3, 4)


@pytest.mark.parametrize(("text", "want"), [
    ("2015-03", PartialDate(2015, 3)), ("03/2015", PartialDate(2015, 3)),
    ("March 2015", PartialDate(2015, 3)), ("Sept 2015", PartialDate(2015, 9)),
    ("2015", PartialDate(2015)),
])
def test_partial_dates(text: str, want: PartialDate) -> None:
    assert parse_date(text) == want


@pytest.mark.parametrize("text", [
    # Day and month the wrong way round: refused, not guessed, since the same file's
    # 03/04/2015 could not be told apart.
    "2015-25-03", "03/25/2015",
    # Day first with no separators: read year first it would be a wrong date.
    "20112012", "19052010", "04032015",
    # A time other than midnight: 23:00Z is most likely the next day's midnight in BST.
    "2015-06-03T23:00:00Z", "2015-03-04 12:30",
    "31/02/2015", "2015-13-13", "04/03/15", "1 Marchy 2015", "12345678", "yesterday",
    "2015-03-04 noon", "1850-01-01",
])
def test_what_is_not_a_date_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_date(text)


def test_empty_is_missing() -> None:
    assert parse_date("") is None and parse_date("  ") is None and parse_date(None) is None


@pytest.mark.parametrize(("text", "want"), [
    ("M", "M"), ("f", "F"), ("Male", "M"), ("FEMALE", "F"), ("Boy", "M"), ("girl", "F"),
    ("1", "M"), ("2", "F"), ("01", "M"), ("02", "F"), ("m.", "M"), ("9", ""), ("0", ""),
    ("X", ""), ("U", ""), ("Mixed", ""), ("Female to male", ""), ("", ""), (None, ""),
])
def test_sex_codes(text: str | None, want: str) -> None:
    assert sex(text) == want


def test_only_a_whole_uk_postcode_has_a_sector_and_district() -> None:
    from gateway.matching.normalise import postcode, postcode_district, postcode_sector

    assert (postcode_sector("LS61AB"), postcode_district("LS61AB")) == ("LS61", "LS6")
    assert (postcode_sector("SW1A1AA"), postcode_district("SW1A1AA")) == ("SW1A1", "SW1A")
    # A four-digit (Australian, FEBRL) code is not cut into a "district" of one digit.
    assert postcode_sector(postcode("2617")) == "" and postcode_district("2617") == ""
    assert postcode_district("LS6") == ""
