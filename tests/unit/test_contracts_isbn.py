"""ISBN-10 -> ISBN-13 normalisation and both check digits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import (
    InvalidIsbn,
    is_isbn13,
    isbn10_check_digit,
    isbn13_check_digit,
    normalize_isbn,
)


@pytest.mark.parametrize(("raw", "isbn13"), [
    ("0-306-40615-2", "9780306406157"),       # the textbook example
    ("0-8044-2957-X", "9780804429573"),       # a check character X
    ("ISBN 0-8044-2957-x", "9780804429573"),  # prefix, lower-case x
    ("978-0-306-40615-7", "9780306406157"),   # already 13, hyphenated
    ("9780804429573", "9780804429573"),
    (" 979 10 90636 07 1 ", "9791090636071"),  # 979 prefix, spaces
])
def test_normalises_to_isbn_13(raw: str, isbn13: str) -> None:
    assert normalize_isbn(raw) == isbn13
    assert is_isbn13(isbn13)


@pytest.mark.parametrize("raw", [
    "0-306-40615-3",      # wrong ISBN-10 check digit
    "978-0-306-40615-8",  # wrong ISBN-13 check digit
    "123456789",          # too short
    "X306406152",         # X only in the last place
    "9770306406157",      # 977 is not a book prefix
    "",
])
def test_refuses_what_is_not_an_isbn(raw: str) -> None:
    with pytest.raises(InvalidIsbn):
        normalize_isbn(raw)


def test_check_digits() -> None:
    assert isbn10_check_digit("030640615") == "2"
    assert isbn10_check_digit("080442957") == "X"
    assert isbn13_check_digit("978030640615") == "7"
    assert not is_isbn13("9780306406158")


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_every_isbn_10_maps_to_a_valid_isbn_13_with_the_same_body(body: str) -> None:
    isbn10 = body + isbn10_check_digit(body)
    isbn13 = normalize_isbn(isbn10)
    assert isbn13.startswith("978" + body) and is_isbn13(isbn13)
    wrong = body + ("0" if isbn10[-1] != "0" else "1")
    with pytest.raises(InvalidIsbn):
        normalize_isbn(wrong)
