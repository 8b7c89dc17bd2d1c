"""One run of an adapter: read outcomes, upsert in batches, save state after each ack.

The counts of a run reconcile: every row read is written, quarantined, skipped, or (when
the hub became unreachable) left unacknowledged for the next run, and
``read == written + quarantined + skipped + unacknowledged`` is checked before the report
is returned. State moves forward only past rows whose batch the hub acknowledged; a row
that sends nothing (quarantined, skipped) settles with the batch before it, so its count
and quarantine entry belong to exactly one run, and a run that stops leaves it, like the
rows of the batches in flight, ``unacknowledged`` for the next run to count. A row written
whose earlier run quarantined it has its quarantine entry removed.
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
from adapters.sdk.refusals import HubRefused, HubUnavailable
from adapters.sdk.sink import Sink
from adapters.sdk.state import StateStore

__all__ = ["BATCH_SIZE", "RUN_STATUSES", "RunReport", "run_adapter"]


#: what a run reports, as the registry records it (docs/registry.md): every row written or
#: skipped; some rows quarantined (a truncated file's cut row included); the run stopped
#: (hub unreachable or source unreadable) and the next run resumes
RUN_STATUSES = ("succeeded", "partial", "failed")


@dataclass
class RunReport:
    adapter: str
    source: str
    started: str
    finished: str = ""
    #: one of RUN_STATUSES, decided when the run ends
    status: str = "succeeded"
    #: a dry run maps and counts but stores nothing (no state, no quarantine file)
    dry_run: bool = False
    read: int = 0
    written: int = 0
    quarantined: int = 0
    skipped: int = 0
    unacknowledged: int = 0
    entities: int = 0
    error: str | None = None
    skip_reasons: dict[str, int] = field(default_factory=dict)
    #: rows written with a flag (sdk.records.Emit.flags): flag -> rows
    flags: dict[str, int] = field(default_factory=dict)
    quarantine: list[dict[str, Any]] = field(default_factory=list)

    def reconciles(self) -> bool:
        return self.read == self.written + self.quarantined + self.skipped + self.unacknowledged

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _Batch:
    """Rows read since the last batch was sent: the emits sent together, and the rows
    between them that send nothing (quarantined, skipped), which settle with the batch."""

    def __init__(self) -> None:
        self.emits: list[Emit] = []
        self.entities: list[dict[str, Any]] = []
        self.others: list[Quarantine | Skip] = []
        self.last_row = 0

    def ids(self) -> set[str]:
        return {e["id"] for e in self.entities}

    def clear(self) -> None:
        self.emits, self.entities, self.others = [], [], []

    def add(self, e: Emit) -> None:
        self.emits.append(e)
        self.entities.extend(e.entities)

    def rows(self) -> int:
        return len(self.emits) + len(self.others)


@dataclass
class _Sent:
    """A batch in flight: settled (counted, state moved to ``upto``) when acknowledged."""

    task: asyncio.Task[dict[str, str]] | None
    emits: list[Emit]
    others: list[Quarantine | Skip]
    ids: set[str]
    upto: int


#: skips that show rows settled by an earlier run: a run that only quarantines its new rows
#: after them is an ordinary partial run, not a source nothing of which maps
_RESUMED = ("already acknowledged in an earlier run", "older than the saved cursor minus look-back")


def _first_fixable(sent: _Sent, refused: dict[str, str]) -> tuple[int, str] | None:
    """The first row of ``sent`` the hub refused for a reason a fix outside the file
    resolves (sdk.refusals.Refusal.fixable), with that reason; None if there is none."""
    if not refused:
        return None
    for e in sent.emits:
        for x in e.entities:
            reason = refused.get(x["id"])
            if reason is not None and getattr(reason, "fixable", False):
                return e.row, reason
    return None


#: Entities per upsert. Smaller batches keep the hub's parsing of one batch overlapping
#: PostgreSQL's write of the one before: end to end with two in flight (bench/adapters.py,
#: docs/performance.md) 1,000 gave 11.4k / 11.7k entities/s for AMeDAS / traffic, where
#: 2,000 gave 6.0k / 9.3k and 5,000 gave 6.8k / 10.5k.
BATCH_SIZE = 1000


async def run_adapter(adapter: Adapter, sink: Sink | None, store: StateStore, *,
                      batch_size: int = BATCH_SIZE, in_flight: int = 2,
                      progress: Callable[[int, int], None] | None = None,
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
    report = RunReport(adapter.manifest.id, adapter.source, _now(), dry_run=sink is None)
    state = store.load(aid)
    #: rows quarantined in earlier runs: written now, their entries are resolved
    known = store.quarantine_keys(aid) if sink is not None else set()
    resolved: list[tuple[str, int]] = []
    skips: Counter[str] = Counter()
    quarantined: list[Quarantine] = []
    batch = _Batch()
    inflight: list[_Sent] = []
    digest = ""

    def count(out: Quarantine | Skip) -> None:
        if isinstance(out, Quarantine):
            quarantined.append(out)
            report.quarantined += 1
        else:
            report.skipped += 1
            skips[out.reason] += 1

    def advance(upto: int, emits: list[Emit]) -> None:
        """Every row up to ``upto`` has its outcome: a later run of this source skips them,
        so none is counted (or quarantined) twice across runs."""
        if sink is None:
            return
        if state.source_digest == digest:
            state.position = max(state.position, upto)  # skipped rows lie below it
        else:
            state.source_digest, state.position = digest, upto
        cursors = [e.cursor for e in emits if e.cursor] + ([state.cursor] if state.cursor else [])
        if cursors:
            state.cursor = max(cursors, key=datetime.fromisoformat)

    def acknowledge(sent: _Sent, refused: dict[str, str]) -> None:
        cut = _first_fixable(sent, refused)
        if cut is not None:
            # the configuration's fault, not the row's: settle the rows before it, leave it
            # and every row after it unacknowledged, and stop (the saved position stays
            # below it, so the run after the fix sends exactly these rows)
            row, reason = cut
            acknowledge(_Sent(None, [e for e in sent.emits if e.row < row],
                              [o for o in sent.others if o.row < row], set(), row - 1), {
                k: v for k, v in refused.items() if not getattr(v, "fixable", False)})
            inflight.insert(0, _Sent(None, [e for e in sent.emits if e.row >= row],
                                     [o for o in sent.others if o.row >= row], set(), 0))
            raise HubRefused(f"row {row}: {reason}")
        for e in sent.emits:
            bad = [refused[x["id"]] for x in e.entities if x["id"] in refused]
            if bad:
                count(Quarantine(e.source, e.row, repr([x["id"] for x in e.entities]), bad[0]))
            else:
                report.written += 1
                report.entities += len(e.entities)
                for f in e.flags:
                    report.flags[f] = report.flags.get(f, 0) + 1
                if (e.source, e.row) in known:
                    resolved.append((e.source, e.row))
        for out in sent.others:
            count(out)
        if sink is not None and sent.upto:
            advance(sent.upto, sent.emits)
            store.save(aid, state)

    async def settle_oldest() -> None:
        """Wait for the oldest batch in flight and apply its acknowledgement."""
        sent = inflight[0]
        refused = await sent.task if sent.task is not None else {}
        inflight.pop(0)
        acknowledge(sent, refused)

    async def settle() -> None:
        while inflight:
            await settle_oldest()

    async def flush() -> None:
        if batch.rows():
            ids = batch.ids()
            while inflight and (len(inflight) >= in_flight
                                or any(not ids.isdisjoint(other.ids) for other in inflight)):
                await settle_oldest()
            task = (asyncio.ensure_future(sink.upsert(batch.entities))
                    if sink is not None and batch.emits else None)
            inflight.append(_Sent(task, batch.emits, batch.others, ids, batch.last_row))
        batch.clear()

    failed = False
    try:
        digest = adapter.digest()
        for out in adapter.read(store.load(aid)):
            report.read += 1
            batch.last_row = out.row
            if isinstance(out, Emit):
                batch.add(out)
                if len(batch.entities) >= batch_size:
                    await flush()
            elif inflight or batch.emits:
                batch.others.append(out)  # settles once the rows before it are stored
            else:
                count(out)  # nothing before it is pending: its outcome is final now
                advance(out.row, [])
            if report.read % 256 == 0:
                await asyncio.sleep(0)  # let the batch in flight make progress
                if progress:  # rows read, and the source row reached (sdk/progress.py)
                    progress(report.read, out.row)
        await flush()
        await settle()
        if sink is not None:
            state.runs += 1
            store.save(aid, state)
    except (HubUnavailable, SourceError) as exc:
        # the batches in flight may or may not be stored: the state does not move past
        # them, so the next run reads their rows again and counts them then (harmless for
        # the hub: the ids are deterministic); here they are unacknowledged
        failed, report.error = True, str(exc)
        report.unacknowledged = sum(len(s.emits) + len(s.others) for s in inflight) + \
            batch.rows()
        for sent in inflight:
            if sent.task is not None and not sent.task.done():
                sent.task.cancel()
            elif sent.task is not None and not sent.task.cancelled():
                sent.task.exception()  # retrieved: a second failed batch is not unhandled
        if sink is not None and state.source_digest == digest and digest:
            store.save(aid, state)  # rows settled without a batch since the last save
    if sink is not None:
        store.update_quarantine(aid, quarantined, resolved)
    if progress:
        progress(report.read, batch.last_row)
    report.finished = _now()
    report.skip_reasons = dict(skips)
    report.quarantine = [q.to_json() for q in quarantined[:50]]
    if not failed and report.quarantined >= 2 and not report.written and \
            report.quarantined + report.skipped == report.read and report.quarantine and \
            not any(report.skip_reasons.get(r) for r in _RESUMED):
        # nothing of the source could be mapped: a layout or option problem, not bad rows
        failed = True
        report.error = (f"every row read was quarantined ({report.quarantined}): the source "
                        "is probably not the layout this adapter reads, or an option is "
                        f"wrong; first reason: {report.quarantine[0]['reason']}")
    report.status = "failed" if failed else "partial" if report.quarantined else "succeeded"
    if not report.reconciles():
        raise AssertionError(f"counts do not reconcile: {report}")
    return report
