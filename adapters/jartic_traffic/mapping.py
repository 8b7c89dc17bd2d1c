"""Pure mapping of one JARTIC row to TrafficFlowObserved entities.

Per direction (上り → ``laneDirection`` ``forward``, 下り → ``backward``: Renkei's
convention, documented in docs/adapters.md) three entities: small vehicles (``car``),
large vehicles (``lorry``) and all vehicles (no ``vehicleType``; small + large +
unclassified). Unclassified vehicles have no SDM class, so they are counted only in the
total. Quality: the direction's 欠測 flag or a blank count → ``missing`` (no intensity;
the total is missing if any part is); a 停電 / ループ異常 / 超音波異常 flag →
``questionable``; otherwise ``normal``. The time code is the end of the counting period.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from adapters.sdk import entity_id
from adapters.sdk.contract import build
from adapters.sdk.dates import JST
from adapters.sdk.text import parse_number
from contracts import LineString, Point, TrafficFlowObserved

__all__ = ["period_end", "row_entities", "site_key"]

_DIRS = (("上り", "forward", "up"), ("下り", "backward", "down"))
_FLAG = {"", "0", "1"}


def site_key(r: dict[str, str]) -> str:
    return f"{r['地方整備局等番号'].strip()}-{r['開発建設部／都道府県コード'].strip()}-" \
           f"{r['常時観測点コード'].strip()}"


def period_end(r: dict[str, str]) -> datetime:
    """The time code, checked against 観測年月日 + 時間帯 (hhmm, not zero-padded)."""
    code = r["時間コード"].strip()
    end = datetime.strptime(code, "%Y%m%d%H%M").replace(tzinfo=JST)
    hhmm = r["時間帯"].strip().zfill(4)
    if r["観測年月日"].strip() != code[:8] or hhmm != code[8:]:
        raise ValueError(f"time code {code} disagrees with 観測年月日/時間帯 "
                         f"{r['観測年月日']}/{r['時間帯']}")
    return end


def _count(raw: str, what: str) -> int | None:
    v = parse_number(raw)
    if v is None:
        return None
    if v < 0 or not v.is_integer():
        raise ValueError(f"{what}: not a vehicle count: {raw!r}")
    return int(v)


def _location(r: dict[str, str]) -> Point | LineString | None:
    lat, lng = parse_number(r["lat"]), parse_number(r["lng"])
    if lat is None or lng is None:
        return None
    lat2, lng2 = parse_number(r.get("lat2", "")), parse_number(r.get("lng2", ""))
    if lat2 is not None and lng2 is not None:
        return LineString(coordinates=[(lng, lat), (lng2, lat2)])
    return Point(coordinates=(lng, lat))


def row_entities(r: dict[str, str], interval: timedelta) -> tuple[list[dict[str, Any]], str]:
    """Six entities of one row (2 directions × car/lorry/all) and the period end (cursor)."""
    end = period_end(r)
    start = end - interval
    site = site_key(r)
    location = _location(r)
    stamp = end.strftime("%Y%m%dT%H%M")
    out = []
    for label, direction, short in _DIRS:
        flags = [r[f"{label}・{f}"].strip() for f in ("停電", "ループ異常", "超音波異常", "欠測")]
        if any(f not in _FLAG for f in flags):
            raise ValueError(f"{label}: flags must be 0, 1 or blank: {flags!r}")
        small = _count(r[f"{label}・小型交通量"], f"{label}・小型交通量")
        large = _count(r[f"{label}・大型交通量"], f"{label}・大型交通量")
        unknown = _count(r[f"{label}・車種判別不能交通量"], f"{label}・車種判別不能交通量")
        missing = flags[3] == "1"
        fault = "1" in flags[:3]
        total = None if None in (small, large, unknown) else small + large + unknown  # type: ignore[operator]
        for vclass, count, tag in (("car", small, "car"), ("lorry", large, "lorry"),
                                   (None, total, "all")):
            value = None if missing else count
            quality = "missing" if value is None else "questionable" if fault else "normal"
            out.append(build(
                TrafficFlowObserved,
                id=entity_id("TrafficFlowObserved", f"jartic-{site}", short, tag, stamp),
                dateObservedFrom=start, dateObservedTo=end, location=location,
                laneDirection=direction, vehicleType=vclass, intensity=value, quality=quality))
    return out, end.isoformat()
