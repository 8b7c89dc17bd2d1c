"""Where each built-in adapter's source is published, and what is new there.

``live_source(adapter_id, config, fetcher, now)`` answers the file a scheduled run reads
(cached on disk by the :class:`Fetcher`) and the adapter options that go with it, or
``path=None`` when the source has nothing new since the last committed run. The published
layouts (checked against the real files in the sample set, not fetched by the tests):

* **jma-amedas** (``base_url`` default ``https://www.jma.go.jp/bosai/amedas``):
  ``data/latest_time.txt`` holds the time of the newest snapshot (ISO 8601, JST); the
  national map of that time is ``data/map/{YYYYMMDDhhmmss}.json``; the station table is
  ``const/amedastable.json`` (conditional GET: fetched again only when it changed).
  ``layout = "point"`` with ``station`` reads the per-station file of the 3-hour block,
  ``data/point/{station}/{YYYYMMDD}_{hh}.json`` (``hh`` = 00, 03, … 21).
* **mlit-water-level** (``base_url`` default ``http://www1.river.go.jp``, ``station`` the
  観測所記号): the search page ``cgi-bin/DspWaterData.exe?KIND=2&ID=…&BGNDATE=…&ENDDATE=…
  &KAWABOU=NO`` for the current month links the ``.dat`` file under
  ``dat/dload/download/``; its numbered name changes per request, so "unchanged" is the
  digest of its body.
* **jartic-traffic** (``base_url`` required: the open-traffic download folder): one CSV per
  5-minute slot, ``{base}/{YYYYMMDD}/{YYYYMMDDhhmm}.csv``; the marker is the last slot read,
  a slot not there yet (404) is published late and tried again on the next pass.
* **library-loans**, **library-circulation** and declarative mappings: ``source``, the
  library's published CSV URL (ETag / Last-Modified, else the body's digest).

Any adapter also accepts ``source`` (a URL) in its registration config, which overrides
the published address.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from adapters.sdk.base import SourceError
from adapters.sources.fetch import Fetcher, SourceUnavailable

__all__ = ["AMEDAS_BASE", "MLIT_BASE", "LiveSource", "amedas_point_url", "live_source"]

JST = ZoneInfo("Asia/Tokyo")
AMEDAS_BASE = "https://www.jma.go.jp/bosai/amedas"
MLIT_BASE = "http://www1.river.go.jp"
_DAT_LINK = re.compile(r"""["']?([^"'\s>]*dat/dload/download/\d+\.dat)""")


@dataclass
class LiveSource:
    #: the file the adapter reads; None: nothing new since the last committed run
    path: Path | None
    options: dict[str, Any] = field(default_factory=dict)
    note: str = ""


Resolver = Callable[[Mapping[str, Any], Fetcher, datetime], Awaitable[LiveSource]]


def _base(config: Mapping[str, Any], default: str | None, adapter: str) -> str:
    base = config.get("base_url", default)
    if not isinstance(base, str) or not base:
        raise SourceError(f"{adapter}: set base_url in the registration config")
    return base.rstrip("/")


def amedas_point_url(base: str, station: str, when: datetime) -> str:
    """The per-station file holding ``when`` (JST): one file per 3-hour block."""
    local = when.astimezone(JST)
    return f"{base}/data/point/{station}/{local:%Y%m%d}_{local.hour // 3 * 3:02d}.json"


async def _amedas(config: Mapping[str, Any], fetcher: Fetcher, now: datetime) -> LiveSource:
    base = _base(config, AMEDAS_BASE, "jma-amedas")
    latest = await fetcher.get(f"{base}/data/latest_time.txt", conditional=False)
    marker = latest.data.decode("utf-8", "replace").strip()
    try:
        when = datetime.fromisoformat(marker).astimezone(JST)
    except ValueError as exc:
        raise SourceUnavailable(f"{latest.url}: not a time: {marker[:80]!r}") from exc
    if fetcher.memo.marker("amedas.latest") == marker:
        return LiveSource(None, note=f"no new snapshot since {marker}")
    stamp = when.strftime("%Y%m%d%H%M%S")
    if config.get("layout") == "point":
        station = str(config.get("station", ""))
        if not re.fullmatch(r"\d{5}", station):
            raise SourceError("jma-amedas: layout point needs station (5 digits)")
        url = amedas_point_url(base, station, when)
        body = await fetcher.get(url, cache_name=f"amedas_point_{station}_{Path(url).name}",
                                 conditional=False)
    else:
        body = await fetcher.get(f"{base}/data/map/{stamp}.json",
                                 cache_name=f"amedas_map_{stamp}.json", conditional=False)
    table = await fetcher.get(f"{base}/const/amedastable.json", cache_name="amedastable.json")
    fetcher.memo.set_marker("amedas.latest", marker)
    options = {"stations": str(table.path)}
    if config.get("layout") != "point":  # a point file is keyed by its observation times
        options["time"] = stamp
    return LiveSource(body.path, options, note=f"snapshot {marker}")


async def _mlit(config: Mapping[str, Any], fetcher: Fetcher, now: datetime) -> LiveSource:
    base = _base(config, MLIT_BASE, "mlit-water-level")
    station = str(config.get("station", ""))
    if not re.fullmatch(r"\d{15}", station):
        raise SourceError("mlit-water-level: set station (the 15-digit 観測所記号)")
    local = now.astimezone(JST)
    first = local.replace(day=1)
    page_url = (f"{base}/cgi-bin/DspWaterData.exe?KIND=2&ID={station}"
                f"&BGNDATE={first:%Y%m%d}&ENDDATE={local:%Y%m%d}&KAWABOU=NO")
    page = await fetcher.get(page_url, expect="text", conditional=False)
    m = _DAT_LINK.search(page.data.decode("shift_jis", "replace"))
    if not m:
        raise SourceUnavailable(f"{page_url}: no .dat download link on the page")
    link = m.group(1)
    url = link if link.startswith("http") else f"{base}/{link.lstrip('./')}"
    dat = await fetcher.get(url, cache_name=f"mlit_{station}_{local:%Y%m}.dat",
                            conditional=False)
    return _unless_same(fetcher, f"mlit.{station}", dat.data, dat.path, {})


async def _jartic(config: Mapping[str, Any], fetcher: Fetcher, now: datetime) -> LiveSource:
    base = _base(config, None, "jartic-traffic")
    last = fetcher.memo.marker("jartic.slot") or config.get("start")
    if last:
        slot = datetime.strptime(str(last), "%Y%m%d%H%M").replace(tzinfo=JST)
        slot += timedelta(minutes=5) if fetcher.memo.marker("jartic.slot") else timedelta()
    else:
        local = now.astimezone(JST) - timedelta(minutes=10)
        slot = local.replace(minute=local.minute // 5 * 5, second=0, microsecond=0)
    if slot > now.astimezone(JST):
        return LiveSource(None, note="no slot due yet")
    name = f"{slot:%Y%m%d%H%M}"
    body = await fetcher.get(f"{base}/{slot:%Y%m%d}/{name}.csv",
                             cache_name=f"jartic_{name}.csv", conditional=False)
    fetcher.memo.set_marker("jartic.slot", name)
    return LiveSource(body.path, note=f"slot {name}")


async def _published_file(config: Mapping[str, Any], fetcher: Fetcher,
                          now: datetime) -> LiveSource:
    url = config.get("source")
    if not isinstance(url, str) or not url:
        raise SourceError("set source (the published file's URL) in the registration config")
    got = await fetcher.get(url)
    if not got.modified:
        return LiveSource(None, note="unchanged (304 Not Modified)")
    return _unless_same(fetcher, f"digest.{url}", got.data, got.path, {})


def _unless_same(fetcher: Fetcher, key: str, data: bytes, path: Path,
                 options: dict[str, Any]) -> LiveSource:
    digest = hashlib.sha256(data).hexdigest()
    if fetcher.memo.marker(key) == digest:
        return LiveSource(None, note="unchanged (same content)")
    fetcher.memo.set_marker(key, digest)
    return LiveSource(path, options)


_RESOLVERS: dict[str, Resolver] = {
    "jma-amedas": _amedas,
    "mlit-water-level": _mlit,
    "jartic-traffic": _jartic,
}


async def live_source(adapter_id: str, config: Mapping[str, Any], fetcher: Fetcher,
                      now: datetime) -> LiveSource:
    """The file a scheduled run of ``adapter_id`` reads now (see the module docstring)."""
    if isinstance(config.get("source"), str) and adapter_id in _RESOLVERS:
        return await _published_file(config, fetcher, now)
    resolver = _RESOLVERS.get(adapter_id, _published_file)
    return await resolver(config, fetcher, now)
