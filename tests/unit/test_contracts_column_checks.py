"""A rule's check over columns (``contracts.base.column_check``) answers what asking the rule
of each entity would: True exactly when some entity breaches it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from contracts.base import Rule, _quality_rule, column_check, ordered

_MEASURED = ("waterLevel", "flow", "intensity")
_QUALITY = st.sampled_from(["normal", "provisional", "missing", "questionable", None])
_READING = st.sampled_from([None, None, 0.0, 1.5, -2.0])
_WHEN = st.sampled_from([None, datetime(2025, 5, 12, 8, 0, tzinfo=UTC),
                         datetime(2025, 5, 12, 8, 5, tzinfo=UTC),
                         "2025-05-12T08:05:00+00:00", "garbage"])


@st.composite
def _rows(draw: st.DrawFn, values: dict[str, st.SearchStrategy[Any]]) -> tuple[Any, ...]:
    """(shared values, columns, count, each entity's complete values)."""
    count = draw(st.integers(0, 5))
    varying = draw(st.sets(st.sampled_from(sorted(values))))
    shared = {n: draw(s) for n, s in values.items() if n not in varying}
    columns = {n: draw(st.lists(values[n], min_size=count, max_size=count))
               for n in sorted(varying)}
    entities = [{**shared, **{n: c[i] for n, c in columns.items()}} for i in range(count)]
    return shared, columns, count, entities


def _agrees(rule: Rule, row: tuple[Any, ...]) -> None:
    shared, columns, count, entities = row
    check = column_check(rule)
    assert check is not None
    assert check(shared, columns, count) == any(list(rule(e)) for e in entities)


@given(_rows({"quality": _QUALITY, **dict.fromkeys(_MEASURED, _READING)}))
def test_the_quality_rule_over_columns(row: tuple[Any, ...]) -> None:
    _agrees(_quality_rule(_MEASURED), row)


@given(_rows({"a": _WHEN, "b": _WHEN, "c": _WHEN}), st.booleans())
def test_ordered_over_columns(row: tuple[Any, ...], strict: bool) -> None:
    _agrees(ordered("a", "b", "c", strict=strict), row)


def test_a_rule_of_its_own_has_no_check_over_columns() -> None:
    assert column_check(lambda values: ()) is None
