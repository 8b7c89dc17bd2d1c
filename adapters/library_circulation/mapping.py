"""Pure mapping of the wide monthly-statistics table to LibraryCirculation entities.

The table has fiscal-year blocks: the first row of a block names the year in its first
cell (``平成30年度``, ``令和元年度``, or a bare continuation year ``2`` in the era of the
block before), the second cell of each row names a metric, then come 12 months from 4月
to 3月 and a total. The unit of reading is one (fiscal year, month) column of a block:
it becomes one entity. Metrics with a contract attribute: 入館者数 → visitors, 貸出冊数 →
loans, 予約件数 → reservations, レファレンス受付数 → referenceQuestions. 貸出利用者数 and
相互貸借数 have none and are not written (docs/adapters.md); 計 is derived and not
stored. A month whose every metric is ``―`` (no data yet) is a documented skip.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.sdk import entity_id
from adapters.sdk.contract import build
from adapters.sdk.dates import JST, month_in_fiscal_year
from adapters.sdk.text import parse_number
from contracts import LibraryCirculation, PointOfInterest

__all__ = ["METRICS", "MONTHS", "UNMAPPED", "branch", "month_entity"]

METRICS = {"入館者数": "visitors", "貸出冊数": "loans", "予約件数": "reservations",
           "レファレンス受付数": "referenceQuestions"}
UNMAPPED = ("貸出利用者数", "相互貸借数")
MONTHS = (4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3)


def _count(raw: str, metric: str) -> int | None:
    try:
        v = parse_number(raw)
    except ValueError as exc:
        raise ValueError(f"{metric}: {exc}") from None
    if v is None:
        return None
    if not v.is_integer():
        raise ValueError(f"{metric}: not a whole count: {raw!r}")
    return int(v)


def month_entity(library: str, fiscal_year: int, month: int,
                 cells: dict[str, str]) -> dict[str, Any] | None:
    """The entity of one month (``cells``: metric label -> raw cell); None if no figures."""
    values: dict[str, int] = {}
    for label, attribute in METRICS.items():
        if label in cells:
            v = _count(cells[label], label)
            if v is not None:
                values[attribute] = v
    if not values:
        return None
    year, m = month_in_fiscal_year(fiscal_year, month)
    start = datetime(year, m, 1, tzinfo=JST)
    end = datetime(year + (m == 12), m % 12 + 1, 1, tzinfo=JST)
    return build(LibraryCirculation,
                 id=entity_id("LibraryCirculation", library, f"{year:04d}-{m:02d}"),
                 refLibraryBranch=entity_id("PointOfInterest", library),
                 dateObservedFrom=start, dateObservedTo=end, quality="normal", **values)


def branch(key: str, name: str) -> dict[str, Any]:
    """The branch the figures belong to, as a PointOfInterest."""
    return build(PointOfInterest, id=entity_id("PointOfInterest", key), name=name,
                 category=["library"])
