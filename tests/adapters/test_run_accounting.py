"""A run's status and counts, exactly as documented (issue #18): ``succeeded``, ``partial``
(rows quarantined, a truncated file's cut row included) or ``failed``; each row counted
once across a failed run and its resumption; a quarantine entry resolved once its row is
written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adapters.sdk import Adapter, Emit, Manifest, Outcome, Quarantine, StateStore, run_adapter
from adapters.sdk.registry import run_record
from adapters.sdk.runner import RUN_STATUSES
from registry.model import RUN_STATUSES as REGISTRY_STATUSES
from tests.adapters.recording import RecordingSink


class _Lines(Adapter):
    """One row per line: ``<id>`` is one entity, ``!<anything>`` a row the mapping refuses."""

    manifest = Manifest(id="lines", name="lines", source_format="text",
                        contract_types=("Thing",))

    def rows(self, text: str) -> Iterator[Outcome]:
        for n, line in enumerate(text.splitlines(), 1):
            if line.startswith("!"):
                yield Quarantine(self.source, n, line, "refused by the mapping")
            else:
                yield Emit(self.source, n, [{"id": line, "type": "Thing", "n": n}])


def _lines(*lines: str) -> _Lines:
    return _Lines("lines.txt", data=("\n".join(lines) + "\n").encode())


def _counts(*reports: Any) -> dict[str, int]:
    return {k: sum(getattr(r, k) for r in reports)
            for k in ("written", "quarantined", "skipped", "unacknowledged")}


async def test_statuses_are_the_documented_ones(tmp_path: Path) -> None:
    assert set(RUN_STATUSES) <= set(REGISTRY_STATUSES)
    clean = await run_adapter(_lines("a", "b"), RecordingSink(), StateStore(tmp_path / "1"))
    assert clean.status == "succeeded" and run_record(clean)["status"] == "succeeded"
    some = await run_adapter(_lines("a", "!b"), RecordingSink(), StateStore(tmp_path / "2"))
    assert some.status == "partial" and run_record(some)["status"] == "partial"
    down = await run_adapter(_lines("a", "!b"), RecordingSink(fail_on_call=1),
                             StateStore(tmp_path / "3"))
    assert down.status == "failed" and run_record(down)["status"] == "failed"
    dry = await run_adapter(_lines("a", "!b"), None, StateStore(tmp_path / "4"))
    assert dry.dry_run and dry.status == "partial"


async def test_a_row_quarantined_after_the_last_acknowledged_row_counts_once(
        tmp_path: Path) -> None:
    """The quarantined row is the last of the file, after the last batch: a second run of
    the same file skips it instead of quarantining (and counting) it again."""
    store = StateStore(tmp_path)
    first = await run_adapter(_lines("a", "b", "c", "d", "!e"), RecordingSink(), store,
                              batch_size=4)
    assert (first.status, first.written, first.quarantined) == ("partial", 4, 1)
    assert store.load("lines").position == 5
    again = await run_adapter(_lines("a", "b", "c", "d", "!e"), RecordingSink(), store,
                              batch_size=4)
    assert again.status == "succeeded" and again.skipped == again.read == 5
    assert _counts(first, again)["quarantined"] == 1
    assert len(store.quarantined("lines")) == 1


async def test_a_failed_run_leaves_later_quarantines_to_the_resumed_run(tmp_path: Path) -> None:
    """The hub fails the batch after the first: the quarantined row read after the
    acknowledged one is unacknowledged in the failed run and counted by the resumed one."""
    rows = ("a", "b", "c", "d", "!e", "f", "g", "h", "i", "!j")
    store = StateStore(tmp_path)
    failed = await run_adapter(_lines(*rows), RecordingSink(fail_on_call=2), store,
                               batch_size=4, in_flight=1)
    assert failed.status == "failed" and failed.reconciles()
    assert (failed.written, failed.quarantined) == (4, 0)
    assert failed.unacknowledged == failed.read - 4
    assert store.load("lines").position == 4
    assert store.quarantined("lines") == []
    resumed = await run_adapter(_lines(*rows), RecordingSink(), store, batch_size=4)
    assert resumed.status == "partial" and resumed.reconciles()
    assert (resumed.written, resumed.quarantined, resumed.skipped) == (4, 2, 4)
    # across the two runs: every row written or quarantined exactly once
    total = _counts(failed, resumed)
    assert total["written"] == 8 and total["quarantined"] == 2
    assert [q["row"] for q in store.quarantined("lines")] == [5, 10]


async def test_a_quarantined_row_written_later_is_resolved(tmp_path: Path) -> None:
    """The corrected file arrives (same source, new content): the row ingests and its
    quarantine entry goes; the other entry stays."""
    store = StateStore(tmp_path)
    await run_adapter(_lines("a", "!b", "c", "!d"), RecordingSink(), store)
    assert [q["row"] for q in store.quarantined("lines")] == [2, 4]
    sink = RecordingSink()
    fixed = await run_adapter(_lines("a", "b", "c", "!d"), sink, store)
    assert fixed.status == "partial" and fixed.written == 3 and "b" in sink.stored
    assert [q["row"] for q in store.quarantined("lines")] == [4]
    final = await run_adapter(_lines("a", "b", "c", "d"), RecordingSink(), store)
    assert final.status == "succeeded"
    assert store.quarantined("lines") == []


async def test_two_failures_then_success_write_each_row_once(tmp_path: Path) -> None:
    """Rows already acknowledged are skipped and settled at once; a second failure keeps
    the saved position, and the three runs together write every row once."""
    rows = ("a", "b", "!c", "d", "e", "f")
    store = StateStore(tmp_path)
    first = await run_adapter(_lines(*rows), RecordingSink(fail_on_call=2), store,
                              batch_size=2, in_flight=1)
    assert (first.status, first.written, store.load("lines").position) == ("failed", 2, 2)
    second = await run_adapter(_lines(*rows), RecordingSink(fail_on_call=1), store,
                               batch_size=2, in_flight=1)
    # "!c" follows the acknowledged rows with nothing pending before it: final at once
    assert (second.status, second.skipped, second.quarantined, second.unacknowledged) == (
        "failed", 2, 1, 3)
    assert store.load("lines").position == 3
    third = await run_adapter(_lines(*rows), RecordingSink(), store, batch_size=2)
    assert (third.status, third.skipped, third.written, third.quarantined) == (
        "succeeded", 3, 3, 0)
    total = _counts(first, second, third)
    assert total["written"] == 5 and total["quarantined"] == 1
    assert store.load("lines").position == 6
