"""Reading levels and rain back from the hub, as any partner would.

History comes from two public sources, merged by instant: the current state (adapters
that keep one entity per reading, as the MLIT and AMeDAS adapters do today, are found by
``refDevice`` and a ``dateObserved`` window) and the temporal API (``timerel=between`` on
``observedAt``) of the newest entity, for sources that update one entity in place and let
the hub record its history. Aggregation (``aggrMethods=sum``) is not asked of the hub: it
is summed here from the instances, which gives the same figure on every hub version.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from services.flood_watch.client import NGSI, HubClient, HubError
from services.flood_watch.series import Reading, dedupe, parse_duration

__all__ = ["basin_gauges", "level_history", "rain_by_gauge"]


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _when(value: Any) -> datetime | None:
    if isinstance(value, dict):
        value = value.get("@value")
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else None


def _window_q(start: datetime, end: datetime) -> str:
    return f"dateObserved>={_iso(start)};dateObserved<={_iso(end)}"


def _current(entities: Iterable[dict[str, Any]], attr: str) -> list[Reading]:
    out = []
    for e in entities:
        at, value = _when(e.get("dateObserved")), e.get(attr)
        if at is not None and isinstance(value, int | float) and not isinstance(value, bool):
            out.append(Reading(at, float(value), parse_duration(e.get("precipitationPeriod"))))
    return out


async def _temporal(hub: HubClient, eid: str, attr: str, start: datetime,
                    end: datetime) -> list[Reading]:
    """Instances of ``attr`` of one entity observed in [start, end]; [] when it has no
    temporal representation (404)."""
    params = {"attrs": attr, "timerel": "between", "timeAt": _iso(start),
              "endTimeAt": _iso(end + timedelta(seconds=1))}
    try:
        _, body = await hub.request("GET", f"{NGSI}/temporal/entities/{quote(eid, safe='')}",
                                    params=params)
    except HubError as exc:
        if exc.status == 404:
            return []
        raise
    out = []
    for inst in (body or {}).get(attr, []) if isinstance(body, dict) else []:
        at, value = _when(inst.get("observedAt")), inst.get("value")
        if at is not None and isinstance(value, int | float) and not isinstance(value, bool):
            out.append(Reading(at, float(value)))
    return out


def _newest(entities: list[dict[str, Any]]) -> dict[str, Any] | None:
    dated = [(at, e) for e in entities if (at := _when(e.get("dateObserved"))) is not None]
    return max(dated, key=lambda p: p[0])[1] if dated else None


async def level_history(hub: HubClient, device: str, start: datetime,
                        end: datetime) -> list[Reading]:
    """A station's water levels in [start, end], one per instant, oldest first."""
    found = await hub.entities({"type": "WaterObserved",
                                "q": f'refDevice=="{device}";{_window_q(start, end)}'})
    readings = _current(found, "waterLevel")
    newest = _newest(found)
    if newest is not None and len(found) == 1:  # updated in place: ask its history
        readings += await _temporal(hub, newest["id"], "waterLevel", start, end)
    return dedupe(readings)


async def basin_gauges(hub: HubClient, geo: dict[str, str], start: datetime,
                       end: datetime) -> dict[str, list[dict[str, Any]]]:
    """Rain observations in the basin and window, grouped by gauge (``refDevice``, else
    the entity id)."""
    found = await hub.entities({"type": "WeatherObserved", **geo,
                                "q": _window_q(start, end)})
    by_gauge: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in found:
        by_gauge[str(e.get("refDevice") or e["id"])].append(e)
    return by_gauge


async def rain_by_gauge(hub: HubClient, geo: dict[str, str], start: datetime,
                        end: datetime) -> dict[str, list[Reading]]:
    """Each basin gauge's precipitation amounts in the window, one per instant."""
    out = {}
    for gauge, entities in (await basin_gauges(hub, geo, start, end)).items():
        readings = _current(entities, "precipitation")
        newest = _newest(entities)
        if newest is not None and len(entities) == 1:  # updated in place: ask its history
            period = parse_duration(newest.get("precipitationPeriod"))
            readings += [Reading(r.at, r.value, period) for r in
                         await _temporal(hub, newest["id"], "precipitation", start, end)]
        out[gauge] = dedupe(readings)
    return out
