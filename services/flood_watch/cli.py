"""``renkei flood-watch`` (also ``renkei-flood-watch``): run the prefecture's flood watch.

Reached through the ``renkei.commands`` entry-point group like ``renkei adapters``: the hub
may not import services. Credentials come from flags or the environment
(``RENKEI_FLOOD_WATCH_CLIENT_ID`` / ``_CLIENT_SECRET``), never from the hub's database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp

from services.flood_watch.client import HubClient
from services.flood_watch.service import Assessment, FloodWatch, Settings

__all__ = ["main"]

ENV = "RENKEI_FLOOD_WATCH_"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="renkei flood-watch",
                                description="The prefecture's flood watch over a hub's API")
    env = os.environ.get
    p.add_argument("command", choices=("run", "once"),
                   help="run: every --interval seconds; once: one cycle, print the result")
    p.add_argument("--hub", default=env(ENV + "HUB", "http://127.0.0.1:1026"))
    p.add_argument("--client-id", default=env(ENV + "CLIENT_ID"),
                   help="the prefecture's OAuth 2 client (none: a development-mode hub)")
    p.add_argument("--client-secret", default=env(ENV + "CLIENT_SECRET"))
    p.add_argument("--tenant", default=env(ENV + "TENANT"))
    p.add_argument("--purpose", default=env(ENV + "PURPOSE"),
                   help="Renkei-Purpose sent with every request (grants name one)")
    p.add_argument("--interval", type=float, default=float(env(ENV + "INTERVAL", "600")),
                   help="seconds between cycles (run)")
    p.add_argument("--basin-radius", type=float,
                   default=float(env(ENV + "BASIN_RADIUS_M", "10000")),
                   help="metres around a station whose rain gauges count as its basin")
    p.add_argument("--basins", type=Path, default=env(ENV + "BASINS"),
                   help="JSON file: station code -> GeoJSON Polygon of its basin")
    p.add_argument("--at", help="once: decide at this instant (ISO 8601) instead of now")
    return p


def _settings(args: argparse.Namespace) -> Settings:
    basins = json.loads(Path(args.basins).read_text("utf-8")) if args.basins else {}
    return Settings(basin_radius_m=args.basin_radius, basins=basins, interval=args.interval,
                    stale_after=timedelta(hours=2))


def _summary(a: Assessment) -> dict[str, object]:
    return {"station": a.station.station_id, "name": a.station.name, "level": a.level,
            "stage": a.stage.name if a.stage is not None else None, "rise1h": a.rise1h,
            "rise3h": a.rise3h, "rain": a.rain, "forecast": a.forecast,
            "alertWritten": a.written}


async def _main(args: argparse.Namespace) -> int:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        hub = HubClient(session, args.hub, args.client_id or None, args.client_secret,
                        args.tenant or None, args.purpose or None)
        watch = FloodWatch(hub, _settings(args))
        if args.command == "once":
            at = datetime.fromisoformat(args.at) if args.at else None
            for a in await watch.run_once(at):
                print(json.dumps(_summary(a), ensure_ascii=False))
            return 0
        await watch.run()
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.client_id and not args.client_secret:
        print("--client-secret (or RENKEI_FLOOD_WATCH_CLIENT_SECRET) is required",
              file=sys.stderr)
        return 2
    try:
        return asyncio.run(_main(args))
    except KeyboardInterrupt:
        return 0
