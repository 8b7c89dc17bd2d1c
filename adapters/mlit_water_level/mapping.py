"""Pure mapping of MLIT hourly stage rows and station metadata to contract entities.

A day row is ``YYYY/MM/DD`` followed by 24 ``(value, flag)`` pairs for hours 1–24; hour 24
is 00:00 of the next day. Flags: blank → ``normal`` (確定値), ``*`` → ``provisional``
(暫定値, revised later), ``$`` (欠測), ``#`` (閉局, station closed) and ``-`` (未登録) →
``missing`` with no waterLevel. Values are metres on the station's gauge datum.

A day's 24 entities share the station's values (position, name, gauge), so they are built
from one ``RowTemplate`` row: the station's values are validated once per station, the hour's
value, flag and instant per entity (docs/adapters.md); the station keeps its template row
for the source's other days.
"""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from adapters.sdk import entity_id
from adapters.sdk.contract import build, build_row
from adapters.sdk.dates import hourly_jst
from adapters.sdk.geo import parse_dms_pair, tokyo_to_jgd2011
from adapters.sdk.text import parse_number, parse_numbers
from contracts import Device, Point, RowTemplate, TemplateRow, WaterObserved

__all__ = ["FLAGS", "Station", "day_entities", "station_device", "station_location"]

FLAGS = {"": "normal", "*": "provisional", "$": "missing", "#": "missing", "-": "missing"}
_ID_HOURS = tuple(f"T{hour:02d}00" for hour in range(1, 24))
_HOURLY = RowTemplate(WaterObserved, ("id", "dateObserved", "waterLevel", "quality"))


def station_location(meta: dict[str, Any]) -> Point:
    """JGD2011 position: 世界測地系 when given, else 日本測地系 shifted (sdk.geo)."""
    if meta.get("世界測地系"):
        lat, lon = parse_dms_pair(meta["世界測地系"])
    elif meta.get("日本測地系"):
        lat, lon = tokyo_to_jgd2011(*parse_dms_pair(meta["日本測地系"]))
    else:
        raise ValueError("station metadata has no position")
    return Point(coordinates=(round(lon, 6), round(lat, 6)))


def _name(meta: dict[str, Any]) -> str:
    return str(meta.get("観測所名", "")).split("（")[0] or str(meta["観測所記号"])


class Station:
    """A station's values every day row repeats (position, name, gauge id), worked out on
    the first day row that needs them and kept for the source's other days; a position
    the metadata cannot give is the same error for every day."""

    def __init__(self, code: str, meta: dict[str, Any]) -> None:
        self.code, self.meta = code, meta
        self._shared: tuple[Point, str, str, str] | ValueError | None = None
        self._row: TemplateRow | None = None

    def shared(self) -> tuple[Point, str, str, str]:
        """(location, name, Device id, WaterObserved id prefix); raises ValueError."""
        if self._shared is None:
            try:
                location = station_location(self.meta)
            except ValueError as exc:
                self._shared = exc
            else:
                key = f"mlit-{self.code}"
                self._shared = (location, _name(self.meta), entity_id("Device", key),
                                entity_id("WaterObserved", key) + ":")
        if isinstance(self._shared, ValueError):
            raise ValueError(str(self._shared))
        return self._shared

    def row(self) -> tuple[TemplateRow, str]:
        """The day rows' template row (the station's values, validated once) and the
        WaterObserved id prefix; raises ValueError as ``shared`` does."""
        location, name, device, prefix = self.shared()
        if self._row is None:
            self._row = _HOURLY.row(location=location, refDevice=device, name=name)
        return self._row, prefix


def station_device(code: str, meta: dict[str, Any]) -> dict[str, Any]:
    return build(Device, id=entity_id("Device", f"mlit-{code}"), name=_name(meta),
                 serialNumber=code, location=station_location(meta),
                 deviceCategory=["sensor"], controlledProperty=["waterLevel"])


def day_entities(station: Station, day: date,
                 cells: list[str]) -> tuple[list[dict[str, Any]], str]:
    """24 WaterObserved entities of one day row, and the row's last instant (the cursor)."""
    if len(cells) < 48:
        raise ValueError(f"expected 24 (value, flag) pairs, got {len(cells) / 2:g}")
    if any(c.strip() for c in cells[48:]):
        raise ValueError(f"unexpected cells after hour 24: {cells[48:]!r}")
    row, prefix = station.row()
    whens = hourly_jst(day)
    day_prefix = f"{prefix}{day.year:04d}{day.month:02d}{day.day:02d}"
    last = whens[-1]  # hour 24: 00:00 of the next day
    ids = [day_prefix + hour for hour in _ID_HOURS]  # …T0100 to …T2300
    ids.append(f"{prefix}{last[:10].replace('-', '')}T{last[11:13]}00")
    hours = _hours(cells)
    if hours is not None:
        values, qualities = hours
        return build_row(row, id=ids, dateObserved=whens, waterLevel=values,
                         quality=qualities), whens[-1]
    values, qualities = [], []
    try:
        _hour_by_hour(cells, values, qualities)
    except ValueError:
        n = len(values)  # an earlier hour's refusal comes first
        build_row(row, id=ids[:n], dateObserved=whens[:n], waterLevel=values, quality=qualities)
        raise
    raise AssertionError("_hours refused a row _hour_by_hour accepts")


def _hours(cells: list[str]) -> tuple[list[float | None], list[str]] | None:
    """Each hour's value and quality, or None when some hour is wrong (then
    ``_hour_by_hour`` finds the first and says why)."""
    found = [FLAGS.get(f.strip()) for f in cells[1:48:2]]
    if None in found:
        return None
    flags = cast("list[str]", found)
    try:
        values = parse_numbers(None if q == "missing" else v
                               for q, v in zip(flags, cells[0:48:2], strict=True))
    except ValueError:
        return None
    return values, ["missing" if v is None else q
                    for q, v in zip(flags, values, strict=True)]


def _hour_by_hour(cells: list[str], values: list[float | None], qualities: list[str]) -> None:
    """Each hour's value and quality appended in turn; ValueError at the first wrong hour."""
    for hour, raw_value, raw_flag in zip(range(1, 25), cells[0:48:2], cells[1:48:2],
                                         strict=True):
        quality = FLAGS.get(flag := raw_flag.strip())
        if quality is None:
            raise ValueError(f"hour {hour}: unknown flag {flag!r}")
        try:
            value = None if quality == "missing" else parse_number(raw_value)
        except ValueError as exc:
            raise ValueError(f"hour {hour}: {exc}") from None
        values.append(value)
        qualities.append("missing" if value is None else quality)
