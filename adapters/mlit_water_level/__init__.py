"""MLIT 時刻水位月表 (.dat, Shift_JIS) + station metadata → WaterObserved (see README.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import orjson

from adapters.mlit_water_level.mapping import Station, day_entities, station_device
from adapters.sdk import Adapter, Dedup, Emit, Manifest, Outcome, Quarantine, Skip, SourceError
from adapters.sdk.base import read_source
from adapters.sdk.dates import parse_date

__all__ = ["MlitWaterLevelAdapter"]

_HERE = Path(__file__).resolve().parent
_FIXTURES = _HERE.parent.parent / "tests" / "adapters" / "fixtures" / "mlit_water_level"
_TITLE = "時刻水位月表検索結果"


class MlitWaterLevelAdapter(Adapter):
    manifest = Manifest.from_file(_HERE / "manifest.toml")
    produces: ClassVar = {
        "WaterObserved": ("dateObserved", "location", "refDevice", "name", "waterLevel",
                          "quality"),
        "Device": ("name", "serialNumber", "location", "deviceCategory", "controlledProperty"),
    }
    default_source = _FIXTURES / "mlit_jikoku_suii_301011281104010_202301.dat"

    def _stations(self) -> dict[str, dict[str, Any]]:
        src = self.options.get("stations", _FIXTURES / "mlit_station_metadata.json")
        try:
            items = orjson.loads(read_source(src))
        except (OSError, orjson.JSONDecodeError) as exc:
            raise SourceError(f"station metadata {src}: {exc}") from exc
        return {str(s.get("観測所記号")): s for s in items if isinstance(s, dict)}

    row_unit = "line"  # rows are numbered by the file's lines

    def rows(self, text: str) -> Iterator[Outcome]:
        lines = text.splitlines()
        if not lines or lines[0].strip() != _TITLE:
            raise SourceError(f"{self.source}: unexpected header: first line is not {_TITLE}")
        head = {}
        header_at = None
        for i, line in enumerate(lines[:20]):
            parts = line.split(",")
            if len(parts) >= 2 and parts[0] in ("水系名", "河川名", "観測所名", "観測所記号"):
                head[parts[0]] = parts[1].strip()
            if line.startswith(",1時,") and ",24時," in line:
                header_at = i
        if header_at is None or "観測所記号" not in head:
            raise SourceError(f"{self.source}: unexpected header: no 観測所記号 or hour header")
        code = head["観測所記号"]
        meta = self._stations().get(code)
        station = Station(code, meta) if meta is not None else None
        dedup = Dedup()
        device_sent = False
        for n, line in enumerate(lines[header_at + 1:], header_at + 2):
            if not line.strip():
                yield Skip(self.source, n, "blank line")
                continue
            if line.startswith("#"):
                yield Skip(self.source, n, "comment line")
                continue
            cells = line.split(",")
            try:
                day = parse_date(cells[0], "%Y/%m/%d")
            except ValueError:
                yield Quarantine(self.source, n, line, f"not a date: {cells[0]!r}")
                continue
            if station is None:
                yield Quarantine(self.source, n, line, f"station {code} not in station metadata")
                continue
            try:
                entities, last = day_entities(station, day, cells[1:])
                if not device_sent:
                    entities.append(station_device(code, station.meta))
            except ValueError as exc:
                yield Quarantine(self.source, n, line, str(exc))
                continue
            out = dedup.check(Emit(self.source, n, entities, last), line, cells[1:])
            device_sent = device_sent or isinstance(out, Emit)
            yield out
