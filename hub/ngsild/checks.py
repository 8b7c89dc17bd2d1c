"""Small validators shared by payload parsing and query parameters (GS CIM 009 clause 4.6)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

__all__ = [
    "is_datetime",
    "is_uri",
    "now_iso",
    "utc_iso",
    "valid_attr_name",
]

# RFC 3986 scheme, then at least one character that is not whitespace or a forbidden char.
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+$")
# 4.6.2: names shall not contain these characters (they break the query language or JSON-LD).
_FORBIDDEN = re.compile(r"[<>\"'=;()\s\x00-\x1f\x7f]")
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$"
)


def is_uri(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 2048 and _URI.match(value) is not None


@lru_cache(maxsize=4096)
def valid_attr_name(name: str) -> bool:
    """Cached: a batch repeats the same few names on every entity and every attribute."""
    return bool(name) and len(name) <= 2048 and _FORBIDDEN.search(name) is None


def is_datetime(value: object) -> bool:
    return isinstance(value, str) and _is_datetime_text(value)


@lru_cache(maxsize=4096)
def _is_datetime_text(value: str) -> bool:
    """Cached: the instances of a batch of observations mostly share their timestamps."""
    if _DATETIME.match(value) is None:
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def utc_iso(ts: datetime) -> str:
    """An instant as the spec's DateTime: UTC, microseconds, ``Z``.

    Every stored entity row carries two such instants, so this runs twice per entity of a
    page. The common case, asyncpg's ``timestamptz`` (tzinfo ``UTC`` itself), goes through
    ``_utc_text``; any other instant is converted and formatted here."""
    if ts.tzinfo is UTC and ts.year >= 1000:
        return _utc_text(ts)
    if ts.utcoffset() is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@lru_cache(maxsize=1024)
def _utc_text(ts: datetime) -> str:
    """``isoformat`` is 2.5x cheaper than ``strftime`` and gives the same text from year
    1000 on (``strftime`` does not zero-pad a shorter year); kept (bounded), because the
    rows of a page mostly share their instants: an entity's createdAt is its modifiedAt
    until it changes, and a batch writes its entities at one instant. Only ``UTC``-aware
    keys come here, and equal ones are the same instant, so a hit is the same text."""
    return ts.isoformat(timespec="microseconds")[:-6] + "Z"  # without "+00:00"


def now_iso() -> str:
    """The current instant as the spec's DateTime (UTC, ``Z``, microseconds)."""
    return utc_iso(datetime.now(UTC))
