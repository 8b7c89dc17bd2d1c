"""Adapter benchmark (a script, not a test): normalisation rate per adapter, and end-to-end
ingest into a hub for the full AMeDAS snapshot and a generated 100,000-row traffic file.

    RENKEI_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench \
        .venv/bin/python bench/adapters.py

Without the variable an embedded PostgreSQL is started in a temporary directory. The
database's ngsild/renkei/registry schemas are dropped first. The hub runs as a
``renkei serve`` subprocess (auth_mode dev, a catch-all dataset registered over the
registry API) and the adapters reach it over HTTP exactly as the CLI does. Results and
how they were obtained: docs/performance.md, "Adapters".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hubsetup import register_catch_all  # noqa: E402  (bench/ is sys.path[0])

from adapters.declarative import DeclarativeMapping  # noqa: E402
from adapters.jartic_traffic import JarticTrafficAdapter  # noqa: E402
from adapters.jartic_traffic.layout import generate  # noqa: E402
from adapters.jma_amedas import AmedasAdapter  # noqa: E402
from adapters.library_circulation import LibraryCirculationAdapter  # noqa: E402
from adapters.library_loans import LibraryLoansAdapter  # noqa: E402
from adapters.mlit_water_level import MlitWaterLevelAdapter  # noqa: E402
from adapters.sdk import Adapter, Emit, HubSink, StateStore, run_adapter  # noqa: E402
from adapters.sdk.contract import build, build_row  # noqa: E402
from adapters.sdk.runner import BATCH_SIZE  # noqa: E402
from contracts import (  # noqa: E402
    Point,
    RowTemplate,
    WaterObserved,
    iri,
    to_ngsi_ld,
    validate_stored,
)

PORT = 1037
HUB = f"http://127.0.0.1:{PORT}"


def traffic_file(rows: int) -> Path:
    path = Path(tempfile.gettempdir()) / f"renkei-bench-traffic-{rows}.csv"
    if not path.exists():
        path.write_bytes(("\r\n".join(generate(rows, sites=500)) + "\r\n").encode("cp932"))
    return path


def normalisation(name: str, adapter: Adapter, repeat: int, min_seconds: float = 1.0) -> None:
    """Rows and entities per second of CPU time (normalisation is one thread of pure CPU
    work, so CPU time is what other processes on a shared machine disturb least), the
    median of ``repeat`` rounds of at least ``min_seconds`` each."""
    adapter.source_bytes()
    row_rates, entity_rates = [], []
    for _ in range(repeat):
        rows = entities = 0
        start = time.process_time()
        while True:
            for o in adapter.read():
                rows += 1
                if isinstance(o, Emit):
                    entities += len(o.entities)
            elapsed = time.process_time() - start
            if elapsed >= min_seconds:
                break
        row_rates.append(rows / elapsed)
        entity_rates.append(entities / elapsed)
    print(f"| {name} | {statistics.median(row_rates):,.0f} | "
          f"{statistics.median(entity_rates):,.0f} |")


def per_entity(repeat: int) -> None:
    """Where one entity's time goes (µs, median of ``repeat`` rounds): one MLIT
    WaterObserved, built the SDK's way, by its parts, checked with the hub's stored-form
    validator instead, and the floor of merely writing the NGSI-LD dict out."""
    values = {"id": "urn:ngsi-ld:WaterObserved:mlit-1:20230101T0100",
              "dateObserved": "2023-01-01T01:00:00+09:00",
              "location": Point(coordinates=(138.1, 36.6)),
              "refDevice": "urn:ngsi-ld:Device:mlit-1", "name": "立ヶ花", "waterLevel": 1.23,
              "quality": "normal"}
    model = WaterObserved.model_validate(values)
    entity = to_ngsi_ld(model, include_context=False)
    stored = {iri(k): v for k, v in entity.items() if k not in ("id", "type")}
    type_iris = [iri("WaterObserved")]
    when = values["dateObserved"]

    def literal() -> dict[str, object]:
        return {"id": values["id"], "type": "WaterObserved",
                "quality": {"type": "Property", "value": "normal"},
                "dateObserved": {"type": "Property", "value": when},
                "location": {"type": "GeoProperty",
                             "value": {"type": "Point", "coordinates": [138.1, 36.6]}},
                "refDevice": {"type": "Relationship", "object": values["refDevice"]},
                "name": {"type": "Property", "value": "立ヶ花"},
                "waterLevel": {"type": "Property", "value": 1.23, "unitCode": "MTR",
                               "observedAt": when}}

    template = RowTemplate(WaterObserved, ("id", "dateObserved", "waterLevel", "quality"))
    shared = {k: values[k] for k in ("location", "refDevice", "name")}
    columns = {k: [values[k]] * 24 for k in ("id", "dateObserved", "waterLevel", "quality")}

    cases = {
        "SDK build (validate + to_ngsi_ld)": lambda: build(WaterObserved, **values),
        "RowTemplate, one of a row of 24 (shared once, the rest per row)":
            lambda: build_row(template.row(**shared), **columns),
        "pydantic model, cross rules included": lambda: WaterObserved.model_validate(values),
        "to_ngsi_ld of the model": lambda: to_ngsi_ld(model, include_context=False),
        "validate_stored of the entity (hub's check)": lambda: validate_stored(type_iris, stored),
        "the NGSI-LD dict as a literal (no checks)": literal,
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(repeat):
        for k, f in cases.items():
            per = 24 if k.startswith("RowTemplate") else 1  # entities per call
            n = 20_000 // per
            start = time.process_time()
            for _ in range(n):
                f()
            times[k].append((time.process_time() - start) / n / per * 1e6)
    print("\n| one WaterObserved entity | µs (CPU) |\n|---|---:|")
    for k, v in times.items():
        print(f"| {k} | {statistics.median(v):.1f} |")


async def reset(url: str) -> None:
    con = await asyncpg.connect(url)
    await con.execute("DROP SCHEMA IF EXISTS ngsild CASCADE; DROP SCHEMA IF EXISTS renkei CASCADE;"
                      "DROP SCHEMA IF EXISTS registry CASCADE")
    await con.close()


async def prepare_hub() -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(200):
            try:
                async with s.get(HUB + "/ngsi-ld/v1/types") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        await register_catch_all(s, HUB)


async def end_to_end(name: str, adapter: Adapter, state: Path, in_flight: int,
                     batch_size: int) -> None:
    adapter.source_bytes()
    async with HubSink(HUB, max_bytes=8 << 20) as sink:
        start = time.perf_counter()
        report = await run_adapter(adapter, sink, StateStore(state), batch_size=batch_size,
                                   in_flight=in_flight)
        elapsed = time.perf_counter() - start
    assert report.status != "failed" and report.reconciles(), report
    print(f"| {name} | {report.read:,} | {report.entities:,} | {elapsed:.1f} s | "
          f"{report.read / elapsed:,.0f} | {report.entities / elapsed:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traffic-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3,
                        help="normalisation rounds per adapter; the median is printed")
    parser.add_argument("--in-flight", type=int, default=2,
                        help="upsert requests in flight during the end-to-end runs")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                        help="entities per upsert request during the end-to-end runs")
    parser.add_argument("--normalisation-only", action="store_true",
                        help="measure normalisation only; start no hub, touch no database")
    args = parser.parse_args()
    traffic = traffic_file(args.traffic_rows)
    ogawa = DeclarativeMapping.from_file(ROOT / "adapters" / "examples" / "ogawa_raingauge.toml")
    print(f"# {os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n")
    print("| adapter (fixture) | rows/s (CPU) | entities/s (CPU) |\n|---|---:|---:|")
    n = args.repeat
    normalisation("jma-amedas (full snapshot, 1,286 stations)", AmedasAdapter(), n)
    normalisation("mlit-water-level (one station-month)", MlitWaterLevelAdapter(), n)
    normalisation(f"jartic-traffic ({args.traffic_rows:,} rows)", JarticTrafficAdapter(traffic),
                  n, min_seconds=0.0)
    normalisation("library-loans (top-100 general)", LibraryLoansAdapter(), n)
    normalisation("library-circulation (3 fiscal years)", LibraryCirculationAdapter(), n)
    normalisation("ogawa-raingauge (declarative)", ogawa.adapter(), n)
    per_entity(args.repeat)
    if args.normalisation_only:
        return
    url = os.environ.get("RENKEI_BENCH_DATABASE_URL")
    embedded = None
    if not url:
        from hub.db.embedded import EmbeddedPostgres

        embedded = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="renkei-bench-")))
        url = embedded.start()
    asyncio.run(reset(url))
    env = {**os.environ, "RENKEI_LOG_LEVEL": "WARNING", "RENKEI_AUTH_MODE": "dev"}
    hub = subprocess.Popen([sys.executable, "-m", "hub", "serve", "--database-url", url,
                            "--port", str(PORT), "--max-body-bytes", str(64 << 20)],
                           env=env, cwd=ROOT)
    try:
        asyncio.run(prepare_hub())
        state = Path(tempfile.mkdtemp(prefix="renkei-bench-state-"))
        print(f"\n| end to end ({args.in_flight} in flight) | rows | entities | time | rows/s "
              "| entities/s |\n"
              "|---|---:|---:|---:|---:|---:|")
        asyncio.run(end_to_end("jma-amedas full snapshot", AmedasAdapter(), state,
                               args.in_flight, args.batch_size))
        asyncio.run(end_to_end(f"jartic-traffic {args.traffic_rows:,} rows",
                               JarticTrafficAdapter(traffic), state, args.in_flight,
                               args.batch_size))
    finally:
        hub.terminate()
        hub.wait()
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    main()
