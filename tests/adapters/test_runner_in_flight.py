"""The runner's batches in flight: how many at once, the order of writes of one entity,
and the accounting when the hub fails with two batches sent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.sdk import Adapter, Emit, HubUnavailable, Manifest, Outcome, StateStore, run_adapter


class _Lines(Adapter):
    """One row per line ``<id>[,<id>...]``, one entity per id (``value`` = the row number)."""

    manifest = Manifest(id="lines", name="lines", source_format="text",
                        contract_types=("Thing",))

    def rows(self, text: str) -> Iterator[Outcome]:
        for n, line in enumerate(text.splitlines(), 1):
            ids = line.split(",")
            yield Emit(self.source, n, [{"id": i, "type": "Thing", "n": n} for i in ids])


class _SlowSink:
    """Holds every upsert for a moment, recording which ids were in flight together."""

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.calls = 0
        self.fail_on_call = fail_on_call
        self.active: list[set[str]] = []
        self.max_active = 0
        self.overlaps: list[set[str]] = []
        self.stored: dict[str, Any] = {}

    async def upsert(self, entities: list[dict[str, Any]]) -> dict[str, str]:
        self.calls += 1
        call = self.calls
        ids = {e["id"] for e in entities}
        self.overlaps += [ids & other for other in self.active if ids & other]
        self.active.append(ids)
        self.max_active = max(self.max_active, len(self.active))
        try:
            await asyncio.sleep(0.01)
            if call == self.fail_on_call:
                raise HubUnavailable("hub unreachable (test)")
            for e in entities:
                self.stored[e["id"]] = e
            return {}
        finally:
            self.active.remove(ids)


def _adapter(lines: list[str]) -> _Lines:
    return _Lines(data=("\n".join(lines) + "\n").encode())


@pytest.mark.parametrize("in_flight", [1, 2, 3])
async def test_up_to_in_flight_batches_are_sent_at_once(tmp_path: Path, in_flight: int) -> None:
    sink = _SlowSink()
    report = await run_adapter(_adapter([f"e{i}" for i in range(40)]), sink,
                               StateStore(tmp_path), batch_size=4, in_flight=in_flight)
    assert report.status == "succeeded" and report.written == 40 and report.reconciles()
    assert sink.max_active == in_flight
    assert len(sink.stored) == 40


async def test_a_batch_naming_an_entity_in_flight_waits_for_it(tmp_path: Path) -> None:
    # every row also rewrites "shared": the later row's value must win, as in source order
    sink = _SlowSink()
    report = await run_adapter(_adapter([f"e{i},shared" for i in range(20)]), sink,
                               StateStore(tmp_path), batch_size=4, in_flight=2)
    assert report.reconciles() and report.written == 20
    assert sink.overlaps == []
    assert sink.stored["shared"]["n"] == 20


async def test_hub_failure_with_two_batches_in_flight_reconciles(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    sink = _SlowSink(fail_on_call=2)
    report = await run_adapter(_adapter([f"e{i}" for i in range(40)]), sink, store,
                               batch_size=4, in_flight=2)
    assert report.status == "failed" and report.reconciles()
    assert report.written == 4  # the first batch only: the state never passes the failure
    assert report.unacknowledged == report.read - 4 > 4  # the failed batch and the next
    assert store.load("lines").position == 4
    resumed = await run_adapter(_adapter([f"e{i}" for i in range(40)]), _SlowSink(), store,
                                batch_size=4, in_flight=2)
    assert resumed.status == "succeeded" and resumed.written == 36 and resumed.skipped == 4


async def test_in_flight_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="in_flight"):
        await run_adapter(_adapter(["e1"]), _SlowSink(), StateStore(tmp_path), in_flight=0)
