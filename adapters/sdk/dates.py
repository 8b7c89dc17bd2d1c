"""Japanese calendar (和暦), fiscal years and JST timestamps.

Eras are identified by kanji (令和), one-letter romaji (R) or both; 元 is year 1. A fiscal
year (年度) runs April to March, so month 1–3 of FY n fall in calendar year n + 1.
Timestamps are JST (UTC+09:00, no daylight saving) and are written as ISO 8601 with the
``+09:00`` offset, so nothing downstream has to guess the zone. Hour ``24`` (used by MLIT
and many loggers for the reading that closes the day) is 00:00 of the next day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone

from adapters.sdk.text import nfkc

__all__ = [
    "JST",
    "fiscal_year_of",
    "fiscal_year_span",
    "hourly_jst",
    "iso_jst",
    "jst_datetime",
    "month_in_fiscal_year",
    "parse_date",
    "parse_year",
    "parse_year_sequence",
]

JST = timezone(timedelta(hours=9), "JST")

#: era -> first Gregorian year (year 1 of the era)
_ERAS = {"明治": 1868, "大正": 1912, "昭和": 1926, "平成": 1989, "令和": 2019}
_LETTERS = {"M": "明治", "T": "大正", "S": "昭和", "H": "平成", "R": "令和"}

_YEAR = re.compile(
    r"^\s*(?:(?P<era>明治|大正|昭和|平成|令和|[MTSHR])\s*(?P<n>元|\d{1,2})"
    r"|(?P<greg>\d{4})|(?P<bare>\d{1,2}))\s*(?:年度|年)?\s*(?P<fy>度)?\s*$",
    re.IGNORECASE,
)


def _era_year(era: str, n: str) -> int:
    era = _LETTERS.get(era.upper(), era)
    return _ERAS[era] + (1 if n == "元" else int(n)) - 1


def parse_year(label: str, *, era: str | None = None) -> int:
    """Gregorian year of ``令和元年``, ``R5``, ``H30``, ``平成26年度``, ``2023年度``.

    A bare number (``24``) is a continuation year of ``era`` (the era of the column
    before it); without one it is an error, never a guess.
    """
    year, _ = _parse_year(label, era)
    return year


def _parse_year(label: str, era: str | None) -> tuple[int, str | None]:
    m = _YEAR.match(nfkc(label))
    if not m:
        raise ValueError(f"not a year: {label!r}")
    if m["era"]:
        e = _LETTERS.get(m["era"].upper(), m["era"])
        return _era_year(e, m["n"]), e
    if m["greg"]:
        return int(m["greg"]), None
    if era is None:
        raise ValueError(f"bare year {label!r} without an era before it")
    return _era_year(era, m["bare"]), era


def parse_year_sequence(labels: Iterable[str]) -> list[int]:
    """Years of a header row such as ``平成30年度, 令和元年度, 2, 3`` (bare = same era)."""
    era: str | None = None
    out = []
    for label in labels:
        year, found = _parse_year(label, era)
        era = found if found else era
        out.append(year)
    return out


def month_in_fiscal_year(fiscal_year: int, month: int) -> tuple[int, int]:
    """(calendar year, month) of ``month`` within FY ``fiscal_year`` (April start)."""
    if not 1 <= month <= 12:
        raise ValueError(f"month out of range: {month}")
    return (fiscal_year if month >= 4 else fiscal_year + 1), month


def fiscal_year_of(d: date) -> int:
    return d.year if d.month >= 4 else d.year - 1


def fiscal_year_span(fiscal_year: int) -> tuple[date, date]:
    """First and last day of the fiscal year."""
    return date(fiscal_year, 4, 1), date(fiscal_year + 1, 3, 31)


_WAREKI_DATE = re.compile(
    r"^\s*(?P<era>明治|大正|昭和|平成|令和|[MTSHR])\s*(?P<n>元|\d{1,2})\s*[年./-]\s*"
    r"(?P<m>\d{1,2})\s*[月./-]\s*(?P<d>\d{1,2})\s*日?\s*$",
    re.IGNORECASE,
)
_GREG_DATE = re.compile(
    r"^\s*(?P<y>\d{4})\s*[年./-]?\s*(?P<m>\d{1,2})\s*[月./-]?\s*(?P<d>\d{1,2})\s*日?\s*$")


def parse_date(text: str, fmt: str | None = None) -> date:
    """A date in 和暦 (``令和5年4月1日``, ``R5.4.1``, ``H30/12/31``) or Gregorian form.

    ``fmt`` is a ``strptime`` format for anything else; ``None`` or ``"auto"`` accepts the
    forms above and ``YYYY/MM/DD``, ``YYYY-MM-DD``, ``YYYYMMDD``, ``2023年1月2日``.
    """
    s = text.strip() if text.isascii() else nfkc(text).strip()  # ASCII is NFKC's own form
    if fmt and fmt not in ("auto", "wareki"):
        if fmt == "%Y/%m/%d" and len(s) == 10 and s[4] == s[7] == "/" and s.isascii() \
                and (s[:4] + s[5:7] + s[8:]).isdigit():
            try:  # what strptime's pattern reads, by position (a day row's date)
                return date(int(s[:4]), int(s[5:7]), int(s[8:]))
            except ValueError:
                pass  # strptime's own error
        return datetime.strptime(s, fmt).date()
    m = _WAREKI_DATE.match(s)
    if m:
        return date(_era_year(m["era"], m["n"]), int(m["m"]), int(m["d"]))
    m = _GREG_DATE.match(s)
    if m and fmt != "wareki":
        return date(int(m["y"]), int(m["m"]), int(m["d"]))
    raise ValueError(f"not a date: {text!r}")


def jst_datetime(d: date, hour: int = 0, minute: int = 0) -> datetime:
    """JST datetime; ``hour == 24`` (with minute 0) is 00:00 of the next day."""
    if hour == 24 and minute == 0:
        return datetime(d.year, d.month, d.day, tzinfo=JST) + timedelta(days=1)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError(f"time out of range: {hour}:{minute:02d}")
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=JST)


def iso_jst(dt: datetime) -> str:
    """ISO 8601 with the +09:00 offset (naive datetimes are taken to be JST)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=JST)
    return dt.astimezone(JST).isoformat()


def hourly_jst(d: date) -> list[str]:
    """``iso_jst(jst_datetime(d, hour))`` for hours 1–24 of ``d`` (hour 24 is 00:00 of the
    next day), written from the date's own ISO form: a day row's 24 instants without 24
    datetimes."""
    day = d.isoformat()
    return [day + hour for hour in _HOURS_1_23] + [iso_jst(jst_datetime(d, 24))]


_HOURS_1_23 = tuple(f"T{hour:02d}:00:00+09:00" for hour in range(1, 24))
