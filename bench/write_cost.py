"""What the write statement costs PostgreSQL per entity (issue #13; a script, not a test).

    RENKEI_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/<scratch db> \\
        .venv/bin/python bench/write_cost.py [--batches 100] [--rounds 3]

Empties the database it is given (drops the ``ngsild`` and ``renkei`` schemas), applies
the migrations, then writes batches of 1,000 TrafficFlowObserved entities (six attributes,
one a GeoProperty, ``bench/query_matrix.py``'s), each stamped with one of ten
municipalities' datasets as an enforcing hub stamps them, straight through
``store.write_entities`` on one connection: first new ids (``new``), then the same ids
with new values (``replace``). No HTTP and no NGSI-LD work, so what it prints is the
storage layout's cost: per 1,000 entities the statement's wall time, the CPU of the
connection's backend (``/proc``) and the WAL written (``pg_current_wal_lsn``, which counts
the whole server's: run it on a quiet one). A checkpoint precedes each phase, so the
first batches pay the full-page images every phase after a checkpoint pays. Figures are
the median of the batches and of ``--rounds`` runs of both phases; compare two trees by
running it in each, alternately.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.query_matrix import entity  # noqa: E402
from bench.workload13 import _cpu  # noqa: E402
from hub.db.migrations import apply_global, apply_tenant  # noqa: E402
from hub.db.pool import init_connection  # noqa: E402
from hub.store import entities as store  # noqa: E402

VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
CORE = "https://uri.etsi.org/ngsi-ld/"
DATASET = VOCAB + "refDataset"
NOW = "2026-12-07T00:00:00Z"
BATCH = 1000


def stored(i: int, rnd: random.Random) -> dict[str, Any]:
    """``entity(i)`` in the stored form ``write_entities`` takes, stamped with its
    municipality's dataset (``bench/consumer_matrix.py`` gives the ten a tenth each)."""
    raw = entity(i, rnd)
    attrs: dict[str, Any] = {}
    for name, inst in raw.items():
        if name in ("id", "type"):
            continue
        key = CORE + name if name == "location" else VOCAB + name
        attrs[key] = [dict(inst)]
    attrs[DATASET] = [{"type": "Relationship",
                       "object": f"urn:ngsi-ld:Dataset:m{i % 10}-traffic"}]
    return {"id": raw["id"], "types": [VOCAB + raw["type"]], "scopes": None,
            "attrs": attrs, "createdAt": NOW, "modifiedAt": NOW}


async def phase(con: asyncpg.Connection, pid: int, batches: int, create: bool,
                seed: int) -> list[tuple[float, float, float]]:
    """(ms, backend CPU ms, WAL kB) of each batch."""
    rnd = random.Random(seed)
    await con.execute("CHECKPOINT")
    out = []
    for b in range(batches):
        ents = [stored(i, rnd) for i in range(b * BATCH, (b + 1) * BATCH)]
        lsn0 = await con.fetchval("SELECT pg_current_wal_lsn()")
        cpu0, t0 = _cpu(pid), time.perf_counter()
        written = await store.write_entities(con, "ngsild", ents, create_only=False,
                                             history=False)
        ms = (time.perf_counter() - t0) * 1000
        cpu = (_cpu(pid) - cpu0) * 1000
        wal = await con.fetchval("SELECT pg_current_wal_lsn() - $1::pg_lsn", lsn0)
        assert len(written) == BATCH and all(v == create for v in written.values())
        out.append((ms, cpu, float(wal) / 1024))
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url = os.environ["RENKEI_BENCH_DATABASE_URL"]
    rows: dict[str, list[tuple[float, float, float]]] = {"new": [], "replace": []}
    for r in range(args.rounds):
        con = await asyncpg.connect(url)
        try:
            await con.execute("DROP SCHEMA IF EXISTS ngsild CASCADE;"
                              " DROP SCHEMA IF EXISTS renkei CASCADE")
            await apply_global(con)
            await apply_tenant(con, "ngsild")
            await init_connection(con)  # the pool's codecs (jsonb from orjson)
            pid = await con.fetchval("SELECT pg_backend_pid()")
            rows["new"] += await phase(con, pid, args.batches, True, r)
            await con.execute("VACUUM ANALYZE ngsild.entities, ngsild.entity_values")
            rows["replace"] += await phase(con, pid, args.batches, False, 100 + r)
        finally:
            await con.close()
    print(f"{'phase':8} {'ms/1k':>8} {'db cpu ms/1k':>13} {'WAL kB/1k':>10}"
          f"   (median of {args.rounds} x {args.batches} batches of {BATCH})")
    for name, found in rows.items():
        ms, cpu, wal = (statistics.median(x[k] for x in found) for k in range(3))
        print(f"{name:8} {ms:8.1f} {cpu:13.1f} {wal:10.0f}")


if __name__ == "__main__":
    asyncio.run(main())
