"""Small-group suppression for published library statistics.

A breakdown cell counting a handful of loans (one NDC class at a small branch in one month)
can point at a person's reading, so cells with fewer than ``minimum`` are not published.
Zero cells stay: they describe nobody. The minimum is the publisher's setting;
``DEFAULT_MIN_GROUP_SIZE`` is Renkei's default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, TypeVar

__all__ = [
    "DEFAULT_MIN_GROUP_SIZE",
    "is_publishable",
    "suppress_small_groups",
    "suppress_small_rankings",
]

DEFAULT_MIN_GROUP_SIZE: Final = 10

K = TypeVar("K")
T = TypeVar("T")


def _check(minimum: int) -> None:
    if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1:
        raise ValueError(f"the minimum group size must be a positive integer, not {minimum!r}")


def is_publishable(count: int, minimum: int = DEFAULT_MIN_GROUP_SIZE) -> bool:
    """True if a group of ``count`` may be published: zero, or at least ``minimum``."""
    _check(minimum)
    return count == 0 or count >= minimum


def suppress_small_groups(
    groups: Mapping[K, int], minimum: int = DEFAULT_MIN_GROUP_SIZE
) -> dict[K, int]:
    """``groups`` without the cells that count 1 to ``minimum - 1`` (order kept)."""
    _check(minimum)
    return {k: n for k, n in groups.items() if n == 0 or n >= minimum}


def suppress_small_rankings(
    entries: Iterable[T], minimum: int = DEFAULT_MIN_GROUP_SIZE, *, loans: str = "loans"
) -> list[T]:
    """Ranking entries whose ``loans`` (attribute or key) reach ``minimum``; the rest go."""
    _check(minimum)

    def count(e: T) -> int:
        return int(e[loans] if isinstance(e, Mapping) else getattr(e, loans))

    return [e for e in entries if count(e) >= minimum]
