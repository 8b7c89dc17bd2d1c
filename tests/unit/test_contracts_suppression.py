"""Small-group suppression of library breakdowns and rankings."""

from __future__ import annotations

import pytest

from contracts import (
    DEFAULT_MIN_GROUP_SIZE,
    is_publishable,
    suppress_small_groups,
    suppress_small_rankings,
)


def test_small_cells_go_zero_and_large_stay() -> None:
    groups = {"9": 120, "4": 3, "0": 0, "7": 10, "2": 9}
    assert suppress_small_groups(groups, 10) == {"9": 120, "0": 0, "7": 10}
    assert list(suppress_small_groups(groups, 10)) == ["9", "0", "7"]  # order kept
    assert suppress_small_groups(groups, 1) == groups
    assert groups["4"] == 3  # the input is not modified


def test_default_minimum_applies() -> None:
    below = DEFAULT_MIN_GROUP_SIZE - 1
    assert suppress_small_groups({"a": below, "b": DEFAULT_MIN_GROUP_SIZE}) == {
        "b": DEFAULT_MIN_GROUP_SIZE}
    assert not is_publishable(below) and is_publishable(0)


def test_rankings_below_minimum_are_dropped() -> None:
    entries = [{"rank": 1, "loans": 40}, {"rank": 2, "loans": 12}, {"rank": 3, "loans": 4}]
    assert suppress_small_rankings(entries, 12) == entries[:2]

    class Entry:
        def __init__(self, loans: int) -> None:
            self.loans = loans

    kept = suppress_small_rankings([Entry(5), Entry(50)], 10)
    assert [e.loans for e in kept] == [50]


@pytest.mark.parametrize("minimum", [0, -3, 2.5, True])
def test_minimum_must_be_a_positive_integer(minimum: object) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        suppress_small_groups({"a": 1}, minimum)  # type: ignore[arg-type]
