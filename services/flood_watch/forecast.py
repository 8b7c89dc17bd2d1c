"""The forecasting step: a plug-in interface and the model shipped with it.

Any object with ``name`` and ``predict(history, horizon)`` is a forecaster (a
``typing.Protocol``), so a hydrological model can replace the shipped one without changing
the service. What ships is deliberately simple and says so:

* ``Persistence``: the level stays where it is. The baseline every model must beat.
* ``DailyPattern`` (the default): persistence plus the change the level made over the
  same hours yesterday. It knows nothing of rain, rating curves or upstream stations; it
  carries on a river's daily regulated pattern (hydropower, reservoir releases). On the
  recorded 茂志利 readings it beats persistence (docs/flood-watch.md has the figures); on
  the first hours of a rain-driven flood it is no better than persistence.
* ``LinearTrend``: a least-squares line through the last 3 hours, extended. Shipped as a
  measured counter-example: on a regulated river it reads each daily pulse as a flood wave
  and is worse than persistence.

``skill`` measures a forecaster against held-back history: at each reading it forecasts
from what was known then, and compares with the reading actually observed later.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from services.flood_watch.series import Reading

__all__ = ["DailyPattern", "Forecaster", "LinearTrend", "Persistence", "Skill", "skill"]


@runtime_checkable
class Forecaster(Protocol):
    """Predicts a station's level ``horizon`` after the last reading of ``history``."""

    @property
    def name(self) -> str:
        """The model's name, published with its forecasts (``forecastModel``)."""
        ...

    def predict(self, history: Sequence[Reading], horizon: timedelta) -> float | None:
        """The predicted level (metres), or None when the history is too short."""
        ...


class Persistence:
    """Tomorrow is like today: the last reading, whatever the horizon."""

    name = "persistence"

    def predict(self, history: Sequence[Reading], horizon: timedelta) -> float | None:
        return history[-1].value if history else None


@dataclass(frozen=True)
class LinearTrend:
    """Least-squares line through the readings of the last ``window``, extended by the
    horizon. Needs at least ``min_points`` readings in the window."""

    window: timedelta = timedelta(hours=3)
    min_points: int = 3
    name: str = "linear-trend-3h"

    def predict(self, history: Sequence[Reading], horizon: timedelta) -> float | None:
        if not history:
            return None
        last = history[-1].at
        recent = [r for r in history if last - r.at <= self.window]
        if len(recent) < self.min_points:
            return None
        xs = [(r.at - last).total_seconds() / 3600 for r in recent]
        ys = [r.value for r in recent]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        if sxx == 0:
            return my
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
        return my + slope * (horizon.total_seconds() / 3600 - mx)


@dataclass(frozen=True, slots=True)
class Skill:
    """Errors of one forecaster at one horizon over ``n`` forecasts (metres)."""

    model: str
    horizon: timedelta
    n: int
    mae: float
    rmse: float


def skill(model: Forecaster, series: Sequence[Reading], horizon: timedelta,
          start: int = 0, tolerance: timedelta = timedelta(minutes=1)) -> Skill:
    """Forecast from every prefix ``series[:i+1]`` (``i >= start``; earlier readings are
    history only) and compare with the reading at ``at + horizon``. A forecast is scored
    only where both the forecast and the observation exist, and every model is scored on
    the same instants only if the caller passes models that both answer there (both
    shipped ones do once ``start`` covers three hours)."""
    by_at = {r.at: r.value for r in series}
    errors: list[float] = []
    for i in range(start, len(series)):
        target = series[i].at + horizon
        observed = by_at.get(target)
        if observed is None:
            observed = next((r.value for r in series if abs(r.at - target) <= tolerance),
                            None)
        if observed is None:
            continue
        predicted = model.predict(series[: i + 1], horizon)
        if predicted is not None:
            errors.append(predicted - observed)
    n = len(errors)
    mae = sum(abs(e) for e in errors) / n if n else math.nan
    rmse = math.sqrt(sum(e * e for e in errors) / n) if n else math.nan
    return Skill(model.name, horizon, n, mae, rmse)


@dataclass(frozen=True)
class DailyPattern:
    """Persistence plus yesterday's change over the same hours: the level now, moved by
    what the level did between the same clock times one day earlier. Rivers below a
    regulated reservoir or hydropower intake repeat a daily release pattern that a trend
    line reads as a flood wave; this carries the pattern instead. Falls back to
    persistence when yesterday is missing. No rain, no hydraulics."""

    period: timedelta = timedelta(days=1)
    tolerance: timedelta = timedelta(minutes=20)
    name: str = "daily-pattern"

    def predict(self, history: Sequence[Reading], horizon: timedelta) -> float | None:
        if not history:
            return None
        last = history[-1]
        then = _value_near(history, last.at - self.period, self.tolerance)
        later = _value_near(history, last.at - self.period + horizon, self.tolerance)
        if then is None or later is None:
            return last.value
        return last.value + (later - then)


def _value_near(history: Sequence[Reading], at: datetime, tolerance: timedelta) -> float | None:
    best = min(history, key=lambda r: abs(r.at - at))
    return best.value if abs(best.at - at) <= tolerance else None
