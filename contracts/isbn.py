"""ISBN normalisation: every ISBN in a contract is an ISBN-13 of 13 digits, no hyphens.

ISBN-10 check digit: sum of digit × weight (10 down to 1) ≡ 0 mod 11, ``X`` standing for
10 in the last place. ISBN-13 (EAN-13): weights 1, 3, 1, 3, …; the check digit makes the
sum ≡ 0 mod 10. An ISBN-10 becomes ``978`` + its first nine digits + a new check digit.
"""

from __future__ import annotations

import re
from operator import mul

__all__ = ["InvalidIsbn", "is_isbn13", "isbn10_check_digit", "isbn13_check_digit", "normalize_isbn"]

_SEPARATORS = re.compile(r"[\s\-‐‑–]")
_ISBN10 = re.compile(r"^[0-9]{9}[0-9Xx]$")
_ISBN13 = re.compile(r"^97[89][0-9]{10}$")
_WEIGHTS10 = range(10, 1, -1)


class InvalidIsbn(ValueError):
    """Not an ISBN: wrong length, characters or check digit."""


def isbn10_check_digit(first9: str) -> str:
    """The check character ('0'-'9' or 'X') of an ISBN-10 from its first nine digits."""
    total = sum(map(mul, _WEIGHTS10, map(int, first9)))  # one call per ISBN a row carries
    check = (11 - total % 11) % 11
    return "X" if check == 10 else str(check)


def isbn13_check_digit(first12: str) -> str:
    """The check digit of an ISBN-13 from its first twelve digits."""
    total = sum(map(int, first12[0::2])) + 3 * sum(map(int, first12[1::2]))
    return str((10 - total % 10) % 10)


def is_isbn13(value: str) -> bool:
    """True for a normalised ISBN-13 (13 digits, 978/979, right check digit)."""
    return bool(_ISBN13.match(value)) and isbn13_check_digit(value[:12]) == value[12]


def normalize_isbn(raw: str) -> str:
    """ISBN-10 or ISBN-13, with or without hyphens/spaces (and an ``ISBN`` prefix), as
    13 digits; raises ``InvalidIsbn`` for anything else, a wrong check digit included."""
    text = _SEPARATORS.sub("", raw.strip())
    if text[:4].upper() == "ISBN":
        text = text[4:].lstrip(":")
    if _ISBN10.match(text):
        if isbn10_check_digit(text[:9]) != text[9].upper():
            raise InvalidIsbn(f"{raw!r}: wrong ISBN-10 check digit")
        body = "978" + text[:9]
        return body + isbn13_check_digit(body)
    if _ISBN13.match(text):
        if isbn13_check_digit(text[:12]) != text[12]:
            raise InvalidIsbn(f"{raw!r}: wrong ISBN-13 check digit")
        return text
    raise InvalidIsbn(f"{raw!r} is neither an ISBN-10 nor an ISBN-13")
