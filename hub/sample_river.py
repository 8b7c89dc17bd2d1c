"""Real river-level history for the quick start: one MLIT 時刻水位月表 parsed into entities.

The file is MLIT's hourly stage of 茂志利 (天塩川, 観測所記号 301011281104010) for January
2023, as downloaded from 水文水質データベース (www1.river.go.jp) and recorded in the
RivRetrieve project's tests (MIT; 出典：国土交通省 水文水質データベース). It is the only
openly licensed MLIT hourly series we hold, so it is loaded as what it is, a Hokkaido
station at its own position, never relabelled as a Nagano one.

MLIT publishes no thresholds with this file. The dashboard needs threshold lines to be
useful, so the sample adds a ``FloodMonitoring`` whose four levels are *made up* from the
month's range; it says so in ``dataProvider`` and ``source`` (and the page shows the
label), so nobody mistakes them for 基準水位 MLIT set.

Pure: parsing and entity building only; ``hub/sample.py`` stores the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

__all__ = ["SYNTHETIC", "Reading", "RiverSample", "parse_jikoku_suii", "river_sample"]

JST = timezone(timedelta(hours=9))
#: the ``dataProvider`` of everything the sample made up (the page labels it)
SYNTHETIC = "synthetic"
SOURCE = ("MLIT 水文水質データベース (www1.river.go.jp) 時刻水位月表, via the RivRetrieve test "
          "recording (MIT); 出典：国土交通省")
#: flags that mean no value (MLIT legend: $ 欠測, # 閉局, - 未登録); * (暫定値) is kept
_NO_VALUE = frozenset({"$", "#", "-"})


@dataclass(frozen=True, slots=True)
class Reading:
    """One hourly stage: when (UTC), metres, and whether MLIT marked it provisional."""

    at: datetime
    level: float
    provisional: bool


@dataclass(frozen=True, slots=True)
class RiverSample:
    """The current-state entities and the history of one station."""

    entities: list[dict[str, Any]]
    history: dict[str, Any]  # a temporal entity payload (GS CIM 009 5.6.11)
    readings: list[Reading]


def parse_jikoku_suii(raw: bytes) -> tuple[dict[str, str], list[Reading]]:
    """(header fields, readings) of a 時刻水位月表 download.

    Shift_JIS, decoded before splitting (a trail byte 0x85 would look like a line break);
    each day row holds 24 (value, flag) pairs, hour ``24時`` being 00:00 of the next day.
    """
    header: dict[str, str] = {}
    out: list[Reading] = []
    for line in raw.decode("shift_jis").splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) == 2 and not cells[0].startswith("#"):
            header[cells[0]] = cells[1]
            continue
        if len(cells) < 49 or len(cells[0]) != 10 or cells[0][4] != "/":
            continue
        day = datetime.strptime(cells[0], "%Y/%m/%d").replace(tzinfo=JST)
        for hour in range(1, 25):
            value, flag = cells[2 * hour - 1], cells[2 * hour]
            if not value or flag in _NO_VALUE:
                continue
            out.append(Reading((day + timedelta(hours=hour)).astimezone(UTC),
                               float(value), flag == "*"))
    return header, out


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _dms(text: str) -> tuple[float, float]:
    """(lon, lat) of MLIT's 世界測地系 text ``北緯 44度04分29秒 東経 142度44分25秒``."""
    parts = [p.replace("度", " ").replace("分", " ").replace("秒", "").split()
             for p in text.split(" ", 1)[1].split(" 東経 ")]
    lat, lon = (int(d) + int(m) / 60 + int(s) / 3600 for d, m, s in parts)
    return round(lon, 6), round(lat, 6)


def river_sample(raw: bytes, dms: str, name: str) -> RiverSample:
    """The station's WaterObserved (its last reading), its synthetic FloodMonitoring and
    its waterLevel history, all in the contracts' @context (short names)."""
    header, readings = parse_jikoku_suii(raw)
    code = header["観測所記号"]
    lon, lat = _dms(dms)
    location = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}
    device = f"urn:ngsi-ld:Device:mlit-{code}"
    eid = f"urn:ngsi-ld:WaterObserved:mlit-{code}"
    last = readings[-1]
    observed = {
        "id": eid, "type": "WaterObserved",
        "name": {"type": "Property", "value": name},
        "location": location,
        "refDevice": {"type": "Relationship", "object": device},
        "dateObserved": {"type": "Property", "value": _iso(last.at)},
        "waterLevel": {"type": "Property", "value": last.level, "unitCode": "MTR",
                       "observedAt": _iso(last.at)},
        "quality": {"type": "Property", "value": "normal"},
        "source": {"type": "Property", "value": SOURCE},
    }
    levels = sorted(r.level for r in readings)
    low, high = levels[len(levels) // 2], levels[-1]
    step = round(max(high - low, 0.1) / 3, 2)
    thresholds = {
        "id": f"urn:ngsi-ld:FloodMonitoring:synthetic-mlit-{code}", "type": "FloodMonitoring",
        "stationID": {"type": "Property", "value": code},
        "name": {"type": "Property", "value": name},
        "location": location,
        "refDevice": {"type": "Relationship", "object": device},
        **{key: {"type": "Property", "value": round(low + k * step, 2), "unitCode": "MTR"}
           for k, key in enumerate(("standbyLevel", "alertLevel",
                                    "evacuationDecisionLevel", "dangerLevel"), start=1)},
        "dataProvider": {"type": "Property", "value": SYNTHETIC},
        "source": {"type": "Property", "value": "synthetic: illustrative thresholds made up "
                   "by the Renkei sample from the month's median and peak; not MLIT's 基準水位"},
    }
    history = {
        "id": eid, "type": "WaterObserved",
        "waterLevel": [{"type": "Property", "value": r.level, "unitCode": "MTR",
                        "observedAt": _iso(r.at)} for r in readings],
    }
    return RiverSample([observed, thresholds], history, readings)
