"""The SDK's shortcuts answer what the general code answers: ``hourly_jst`` against
``iso_jst(jst_datetime(...))``, ``parse_number``'s padded-ASCII path against the NFKC path."""

from __future__ import annotations

import re
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from adapters.sdk.dates import hourly_jst, iso_jst, jst_datetime
from adapters.sdk.text import _PLAIN_NUMBER, MISSING_MARKERS, is_missing, nfkc, parse_number

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
