"""Pure mapping of loan-ranking rows: the 書誌情報 split and the contract entities.

書誌情報 is one free-text field whose parts are separated by full-width spaces:
``タイトル[　巻次][　（叢書）]　著者／役割[　著者／役割]　出版者　YYYY.M　NNcm　NNNp``.
The first part holding ``／`` starts the authors (as printed, roles included: ``村上 春樹／著``);
everything before is the title (its own full-width spaces become spaces); the part after the
last author is the publisher. Without an author, the publisher is the part before the
date. Physical description (date, size, pages) is not part of the contract and is dropped.
Only the five known columns are read: whatever else an export carries (borrower numbers,
names) never reaches an entity.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from adapters.sdk import entity_id
from adapters.sdk.contract import build
from adapters.sdk.dates import JST
from adapters.sdk.text import nfkc
from contracts import InvalidIsbn, LibraryLoanRanking, PointOfInterest, normalize_isbn

__all__ = ["Bibliographic", "branch", "isbn13", "normalise_ndc", "ranking_entry",
           "split_bibliographic"]

_DATE = re.compile(r"^\d{4}(\.\d{1,2})?$")
_NDC = re.compile(r"^[0-9]{1,3}(\.[0-9]+)?$")

Bibliographic = tuple[str, str | None, str | None]


def split_bibliographic(text: str) -> Bibliographic:
    """(title, author, publisher) of a 書誌情報 field."""
    parts = [p.strip() for p in text.split("\u3000") if p.strip()]
    if not parts:
        raise ValueError("書誌情報 is empty")
    end = next((i for i, p in enumerate(parts) if _DATE.match(nfkc(p))), len(parts))
    head = parts[:end]
    authors = [i for i, p in enumerate(head) if "／" in p or "/" in p]
    if authors:
        first, last = authors[0], authors[-1]
        title_parts = head[:first]
        author = " ".join(head[first:last + 1])
        publisher = " ".join(head[last + 1:]) or None
    else:
        title_parts = head[:-1] if len(head) > 1 else head
        author = None
        publisher = head[-1] if len(head) > 1 else None
    title = " ".join(title_parts)
    if not title:
        raise ValueError(f"no title in 書誌情報 {text!r}")
    return title, author, publisher


def branch(key: str, name: str) -> dict[str, Any]:
    return build(PointOfInterest, id=entity_id("PointOfInterest", key), name=name,
                 category=["library"])


def normalise_ndc(raw: str) -> tuple[str | None, bool]:
    """The NDC number with three digits before the point, and whether it was repaired.

    A spreadsheet that took ``007.6`` for a number writes ``7.6`` (and ``091`` as ``91``):
    the class is always three digits, so the lost zeros are put back and the repair
    reported. ``E`` (picture book) or any other non-number is no NDC: None."""
    n = nfkc(raw).strip()
    if not _NDC.match(n):
        return None, False
    whole, dot, frac = n.partition(".")
    fixed = whole.zfill(3) + dot + frac
    return fixed, fixed != n


def ranking_entry(library: str, fiscal_year: int, category: str, rank: str, loans: str,
                  bib: str, ndc: str, isbn: str) -> dict[str, Any]:
    """One LibraryLoanRanking; ``分類`` ``E`` (picture book) is not an NDC number: no ndc."""
    title, author, publisher = split_bibliographic(bib)
    isbn_13 = isbn13(isbn)
    ndc_n, _ = normalise_ndc(ndc)
    r = int(nfkc(rank).strip())
    key = isbn_13 or f"t{hash_title(title)}"
    return build(
        LibraryLoanRanking,
        id=entity_id("LibraryLoanRanking", library, f"FY{fiscal_year}", category, r, key),
        refLibraryBranch=entity_id("PointOfInterest", library),
        dateObservedFrom=datetime(fiscal_year, 4, 1, tzinfo=JST),
        dateObservedTo=datetime(fiscal_year + 1, 4, 1, tzinfo=JST),
        rank=r, loans=int(nfkc(loans).strip()), title=title, author=author,
        publisher=publisher, ndc=ndc_n, isbn=isbn_13)


def isbn13(raw: str) -> str | None:
    """ISBN-13 of the ＩＳＢＮ cell; None when blank.

    The Wakayama files mix two forms under one hyphenated 10-digit look: real ISBN-10s
    (``4-591-04623-0``) and ISBN-13s with the ``978-`` prefix dropped but the ISBN-13 check
    digit kept (``4-10-353422-8`` is 978-4-10-353422-8, 1Q84). A 10-digit value whose
    ISBN-10 check digit fails is therefore tried as ``978`` + it; if that fails too, the
    row is quarantined.
    """
    text = nfkc(raw).strip()
    if not text:
        return None
    try:
        return normalize_isbn(text)
    except InvalidIsbn:
        digits = text.replace("-", "").replace(" ", "")
        if len(digits) == 10 and digits.isdigit():
            try:
                return normalize_isbn("978" + digits)
            except InvalidIsbn:
                pass
        raise


def hash_title(title: str) -> int:
    """A stable (not per-process salted) hash of a title, for ids of entries without ISBN."""
    h = 0
    for ch in title.encode():
        h = (h * 131 + ch) % 1_000_000_007
    return h
