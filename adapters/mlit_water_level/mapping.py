"""Pure mapping of MLIT hourly stage rows and station metadata to contract entities.

A day row is ``YYYY/MM/DD`` followed by 24 ``(value, flag)`` pairs for hours 1–24; hour 24
is 00:00 of the next day. Flags: blank → ``normal`` (確定値), ``*`` → ``provisional``
(暫定値, revised later), ``$`` (欠測), ``#`` (閉局, station closed) and ``-`` (未登録) →
``missing`` with no waterLevel. Values are metres on the station's gauge datum.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from adapters.sdk import entity_id
from adapters.sdk.contract import build
from adapters.sdk.dates import iso_jst, jst_datetime
from adapters.sdk.geo import parse_dms_pair, tokyo_to_jgd2011
from adapters.sdk.text import parse_number
from contracts import Device, Point, WaterObserved

__all__ = ["FLAGS", "day_entities", "station_device", "station_location"]

FLAGS = {"": "normal", "*": "provisional", "$": "missing", "#": "missing", "-": "missing"}


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


def station_device(code: str, meta: dict[str, Any]) -> dict[str, Any]:
    return build(Device, id=entity_id("Device", f"mlit-{code}"), name=_name(meta),
                 serialNumber=code, location=station_location(meta),
                 deviceCategory=["sensor"], controlledProperty=["waterLevel"])


def day_entities(code: str, meta: dict[str, Any], day: date,
                 cells: list[str]) -> tuple[list[dict[str, Any]], str]:
    """24 WaterObserved entities of one day row, and the row's last instant (the cursor)."""
    if len(cells) < 48:
        raise ValueError(f"expected 24 (value, flag) pairs, got {len(cells) / 2:g}")
    if any(c.strip() for c in cells[48:]):
        raise ValueError(f"unexpected cells after hour 24: {cells[48:]!r}")
    location, name = station_location(meta), _name(meta)
    device = entity_id("Device", f"mlit-{code}")
    out = []
    last = ""
    for hour in range(1, 25):
        raw_value, flag = cells[2 * hour - 2], cells[2 * hour - 1].strip()
        if flag not in FLAGS:
            raise ValueError(f"hour {hour}: unknown flag {flag!r}")
        quality = FLAGS[flag]
        try:
            value = None if quality == "missing" else parse_number(raw_value)
        except ValueError as exc:
            raise ValueError(f"hour {hour}: {exc}") from None
        if value is None:
            quality = "missing"
        when = iso_jst(jst_datetime(day, hour))
        stamp = when[:13].replace("-", "") + when[14:16]  # 20230101T0100
        out.append(build(WaterObserved, id=entity_id("WaterObserved", f"mlit-{code}", stamp),
                         dateObserved=when, location=location, refDevice=device, name=name,
                         waterLevel=value, quality=quality))
        last = when
    return out, last
