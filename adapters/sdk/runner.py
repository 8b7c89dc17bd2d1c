"""One run of an adapter: read outcomes, upsert in batches, save state after each ack.

The counts of a run reconcile: every row read is written, quarantined, skipped, or (when
the hub became unreachable) left unacknowledged for the next run, and
``read == written + quarantined + skipped + unacknowledged`` is checked before the report
is returned. State moves forward only past rows whose batch the hub acknowledged.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.sdk.base import Adapter, SourceError
from adapters.sdk.records import Emit, Quarantine, Skip
from adapters.sdk.sink import HubUnavailable, Sink
from adapters.sdk.state import StateStore

__all__ = ["BATCH_SIZE", "RunReport", "run_adapter"]


@dataclass
class RunReport:
    adapter: str
    source: str
    started: str
    finished: str = ""
    #: ok, failed (hub unreachable or source unreadable), dry-run
    status: str = "ok"
    read: int = 0
    written: int = 0
    quarantined: int = 0
    skipped: int = 0
    unacknowledged: int = 0
    entities: int = 0
    error: str | None = None
    skip_reasons: dict[str, int] = field(default_factory=dict)
    quarantine: list[dict[str, Any]] = field(default_factory=list)

    def reconciles(self) -> bool:
        return self.read == self.written + self.quarantined + self.skipped + self.unacknowledged

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _Batch:
    def __init__(self) -> None:
        self.emits: list[Emit] = []
        self.entities: list[dict[str, Any]] = []

    def ids(self) -> set[str]:
        return {e["id"] for e in self.entities}

    def clear(self) -> None:
        self.emits, self.entities = [], []

    def add(self, e: Emit) -> None:
        self.emits.append(e)
        self.entities.extend(e.entities)


#: Entities per upsert. Smaller batches keep the hub's parsing of one batch overlapping
#: PostgreSQL's write of the one before: end to end with two in flight (bench/adapters.py,
#: docs/performance.md) 1,000 gave 11.4k / 11.7k entities/s for AMeDAS / traffic, where
#: 2,000 gave 6.0k / 9.3k and 5,000 gave 6.8k / 10.5k.
BATCH_SIZE = 1000


async def run_adapter(adapter: Adapter, sink: Sink | None, store: StateStore, *,
                      batch_size: int = BATCH_SIZE, in_flight: int = 2,
                      progress: Callable[[int], None] | None = None,
                      state_key: str | None = None) -> RunReport:
    """Run ``adapter`` into ``sink`` (None = dry run: map and count, store nothing).

    ``state_key`` names the state and quarantine files (default: the adapter id). One
    adapter feeding several streams (two river stations, two cities' counters) needs one
    key per stream — the registration id — or one stream's cursor would skip the other's
    older rows.

    Up to ``in_flight`` batches are sent while the next is normalised, so the hub always
    has the next request queued when it finishes one and the adapter and the hub use both
    cores; a batch that names an entity a batch still in flight also names waits for it,
    so the hub applies writes of one entity in source order. Acknowledgements are applied
    in order, so the saved state never runs ahead of what the hub stored.
    """
    if in_flight < 1:
        raise ValueError("in_flight must be at least 1")
    aid = state_key or adapter.manifest.id
    report = RunReport(adapter.manifest.id, adapter.source, _now(),
                       status="ok" if sink else "dry-run")
    state = store.load(aid)
    skips: Counter[str] = Counter()
    quarantined: list[Quarantine] = []
    batch = _Batch()
    inflight: list[tuple[asyncio.Task[dict[str, str]] | None, list[Emit], set[str]]] = []

    def acknowledge(emits: list[Emit], refused: dict[str, str]) -> None:
        for e in emits:
            bad = [refused[x["id"]] for x in e.entities if x["id"] in refused]
            if bad:
                quarantined.append(
                    Quarantine(e.source, e.row, repr([x["id"] for x in e.entities]), bad[0]))
                report.quarantined += 1
            else:
                report.written += 1
                report.entities += len(e.entities)
        if sink is not None and emits:
            state.source_digest = digest
            state.position = emits[-1].row
            cursors = [e.cursor for e in emits if e.cursor] + (
                [state.cursor] if state.cursor else [])
            if cursors:
                state.cursor = max(cursors, key=datetime.fromisoformat)
            store.save(aid, state)

    async def settle_oldest() -> None:
        """Wait for the oldest batch in flight and apply its acknowledgement."""
        task, emits, _ = inflight[0]
        refused = await task if task is not None else {}
        inflight.pop(0)
        acknowledge(emits, refused)

    async def settle() -> None:
        while inflight:
            await settle_oldest()

    async def flush() -> None:
        if batch.emits:
            ids = batch.ids()
            while inflight and (len(inflight) >= in_flight
                                or any(not ids.isdisjoint(other) for *_, other in inflight)):
                await settle_oldest()
            task = (asyncio.ensure_future(sink.upsert(batch.entities))
                    if sink is not None else None)
            inflight.append((task, batch.emits, ids))
        batch.clear()

    try:
        digest = adapter.digest()
        for out in adapter.read(store.load(aid)):
            report.read += 1
            if isinstance(out, Emit):
                batch.add(out)
                if len(batch.entities) >= batch_size:
                    await flush()
            elif isinstance(out, Quarantine):
                quarantined.append(out)
                report.quarantined += 1
            elif isinstance(out, Skip):
                report.skipped += 1
                skips[out.reason] += 1
            if report.read % 256 == 0:
                await asyncio.sleep(0)  # let the batch in flight make progress
                if progress:
                    progress(report.read)
        await flush()
        await settle()
        if sink is not None:
            state.runs += 1
            store.save(aid, state)
    except (HubUnavailable, SourceError) as exc:
        # the batches in flight may or may not be stored: the state does not move past
        # them, so the next run sends them again (harmless: the ids are deterministic)
        report.status, report.error = "failed", str(exc)
        report.unacknowledged = sum(len(emits) for _, emits, _ in inflight) + len(batch.emits)
        for task, _, _ in inflight:
            if task is not None and not task.done():
                task.cancel()
            elif task is not None and not task.cancelled():
                task.exception()  # retrieved: a second failed batch is not an unhandled error
    if sink is not None:
        store.add_quarantine(aid, quarantined)
    if progress:
        progress(report.read)
    report.finished = _now()
    report.skip_reasons = dict(skips)
    report.quarantine = [q.to_json() for q in quarantined[:50]]
    if not report.reconciles():
        raise AssertionError(f"counts do not reconcile: {report}")
    return report
