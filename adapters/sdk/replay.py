"""Replay quarantined rows through the current mapping, after a mapping or registry fix.

The quarantine file (sdk.state) keeps each row's source, row number, raw content and
reason. Replaying reads each listed source again through the adapter as it is *now*
(the rows themselves, not the saved state: they lie below the saved position, which a
normal run would skip), and for the listed rows only: a row that maps now is upserted
and its entry resolved once the hub acknowledges it; a row still refused keeps its entry
with the new reason. A refusal the configuration causes stops the replay with the fix
(sdk.refusals), entries kept. The saved position is not touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.sdk.base import Adapter, SourceError
from adapters.sdk.records import Emit, Quarantine, Skip
from adapters.sdk.refusals import HubUnavailable
from adapters.sdk.sink import Sink
from adapters.sdk.state import StateStore

__all__ = ["ReplayReport", "replay_quarantine"]


@dataclass
class ReplayReport:
    listed: int = 0
    written: int = 0
    still_quarantined: int = 0
    skipped: int = 0
    #: listed rows not replayed: the source cannot be read any more, or the run stopped
    pending: int = 0
    errors: list[str] = field(default_factory=list)

    def reconciles(self) -> bool:
        return self.listed == self.written + self.still_quarantined + self.skipped + self.pending

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def replay_quarantine(make: Callable[[str], Adapter], sink: Sink | None,
                            store: StateStore, key: str) -> ReplayReport:
    """Replay the entries of ``key``'s quarantine; ``make(source)`` builds the adapter with
    its current mapping and options; ``sink`` None = dry replay (nothing stored)."""
    entries = store.quarantined(key)
    report = ReplayReport(listed=len(entries))
    by_source: dict[str, set[int]] = {}
    for q in entries:
        by_source.setdefault(q["source"], set()).add(q["row"])
    resolved: list[tuple[str, int]] = []
    again: list[Quarantine] = []
    stopped = False
    for source, wanted in by_source.items():
        if stopped:
            report.pending += len(wanted)
            continue
        try:
            adapter = make(source)
            outs = [o for o in adapter.rows(adapter.text()) if o.row in wanted]
        except SourceError as exc:
            report.pending += len(wanted)
            report.errors.append(f"{source}: cannot be read again ({exc})")
            continue
        report.pending += len(wanted) - len(outs)  # rows the source no longer has
        emits = [o for o in outs if isinstance(o, Emit)]
        for o in outs:
            if isinstance(o, Quarantine):
                again.append(o)
                report.still_quarantined += 1
            elif isinstance(o, Skip):
                resolved.append((o.source, o.row))
                report.skipped += 1
        if sink is None:
            report.written += len(emits)
            continue
        try:
            refused = await sink.upsert([x for e in emits for x in e.entities]) if emits else {}
        except HubUnavailable as exc:
            report.pending += len(emits)
            report.errors.append(str(exc))
            stopped = True
            continue
        for e in emits:
            bad = [refused[x["id"]] for x in e.entities if x["id"] in refused]
            if any(getattr(b, "fixable", False) for b in bad):
                report.pending += 1
                report.errors.append(f"row {e.row}: {next(b for b in bad if b)}")
            elif bad:
                again.append(Quarantine(e.source, e.row, repr([x["id"] for x in e.entities]),
                                        bad[0]))
                report.still_quarantined += 1
            else:
                resolved.append((e.source, e.row))
                report.written += 1
    if sink is not None:
        store.update_quarantine(key, again, resolved)
    return report
