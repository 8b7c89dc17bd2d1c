"""JMA AMeDAS map snapshot or point file + station table → WeatherObserved and Device.

JMA publishes AMeDAS in several JSON layouts, recognised by content, never by file name:
the national *map* file (``data/map/YYYYMMDDhhmm00.json``: station code → elements, one
instant), the per-station *point* file (``data/point/<code>/YYYYMMDD_hh.json``:
observation time ``YYYYMMDDhhmmss`` → elements, one station), and the *station table*
(``const/amedastable.json``: station code → ``kjName``/``lat``/``lon``), which is this
adapter's ``stations`` option, not a source of observations. Anything else is an error
naming what was found, never a run of quarantined rows (see README.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import orjson

from adapters.jma_amedas.mapping import device, station_location, weather_observed
from adapters.sdk import Adapter, Dedup, Emit, Manifest, Outcome, Quarantine, Skip, SourceError
from adapters.sdk.base import read_source
from adapters.sdk.dates import JST, iso_jst

__all__ = ["AmedasAdapter"]

_HERE = Path(__file__).resolve().parent
_FIXTURES = _HERE.parent.parent / "tests" / "adapters" / "fixtures" / "jma_amedas"
_STAMP = re.compile(r"(\d{14})")
_CODE = re.compile(r"\d{5}")
_TIME_KEY = re.compile(r"\d{14}")
_POINT_PATH = re.compile(r"(?:^|/)(\d{5})(?:/|_)")


class AmedasAdapter(Adapter):
    manifest = Manifest.from_file(_HERE / "manifest.toml")
    produces: ClassVar = {
        "WeatherObserved": ("dateObserved", "location", "refDevice", "name", "quality",
                            "temperature", "relativeHumidity", "atmosphericPressure",
                            "windSpeed", "windDirection", "snowHeight", "precipitation",
                            "precipitationPeriod"),
        "Device": ("name", "serialNumber", "location", "deviceCategory", "controlledProperty"),
    }
    default_source = _FIXTURES / "amedas_map_20250628180000.json"

    def _stations(self) -> dict[str, Any]:
        src = self.options.get("stations", _FIXTURES / "amedastable.json")
        try:
            table = orjson.loads(read_source(src))
        except (OSError, orjson.JSONDecodeError) as exc:
            raise SourceError(f"station table {src}: {exc}") from exc
        if not isinstance(table, dict):
            raise SourceError(f"station table {src}: not an object keyed by station code")
        return table

    def _time(self) -> datetime:
        raw = self.options.get("time")
        if raw is None:
            m = _STAMP.search(Path(self.source).name)
            if not m:
                raise SourceError(f"{self.source}: observation time unknown (name the file "
                                  "…YYYYMMDDhhmmss.json or pass the time option)")
            raw = m.group(1)
        return datetime.strptime(str(raw)[:12], "%Y%m%d%H%M").replace(tzinfo=JST)

    def rows(self, text: str) -> Iterator[Outcome]:
        pairs = _parse(text, self.source)
        layout = _layout(pairs, self.source)
        if layout == "point":
            yield from self._point_rows(pairs)
            return
        yield from self._map_rows(pairs)

    def _point_rows(self, pairs: list[tuple[str, Any]]) -> Iterator[Outcome]:
        """A point file: one station, one row per observation time (the keys, JST)."""
        code = self._point_station(pairs)
        station = self._stations().get(code)
        if station is None:
            raise SourceError(f"{self.source}: station {code} is not in the station table")
        location = station_location(station)
        dedup = Dedup()
        device_sent = False
        for n, (key, elements) in enumerate(pairs, 1):
            raw = f"{key}: {orjson.dumps(elements).decode()}"
            if not _TIME_KEY.fullmatch(key) or not isinstance(elements, dict):
                yield Quarantine(self.source, n, raw, "not an observation time with elements")
                continue
            try:
                when = datetime.strptime(key[:12], "%Y%m%d%H%M").replace(tzinfo=JST)
                observed_at, stamp = iso_jst(when), when.strftime("%Y%m%dT%H%M")
                w = weather_observed(code, elements, station, location, observed_at, stamp)
                extra = [] if device_sent else [device(code, station, location, w)]
            except (ValueError, KeyError, TypeError) as exc:
                yield Quarantine(self.source, n, raw, str(exc))
                continue
            out = dedup.check(Emit(self.source, n, [*w, *extra], observed_at), raw)
            device_sent = device_sent or isinstance(out, Emit)
            yield out

    def _point_station(self, pairs: list[tuple[str, Any]]) -> str:
        """The point file's station: the ``station`` option, the file's own
        ``prefNumber``/``observationNumber``, or the code in its path (``point/44132/``)."""
        code = str(self.options.get("station", ""))
        if not code:
            first = next((v for _, v in pairs if isinstance(v, dict)), {})
            pref, obs = first.get("prefNumber"), first.get("observationNumber")
            if isinstance(pref, int) and isinstance(obs, int):
                code = f"{pref:02d}{obs:03d}"
        if not code and (m := _POINT_PATH.search(self.source.replace("\\", "/"))):
            code = m.group(1)
        if not _CODE.fullmatch(code):
            raise SourceError(f"{self.source}: an AMeDAS point file whose station is unknown "
                              "(pass the station option, 5 digits)")
        return code

    def _map_rows(self, stations_in: list[tuple[str, Any]]) -> Iterator[Outcome]:
        """A national map file: one instant, one row per station."""
        when = self._time()
        observed_at, stamp = iso_jst(when), when.strftime("%Y%m%dT%H%M")
        stations = self._stations()
        prefix = str(self.options.get("prefecture", ""))
        dedup = Dedup()
        for n, (code, elements) in enumerate(stations_in, 1):
            if prefix and not code.startswith(prefix):
                yield Skip(self.source, n, "outside the selected prefecture")
                continue
            raw = f"{code}: {orjson.dumps(elements).decode()}"
            station = stations.get(code)
            if not _CODE.fullmatch(code) or not isinstance(elements, dict):
                yield Quarantine(self.source, n, raw, "not a 5-digit station code with elements")
                continue
            if station is None:
                yield Quarantine(self.source, n, raw, "station not in the station table")
                continue
            try:
                location = station_location(station)
                w = weather_observed(code, elements, station, location, observed_at, stamp)
                d = device(code, station, location, w)
            except (ValueError, KeyError, TypeError) as exc:
                yield Quarantine(self.source, n, raw, str(exc))
                continue
            yield dedup.check(Emit(self.source, n, [*w, d], observed_at), raw)


def _layout(pairs: list[tuple[str, Any]], source: str) -> str:
    """``map`` or ``point``, from the content; anything else raises, naming what it is."""
    sample = pairs[:50]
    if not sample:
        raise SourceError(f"{source}: an empty JSON object, not an AMeDAS file")
    keys = [k for k, _ in sample]
    values = [v for _, v in sample if isinstance(v, dict)]
    if len(values) * 2 < len(sample):
        raise SourceError(f"{source}: not an AMeDAS map or point file: the values are not "
                          f"objects of elements (first key {keys[0]!r})")
    if sum(bool(_TIME_KEY.fullmatch(k)) for k in keys) * 2 > len(keys):
        return "point"
    if sum(bool(_CODE.fullmatch(k)) for k in keys) * 2 > len(keys):
        if sum("kjName" in v and "lat" in v for v in values) * 2 > len(values):
            raise SourceError(
                f"{source}: this is the AMeDAS station table (const/amedastable.json), not "
                "observations: give it as the stations option and a map file "
                "(data/map/YYYYMMDDhhmm00.json) or point file "
                "(data/point/<code>/YYYYMMDD_hh.json) as the source")
        return "map"
    found = ", ".join(repr(k) for k in keys[:3])
    elements = sorted({e for v in values[:5] for e in v})[:6]
    raise SourceError(f"{source}: an AMeDAS layout this adapter does not know: keys like "
                      f"{found} (neither 5-digit station codes nor YYYYMMDDhhmmss times), "
                      f"values with {elements}; known: the map file (station code → "
                      "elements), the point file (observation time → elements)")


class _Pairs(list[tuple[str, Any]]):
    """A JSON object with a repeated key, as its (key, value) pairs, duplicates kept."""


def _parse(text: str, source: str) -> list[tuple[str, Any]]:
    """The snapshot's (station code, value) pairs in file order, a repeated code kept.

    Objects become dicts as they are parsed; only one with a repeated key is kept as
    ``_Pairs`` (so a station listed twice is seen twice), and only then is the tree walked
    again, to turn nested ``_Pairs`` back into dicts (the last value of a key wins).
    """
    repeated = False

    def hook(items: list[tuple[str, Any]]) -> dict[str, Any] | _Pairs:
        nonlocal repeated
        obj = dict(items)
        if len(obj) == len(items):
            return obj
        repeated = True
        return _Pairs(items)

    try:
        snapshot = json.loads(text, object_pairs_hook=hook)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{source}: not JSON (truncated?): {exc}") from exc
    if not isinstance(snapshot, dict | _Pairs):
        raise SourceError(f"{source}: not an AMeDAS map (object of station objects)")
    pairs = list(snapshot.items()) if isinstance(snapshot, dict) else list(snapshot)
    if repeated:
        pairs = [(code, _as_dict(v)) for code, v in pairs]
    return pairs


def _as_dict(value: Any) -> Any:
    if isinstance(value, _Pairs):
        return {k: _as_dict(v) for k, v in value}
    if isinstance(value, dict):
        return {k: _as_dict(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_dict(v) for v in value]
    return value
