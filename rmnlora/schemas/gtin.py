"""GTIN normalisation: every product id the retailers send becomes one verified GTIN-14.

Retailers export UPC-A (12 digits, sometimes without its check digit), EAN-8, EAN-13 or
GTIN-14. All are the same GS1 number family left-padded with zeros, so joining them across
retailers needs a single canonical form whose check digit has been verified.
"""

from __future__ import annotations

from enum import StrEnum


class GtinErrorReason(StrEnum):
    EMPTY = "empty"
    NOT_DIGITS = "not_digits"
    BAD_LENGTH = "bad_length"
    BAD_CHECK_DIGIT = "bad_check_digit"


class GtinError(ValueError):
    """A product code that cannot be a GTIN, with a machine-readable reason."""

    def __init__(self, code: object, reason: GtinErrorReason, detail: str) -> None:
        super().__init__(f"invalid GTIN {code!r}: {detail}")
        self.code = code
        self.reason = reason


VALID_LENGTHS = (8, 12, 13, 14)


def gs1_check_digit(body: str) -> int:
    """Check digit for the digits before it (weights 3,1,3,... from the right)."""
    if not body.isdigit():
        raise GtinError(body, GtinErrorReason.NOT_DIGITS, "check digit needs digits only")
    total = sum(int(digit) * (3 if i % 2 == 0 else 1) for i, digit in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def _clean(code: object) -> str:
    text = str(code).strip() if code is not None else ""
    if not text:
        raise GtinError(code, GtinErrorReason.EMPTY, "no digits")
    text = text.replace("-", "").replace(" ", "")
    if not text.isdigit():
        raise GtinError(code, GtinErrorReason.NOT_DIGITS, "contains characters other than digits")
    return text


def is_valid_gtin(code: object) -> bool:
    try:
        to_gtin14(code)
    except GtinError:
        return False
    return True


def to_gtin14(code: object) -> str:
    """Verify an EAN-8, UPC-A, EAN-13 or GTIN-14 and return it as GTIN-14."""
    digits = _clean(code)
    if len(digits) not in VALID_LENGTHS:
        raise GtinError(
            code, GtinErrorReason.BAD_LENGTH, f"{len(digits)} digits; expected one of {VALID_LENGTHS}"
        )
    expected = gs1_check_digit(digits[:-1])
    if int(digits[-1]) != expected:
        raise GtinError(
            code,
            GtinErrorReason.BAD_CHECK_DIGIT,
            f"check digit is {digits[-1]}, expected {expected}",
        )
    return digits.zfill(14)


def upc_without_check_to_gtin14(code: object) -> str:
    """An 11-digit UPC-A body (check digit omitted, as some exports do) → GTIN-14."""
    digits = _clean(code)
    if len(digits) != 11:
        raise GtinError(code, GtinErrorReason.BAD_LENGTH, f"{len(digits)} digits; a UPC body has 11")
    return (digits + str(gs1_check_digit(digits))).zfill(14)


def gtin14_to_upc_a(gtin14: str) -> str | None:
    """The UPC-A form of a GTIN-14 when it has one (two leading zeros), else None."""
    verified = to_gtin14(gtin14)
    return verified[2:] if verified.startswith("00") else None


def gtin14_to_ean13(gtin14: str) -> str | None:
    verified = to_gtin14(gtin14)
    return verified[1:] if verified.startswith("0") else None
