"""The SDK's shortcuts answer what the general code answers: ``hourly_jst`` against
``iso_jst(jst_datetime(...))``, ``parse_number``'s padded-ASCII path against the NFKC path,
``parse_numbers`` against ``parse_number`` cell by cell, ``parse_date``'s ``%Y/%m/%d`` path
against strptime."""

from __future__ import annotations

import re
from datetime import date, datetime

from hypothesis import given
from hypothesis import strategies as st

from adapters.sdk.dates import hourly_jst, iso_jst, jst_datetime, parse_date
from adapters.sdk.text import (
    _PLAIN_NUMBER,
    MISSING_MARKERS,
    is_missing,
    nfkc,
    parse_number,
    parse_numbers,
)

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@given(st.dates(min_value=date(1000, 1, 1), max_value=date(9998, 12, 31)))
def test_hourly_jst_is_iso_jst_of_each_hour(day: date) -> None:
    assert hourly_jst(day) == [iso_jst(jst_datetime(day, hour)) for hour in range(1, 25)]


def _general(raw: str, extra: frozenset[str]) -> float | str | None:
    """parse_number's NFKC path (text.py), as a reference."""
    if is_missing(raw, extra):
        return None
    s = nfkc(raw).strip().replace(",", "").replace("\u3000", "")
    return float(s) if _NUMBER.match(s) else "refused"


@given(st.text(alphabet=" \t+-.0123456789eE,\u3000１", max_size=12),
       st.sampled_from([frozenset(), frozenset({"0", "9999"})]))
def test_parse_number_fast_path_answers_as_the_general_path(raw: str,
                                                            extra: frozenset[str]) -> None:
    try:
        got: float | str | None = parse_number(raw, extra)
    except ValueError:
        got = "refused"
    assert got == _general(raw, extra)


def test_no_missing_marker_is_a_plain_number() -> None:
    # parse_number's fast path relies on it
    assert not [m for m in MISSING_MARKERS if _PLAIN_NUMBER.fullmatch(m)]


def _answer(parse: object, raw: object) -> object:
    try:
        return parse(raw)  # type: ignore[operator]
    except ValueError as exc:
        return ("refused", str(exc))


@given(st.lists(st.one_of(st.none(), st.text(alphabet=" +-.0123456789eE_ni,１$#", max_size=8),
                          st.sampled_from(["  321.52", " -0.5", "abc", "", "--", "1_0", "nan",
                                           "inf", "1e", "e5", ".", "+.5", "1.e5"]))))
def test_parse_numbers_is_parse_number_cell_by_cell(raws: list[str | None]) -> None:
    expected: list[object] = []
    for raw in raws:
        got = _answer(parse_number, raw)
        if isinstance(got, tuple):  # parse_numbers raises the first cell's error
            assert _answer(parse_numbers, raws) == got
            return
        expected.append(got)
    assert parse_numbers(raws) == expected


def _strptime(text: str) -> object:
    return datetime.strptime(nfkc(text).strip(), "%Y/%m/%d").date()


@given(st.one_of(st.dates().map(lambda d: d.strftime("%Y/%m/%d")),
                 st.text(alphabet="0123456789/ ２", min_size=8, max_size=12),
                 st.sampled_from(["2023/02/29", "2024/02/29", "2023/13/01", "2023/00/10",
                                  "0000/01/01", "2023/1/5", " 2023/01/05 ", "２０２３/01/05"])))
def test_parse_date_day_row_path_answers_as_strptime(text: str) -> None:
    assert _answer(lambda t: parse_date(t, "%Y/%m/%d"), text) == _answer(_strptime, text)
