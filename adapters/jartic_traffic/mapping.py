"""Pure mapping of one JARTIC row to TrafficFlowObserved entities.

Per direction (上り → ``laneDirection`` ``forward``, 下り → ``backward``: Renkei's
convention, documented in docs/adapters.md) three entities: small vehicles (``car``),
large vehicles (``lorry``) and all vehicles (no ``vehicleType``; small + large +
unclassified). Unclassified vehicles have no SDM class, so they are counted only in the
total. Quality: the direction's 欠測 flag or a blank count → ``missing`` (no intensity;
the total is missing if any part is); a 停電 / ループ異常 / 超音波異常 flag →
``questionable``; otherwise ``normal``. The time code is the end of the counting period.

A row's six entities share the period and the position, so they are built from one
``RowTemplate`` row: those are validated once per row, the direction, class, count and
quality per entity (docs/adapters.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from adapters.sdk import entity_id
from adapters.sdk.contract import build_row
from adapters.sdk.dates import JST
from adapters.sdk.text import parse_number
from contracts import LineString, Point, RowTemplate, TrafficFlowObserved

__all__ = ["period_end", "row_entities", "site_key"]

_DIRS = (("上り", "forward", "up"), ("下り", "backward", "down"))
_FLAG = {"", "0", "1"}
_FLAG_COLUMNS = ("停電", "ループ異常", "超音波異常", "欠測")
#: per direction: label, laneDirection, id part, its flag columns, its count columns
_DIRECTIONS = tuple(
    (label, direction, short, tuple(f"{label}・{f}" for f in _FLAG_COLUMNS),
     tuple(f"{label}・{c}" for c in ("小型交通量", "大型交通量", "車種判別不能交通量")))
    for label, direction, short in _DIRS)
_CLASSES = ("car", "lorry", None)  # vehicleType of a direction's three entities
_ROW = RowTemplate(TrafficFlowObserved,
                   ("id", "laneDirection", "vehicleType", "intensity", "quality"))


def site_key(r: dict[str, str]) -> str:
    return f"{r['地方整備局等番号'].strip()}-{r['開発建設部／都道府県コード'].strip()}-" \
           f"{r['常時観測点コード'].strip()}"


def period_end(r: dict[str, str]) -> datetime:
    """The time code, checked against 観測年月日 + 時間帯 (hhmm, not zero-padded)."""
    code = r["時間コード"].strip()
    end = _time_code(code).replace(tzinfo=JST)
    hhmm = r["時間帯"].strip().zfill(4)
    if r["観測年月日"].strip() != code[:8] or hhmm != code[8:]:
        raise ValueError(f"time code {code} disagrees with 観測年月日/時間帯 "
                         f"{r['観測年月日']}/{r['時間帯']}")
    return end


def _time_code(code: str) -> datetime:
    """``strptime(code, "%Y%m%d%H%M")``: twelve ASCII digits that make a valid instant are
    read by position (what strptime's pattern matches first); anything else by strptime."""
    if len(code) == 12 and code.isascii() and code.isdigit():
        try:
            return datetime(int(code[:4]), int(code[4:6]), int(code[6:8]), int(code[8:10]),
                            int(code[10:]))
        except ValueError:
            pass
    return datetime.strptime(code, "%Y%m%d%H%M")


def _count(raw: str, what: str) -> int | None:
    v = parse_number(raw)
    if v is None:
        return None
    if v < 0 or not v.is_integer():
        raise ValueError(f"{what}: not a vehicle count: {raw!r}")
    return int(v)


def _location(r: dict[str, str]) -> Point | LineString | None:
    return _position(r["lat"], r["lng"], r.get("lat2", ""), r.get("lng2", ""))


@lru_cache(maxsize=4096)
def _position(lat_: str, lng_: str, lat2_: str, lng2_: str) -> Point | LineString | None:
    """A site's position, the same for each of its rows (kept for the next row)."""
    lat, lng = parse_number(lat_), parse_number(lng_)
    if lat is None or lng is None:
        return None
    lat2, lng2 = parse_number(lat2_), parse_number(lng2_)
    if lat2 is not None and lng2 is not None:
        return LineString(coordinates=[(lng, lat), (lng2, lat2)])
    return Point(coordinates=(lng, lat))


def row_entities(r: dict[str, str], interval: timedelta) -> tuple[list[dict[str, Any]], str]:
    """Six entities of one row (2 directions × car/lorry/all) and the period end (cursor)."""
    end = period_end(r)
    start = end - interval
    site = site_key(r)
    location = _location(r)
    row = _ROW.row(dateObservedFrom=start, dateObservedTo=end, location=location)
    prefix = entity_id("TrafficFlowObserved", f"jartic-{site}")
    stamp = (f"{end.year}{end.month:02d}{end.day:02d}T{end.hour:02d}{end.minute:02d}"
             if end.year >= 1000 else end.strftime("%Y%m%dT%H%M"))  # strftime's, faster
    ids: list[str] = []
    lanes: list[str] = []
    classes: list[str | None] = []
    intensities: list[int | None] = []
    qualities: list[str] = []
    columns: dict[str, list[Any]] = {"id": ids, "laneDirection": lanes, "vehicleType": classes,
                                     "intensity": intensities, "quality": qualities}
    try:
        for label, direction, short, flag_columns, count_columns in _DIRECTIONS:
            flags = [r[f].strip() for f in flag_columns]
            if not _FLAG.issuperset(flags):
                raise ValueError(f"{label}: flags must be 0, 1 or blank: {flags!r}")
            small_c, large_c, unknown_c = count_columns
            small = _count(r[small_c], small_c)
            large = _count(r[large_c], large_c)
            unknown = _count(r[unknown_c], unknown_c)
            # a direction's three entities: car, lorry, all (small + large + unclassified)
            if flags[3] == "1":  # 欠測
                counts: tuple[int | None, ...] = (None, None, None)
            elif small is None or large is None or unknown is None:
                counts = (small, large, None)
            else:
                counts = (small, large, small + large + unknown)
            quality = "questionable" if "1" in flags[:3] else "normal"
            ids.extend((f"{prefix}:{short}:car:{stamp}", f"{prefix}:{short}:lorry:{stamp}",
                        f"{prefix}:{short}:all:{stamp}"))
            lanes.extend((direction, direction, direction))
            classes.extend(_CLASSES)
            intensities.extend(counts)
            qualities.extend(["missing" if v is None else quality for v in counts])
    except ValueError:
        build_row(row, **columns)  # an earlier direction's refusal comes first
        raise
    return build_row(row, **columns), end.isoformat()
