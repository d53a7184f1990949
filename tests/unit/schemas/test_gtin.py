"""GTIN normalisation against published codes, and properties of the conversions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rmnlora.schemas.gtin import (
    GtinError,
    GtinErrorReason,
    gs1_check_digit,
    gtin14_to_ean13,
    gtin14_to_upc_a,
    is_valid_gtin,
    to_gtin14,
    upc_without_check_to_gtin14,
)

# Codes printed on real products / in the GS1 and ISBN specifications.
PUBLISHED = [
    ("036000291452", "00036000291452"),  # UPC-A, Wrigley's gum
    ("4006381333931", "04006381333931"),  # EAN-13, Stabilo pen
    ("73513537", "00000073513537"),  # EAN-8
    ("9780306406157", "09780306406157"),  # ISBN-13 as EAN-13
    ("10614141000415", "10614141000415"),  # GTIN-14, GS1 case example
    ("00012345600012", "00012345600012"),  # GTIN-14, GS1 general specification example
]


@pytest.mark.parametrize(("code", "expected"), PUBLISHED)
def test_published_codes_normalise_to_gtin14(code: str, expected: str) -> None:
    assert to_gtin14(code) == expected


def test_upc_without_check_digit_gets_the_published_one() -> None:
    assert upc_without_check_to_gtin14("03600029145") == "00036000291452"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("036000291453", GtinErrorReason.BAD_CHECK_DIGIT),
        ("4006381333932", GtinErrorReason.BAD_CHECK_DIGIT),
        ("12345", GtinErrorReason.BAD_LENGTH),
        ("0360002914A2", GtinErrorReason.NOT_DIGITS),
        ("", GtinErrorReason.EMPTY),
        (None, GtinErrorReason.EMPTY),
    ],
)
def test_bad_codes_are_rejected_with_the_reason(code: str | None, reason: GtinErrorReason) -> None:
    with pytest.raises(GtinError) as caught:
        to_gtin14(code)
    assert caught.value.reason == reason
    assert not is_valid_gtin(code)


def test_error_message_names_the_expected_check_digit() -> None:
    with pytest.raises(GtinError, match="expected 2"):
        to_gtin14("036000291453")


bodies = st.integers(min_value=0, max_value=10**13 - 1).map(lambda n: str(n).zfill(13))


@given(bodies)
def test_any_body_with_its_check_digit_is_valid_and_padding_is_stable(body: str) -> None:
    gtin = body + str(gs1_check_digit(body))
    assert to_gtin14(gtin) == gtin
    for shorter in (13, 12, 8):  # the same number written as EAN-13, UPC-A or EAN-8
        if gtin[: 14 - shorter] == "0" * (14 - shorter):
            assert to_gtin14(gtin[14 - shorter :]) == gtin


@given(st.integers(min_value=0, max_value=10**11 - 1).map(lambda n: str(n).zfill(11)))
def test_upc_round_trip(upc_body: str) -> None:
    gtin = upc_without_check_to_gtin14(upc_body)
    upc = gtin14_to_upc_a(gtin)
    assert upc is not None and upc[:11] == upc_body
    assert to_gtin14(upc) == gtin
    ean = gtin14_to_ean13(gtin)
    assert ean is not None and to_gtin14(ean) == gtin


@given(bodies, st.integers(min_value=1, max_value=9))
def test_any_single_digit_change_of_the_check_digit_is_caught(body: str, shift: int) -> None:
    check = gs1_check_digit(body)
    wrong = body + str((check + shift) % 10)
    with pytest.raises(GtinError) as caught:
        to_gtin14(wrong)
    assert caught.value.reason == GtinErrorReason.BAD_CHECK_DIGIT
