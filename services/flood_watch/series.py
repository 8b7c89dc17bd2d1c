"""Time series arithmetic for readings read back from the hub: rise over a window and
rainfall accumulated over a window. Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Reading", "accumulate", "dedupe", "level_at", "parse_duration", "rise"]


@dataclass(frozen=True, slots=True, order=True)
class Reading:
    """One value at one instant (``at`` is time-zone aware)."""

    at: datetime
    value: float
    period: timedelta | None = None  # for amounts: the period the amount covers


def dedupe(readings: Iterable[Reading]) -> list[Reading]:
    """One reading per instant, sorted. The same observation can arrive twice (as a
    current entity and as a temporal instance); the later one read wins (a revision)."""
    by_at: dict[datetime, Reading] = {}
    for r in readings:
        by_at[r.at] = r
    return [by_at[k] for k in sorted(by_at)]


def level_at(series: list[Reading], at: datetime, tolerance: timedelta) -> float | None:
    """The last reading at or before ``at`` and no older than ``tolerance``."""
    best: Reading | None = None
    for r in series:
        if r.at <= at:
            best = r
        else:
            break
    if best is None or at - best.at > tolerance:
        return None
    return best.value


def rise(series: list[Reading], now: datetime, window: timedelta,
         tolerance: timedelta = timedelta(minutes=20)) -> float | None:
    """Level at ``now`` minus level at ``now - window`` (metres); None when either end has
    no reading within ``tolerance``, rather than a rise made up from a gap."""
    current = level_at(series, now, tolerance)
    before = level_at(series, now - window, tolerance)
    if current is None or before is None:
        return None
    return round(current - before, 3)


def accumulate(series: list[Reading], now: datetime, window: timedelta) -> float:
    """Rain (mm) fallen in ``(now - window, now]``: the sum of the amounts reported at
    instants in that interval. Each amount covers the period ending at its instant; when a
    gauge reports several periods (10 min and 1 h), only its shortest one is summed, so no
    rain is counted twice."""
    periods = [r.period for r in series if r.period is not None]
    shortest = min(periods) if periods else None
    return round(sum(r.value for r in series
                     if now - window < r.at <= now
                     and (shortest is None or r.period in (None, shortest))), 2)


_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def parse_duration(text: object) -> timedelta | None:
    """An ISO 8601 duration of days, hours, minutes, seconds (``PT1H``, ``PT10M``);
    None for anything else."""
    if not isinstance(text, str):
        return None
    m = _DURATION.match(text)
    if m is None or text in ("P", "PT"):
        return None
    d, h, mi, s = m.groups()
    return timedelta(days=int(d or 0), hours=int(h or 0), minutes=int(mi or 0),
                     seconds=float(s or 0))
