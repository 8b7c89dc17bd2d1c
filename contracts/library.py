"""Library contracts (Renkei's own; no Smart Data Model covers library statistics).

* ``PointOfInterest``: a library branch, SDM PointOfInterest with ``category`` ["library"];
* ``LibraryCirculation``: aggregated circulation of one branch over one period (loans,
  visitors, reservations, reference questions; optionally loans per NDC main class);
* ``LibraryLoanRanking``: one entry of a branch's most-loaned titles over one period.

No personal data, ever: these contracts describe aggregates and books, never borrowers.
They are closed (``closed = True``): an attribute outside the contract is refused by the
model and, in the hub's stored form, by ``contracts.stored.validate_stored``. Breakdown
cells and rankings below the publisher's minimum are suppressed before publication
(``contracts.suppression``); ``validate_stored(min_group_size=...)`` enforces it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from contracts.base import Contract, Observation, Point, attr, ordered, ref
from contracts.isbn import normalize_isbn

__all__ = [
    "Isbn13",
    "LibraryCirculation",
    "LibraryLoanRanking",
    "NdcClass",
    "PointOfInterest",
    "PostalAddress",
]

NdcClass = Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
"""A main class (類) of the Nippon Decimal Classification."""
NDC_PATTERN = r"^[0-9]{1,3}(\.[0-9]+)?$"
"""An NDC number: class, division or section (1-3 digits), optionally decimals: 913.6."""

Isbn13 = Annotated[
    str, StringConstraints(pattern=r"^97[89][0-9]{10}$"), BeforeValidator(normalize_isbn)
]
"""An ISBN-13; the model accepts ISBN-10 or hyphenated input and normalises it."""

_Count = Annotated[int, Field(ge=0)]


class PostalAddress(BaseModel):
    """SDM/schema.org ``address``: a postal address (the branch's, never a person's)."""

    model_config = ConfigDict(extra="forbid")
    postalCode: str | None = Field(None, pattern=r"^[0-9]{3}-?[0-9]{4}$")
    addressRegion: str | None = None  # 都道府県
    addressLocality: str | None = None  # 市区町村
    streetAddress: str | None = None
    addressCountry: str | None = Field(None, pattern=r"^[A-Z]{2}$")


class PointOfInterest(Contract):
    """A library branch as an SDM PointOfInterest."""

    closed = True

    type: Literal["PointOfInterest"] = "PointOfInterest"
    name: str = attr(..., min_length=1, description="Name of the branch, e.g. 長野市立長野図書館.")
    alternateName: str | None = attr(description="Another name, e.g. the English one.")
    category: list[str] = attr(
        ["library"], min_length=1, description='Categories; a library branch has "library".'
    )
    description: str | None = attr(description="Free text about the branch.")
    address: PostalAddress | None = attr(description="Postal address of the branch.")
    location: Point | None = attr(kind="GeoProperty", description="Where the branch is.")
    libraryCode: str | None = attr(
        pattern=r"^JP-[0-9]{7}$",
        description="The branch's ISIL (国際図書館コード), e.g. JP-1000001.",
    )


def _ndc_within_loans(values: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    by_ndc, loans = values.get("loansByNdc"), values.get("loans")
    if isinstance(by_ndc, dict) and isinstance(loans, int) and not isinstance(loans, bool):
        counts = [n for n in by_ndc.values() if isinstance(n, int)]
        if sum(counts) > loans:
            yield "loansByNdc", "the NDC classes add up to more than loans"


class LibraryCirculation(Observation):
    """Circulation of one branch over [dateObservedFrom, dateObservedTo]."""

    closed = True
    suppressed = ("loansByNdc",)
    measured = ("loans", "visitors", "reservations", "referenceQuestions", "loansByNdc")
    observed_at = "dateObservedTo"
    rules = (ordered("dateObservedFrom", "dateObservedTo", strict=True), _ndc_within_loans)

    type: Literal["LibraryCirculation"] = "LibraryCirculation"
    refLibraryBranch: str = ref("The branch (a PointOfInterest).", ...)
    dateObservedFrom: AwareDatetime = attr(..., description="Start of the period.")
    dateObservedTo: AwareDatetime = attr(..., description="End of the period (exclusive).")
    loans: int | None = attr(ge=0, description="Items lent (貸出冊数).")
    visitors: int | None = attr(ge=0, description="Visits counted at the gate (入館者数).")
    reservations: int | None = attr(ge=0, description="Reservations placed (予約件数).")
    referenceQuestions: int | None = attr(
        ge=0, description="Reference questions answered (レファレンス件数)."
    )
    loansByNdc: dict[NdcClass, _Count] | None = attr(
        description="Loans per NDC main class; cells below the minimum group size are left out."
    )


class LibraryLoanRanking(Contract):
    """One entry of a most-loaned ranking of one branch (or a whole municipality)."""

    closed = True
    suppressed = ("loans",)
    rules = (ordered("dateObservedFrom", "dateObservedTo", strict=True),)

    type: Literal["LibraryLoanRanking"] = "LibraryLoanRanking"
    refLibraryBranch: str | None = ref("The branch; absent for a municipality-wide ranking.")
    dateObservedFrom: AwareDatetime = attr(..., description="Start of the period.")
    dateObservedTo: AwareDatetime = attr(..., description="End of the period (exclusive).")
    rank: int = attr(..., ge=1, description="Position in the ranking, 1 = most loaned.")
    loans: int = attr(..., ge=1, description="Times the title was lent in the period.")
    title: str = attr(..., min_length=1, description="Title of the book.")
    author: str | None = attr(description="Author(s) as printed (著者).")
    publisher: str | None = attr(description="Publisher (出版者).")
    ndc: str | None = attr(pattern=NDC_PATTERN, description="NDC classification, e.g. 913.6.")
    isbn: Isbn13 | None = attr(description="ISBN-13, 13 digits without hyphens.")
