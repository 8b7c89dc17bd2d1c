"""Check digits of the two public identifiers organisations are registered under.

- 全国地方公共団体コード (JIS X 0401 / X 0402, 総務省): five digits (two for the prefecture,
  three for the municipality, ``000`` for the prefecture itself) and a check digit: multiply
  the digits by 6, 5, 4, 3, 2, sum, take the remainder modulo 11, subtract it from 11 and keep
  the last digit (so remainder 0 gives 1 and remainder 1 gives 0).
- 法人番号 (国税庁, 法人番号の指定等に関する省令 第2条): twelve base digits preceded by a check
  digit ``9 - (Σ Pn × Qn mod 9)``, where Pn is the n-th base digit counted from the right and
  Qn is 1 for odd n, 2 for even n.

A mistyped code then fails here instead of registering a second, bogus organisation.
"""

from __future__ import annotations

__all__ = [
    "corporate_number_check_digit",
    "is_corporate_number",
    "is_local_government_code",
    "is_prefecture_code",
    "local_government_check_digit",
]


def local_government_check_digit(first5: str) -> int:
    """The sixth digit of a 全国地方公共団体コード whose first five digits are ``first5``."""
    if len(first5) != 5 or not first5.isascii() or not first5.isdigit():
        raise ValueError("a local government code has five digits before its check digit")
    total = sum(int(d) * w for d, w in zip(first5, (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10


def is_local_government_code(code: str) -> bool:
    """Six ASCII digits, a prefecture number 01-47, and the right check digit."""
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return False
    if not 1 <= int(code[:2]) <= 47:
        return False
    return local_government_check_digit(code[:5]) == int(code[5])


def is_prefecture_code(code: str) -> bool:
    """A valid local government code of a prefecture itself (``NN000`` + check digit)."""
    return is_local_government_code(code) and code[2:5] == "000"


def corporate_number_check_digit(base12: str) -> int:
    """The leading check digit of a 法人番号 whose other twelve digits are ``base12``."""
    if len(base12) != 12 or not base12.isascii() or not base12.isdigit():
        raise ValueError("a corporate number has twelve digits after its check digit")
    total = sum(int(d) * (1 if n % 2 else 2) for n, d in enumerate(reversed(base12), start=1))
    return 9 - total % 9


def is_corporate_number(number: str) -> bool:
    """Thirteen ASCII digits whose first is the check digit of the other twelve."""
    if len(number) != 13 or not number.isascii() or not number.isdigit():
        return False
    return corporate_number_check_digit(number[1:]) == int(number[0])
