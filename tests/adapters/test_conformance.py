"""The conformance suite every adapter passes, built-in, third-party or declarative.

check, describe, read fixtures into valid contract entities, quarantine with reasons,
state round-trip, idempotent re-run; error fixtures: wrong encoding, truncated file,
unexpected header, garbage rows, duplicate rows. Each adapter is a ``Case`` in cases.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from adapters.sdk import Emit, Quarantine, Skip, SourceError, State, StateStore, run_adapter
from contracts import CONTRACTS, contract, to_ngsi_ld
from tests.adapters.cases import CASES, Case, make
from tests.adapters.recording import RecordingSink

pytestmark = pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])


def _key_values(entity: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": entity["id"], "type": entity["type"]}
    for k, v in entity.items():
        if isinstance(v, dict):
            out[k] = v["object"] if v["type"] == "Relationship" else v["value"]
    return out


def _emitted(outs: list[Any]) -> list[dict[str, Any]]:
    return [e for o in outs if isinstance(o, Emit) for e in o.entities]


def test_check_accepts_the_fixture(case: Case) -> None:
    result = make(case).check()
    assert result.ok, result.messages


def test_describe_names_real_contracts_and_attributes(case: Case) -> None:
    d = make(case).describe()
    m = d["manifest"]
    assert m["id"] == case.name
    for field in ("name", "source_format", "contract_types", "encoding", "schedule", "lookback"):
        assert m[field], field
    assert set(d["produces"]) == set(m["contract_types"])
    for ctype, attrs in d["produces"].items():
        assert ctype in CONTRACTS
        unknown = set(attrs) - set(contract(ctype).model.model_fields)
        assert not unknown, f"{ctype} has no {unknown}"


def test_fixture_reads_into_valid_contract_entities(case: Case) -> None:
    adapter = make(case)
    outs = list(adapter.read())
    entities = _emitted(outs)
    assert entities, "the fixture produced nothing"
    types = set(adapter.manifest.contract_types)
    rows = [o.row for o in outs]
    assert rows == sorted(rows) and len(set(rows)) == len(rows), "one outcome per row, in order"
    for e in entities:
        assert e["type"] in types
        model = contract(e["type"]).model(**_key_values(e))
        # byte for byte (so also value types and attribute order): the entity is what the
        # contract model itself makes of the entity's own values
        assert orjson.dumps(to_ngsi_ld(model, include_context=False)) == orjson.dumps(e)
    ids = [e["id"] for o in outs if isinstance(o, Emit) for e in o.entities[:1]]
    assert len(ids) == len(set(ids)), "two rows made the same entity"


def test_ids_are_deterministic(case: Case) -> None:
    first = [e["id"] for e in _emitted(list(make(case).read()))]
    again = [e["id"] for e in _emitted(list(make(case).read()))]
    assert first == again


def test_garbage_rows_are_quarantined_with_reasons(case: Case) -> None:
    data = make(case).source_bytes()
    bad, reasons = case.garbage(data)
    outs = list(make(case, data=bad).read())
    quarantined = [o for o in outs if isinstance(o, Quarantine)]
    for want in reasons:
        assert any(want in q.reason for q in quarantined), (want, [q.reason for q in quarantined])
    for q in quarantined:
        assert q.raw and q.row > 0 and q.source
    # the good rows still come through
    assert len(_emitted(outs)) > 0


def test_duplicate_rows_are_skipped_not_written_twice(case: Case) -> None:
    assert case.duplicate is not None
    data = make(case).source_bytes()
    outs = list(make(case, data=case.duplicate(data)).read())
    assert any(isinstance(o, Skip) and o.reason == "duplicate row" for o in outs)
    ids = [o.entities[0]["id"] for o in outs if isinstance(o, Emit)]
    assert len(ids) == len(set(ids))


def test_unexpected_header_is_refused(case: Case) -> None:
    data = make(case).source_bytes()
    adapter = make(case, data=case.bad_header(data))
    result = adapter.check()
    assert not result.ok
    assert any("header" in m or "not an AMeDAS map" in m for m in result.messages), result.messages
    with pytest.raises(SourceError):
        list(adapter.read())


def test_wrong_encoding_is_refused(case: Case) -> None:
    data = make(case).source_bytes()
    text = data.decode(case.encoding)
    other = text.encode("utf-16") if case.encoding == "utf-8" else text.encode("utf-8")
    adapter = make(case, data=other)
    assert not adapter.check().ok
    with pytest.raises(SourceError):
        list(adapter.read())


def test_truncated_file_is_never_silent(case: Case) -> None:
    data = make(case).source_bytes()
    full = list(make(case).read())
    cut = data.rfind(b",", 0, int(len(data) * 0.7)) + 1
    adapter = make(case, data=data[:cut])
    try:
        outs = list(adapter.read())
    except SourceError:
        return  # refused as a whole: fine
    last = outs[-1]
    assert isinstance(last, Quarantine), f"the cut row was not quarantined: {last}"
    # every row before the cut came out exactly as from the whole file
    by_row = {o.row: o for o in full}
    for o in outs[:-1]:
        assert type(o) is type(by_row[o.row])


async def test_a_truncated_file_never_runs_as_succeeded(case: Case, tmp_path: Path) -> None:
    """The cut row is quarantined (``partial``) or the file refused (``failed``): a run of a
    truncated file never reports plain success (issue #18: it reported ``ok``)."""
    data = make(case).source_bytes()
    cut = data.rfind(b",", 0, int(len(data) * 0.7)) + 1
    report = await run_adapter(make(case, data=data[:cut]), RecordingSink(),
                               StateStore(tmp_path))
    assert report.reconciles()
    assert report.status == "failed" or (report.status == "partial" and report.quarantined)


async def test_run_reconciles_saves_state_and_reruns_idempotently(case: Case,
                                                                   tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    sink = RecordingSink()
    first = await run_adapter(make(case), sink, store, batch_size=50)
    assert first.status == _status(case) and first.reconciles()
    assert first.quarantined == _quarantines(case)
    assert first.written > 0 and first.entities == len(sink.sent)
    state = store.load(case.name)
    assert state.source_digest == make(case).digest() and state.position > 0
    # state round-trip
    assert State.from_json(state.to_json()) == state
    stored = dict(sink.stored)
    again = await run_adapter(make(case), sink, store, batch_size=50)
    assert again.reconciles() and again.written == 0
    assert again.skipped == again.read == first.read
    assert sink.stored == stored


async def test_hub_failure_mid_run_resumes_without_loss(case: Case, tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    broken = RecordingSink(fail_on_call=2)
    failed = await run_adapter(make(case), broken, store, batch_size=5)
    assert broken.calls == 2
    assert failed.status == "failed" and failed.unacknowledged > 0 and failed.reconciles()
    saved = store.load(case.name)
    good = RecordingSink()
    resumed = await run_adapter(make(case), good, store, batch_size=5)
    assert resumed.status == ("partial" if resumed.quarantined else "succeeded")
    assert resumed.reconciles()
    # each quarantined row is counted by exactly one of the two runs
    assert failed.quarantined + resumed.quarantined == _quarantines(case)
    # the resumed run skips exactly the rows the hub acknowledged before the failure
    acked = sum(1 for o in make(case).read() if o.row <= saved.position)
    assert resumed.skip_reasons.get("already acknowledged in an earlier run", 0) == acked
    whole = RecordingSink()
    await run_adapter(make(case), whole, StateStore(tmp_path / "fresh"), batch_size=5)
    # nothing lost: what the two runs stored together is what one clean run stores
    assert {**broken.stored, **good.stored} == whole.stored
    # nothing acknowledged is sent again (rows are sent whole, the shared extras aside)
    assert not (set(broken.sent) & set(good.sent)) - _shared(whole)


def _quarantines(case: Case) -> int:
    return sum(isinstance(o, Quarantine) for o in make(case).read())


def _status(case: Case) -> str:
    """A run that quarantined rows is partial, never plain success (issue #18)."""
    return "partial" if _quarantines(case) else "succeeded"


def _shared(sink: RecordingSink) -> set[str]:
    """Entities more than one row carries (none today; kept for adapters that repeat one)."""
    return {i for i in sink.sent if sink.sent.count(i) > 1}


async def test_dry_run_stores_nothing(case: Case, tmp_path: Path) -> None:
    report = await run_adapter(make(case), None, StateStore(tmp_path))
    assert report.dry_run and report.status == _status(case)
    assert report.written > 0 and report.reconciles()
    assert not StateStore(tmp_path).state_path(case.name).exists()
    assert not StateStore(tmp_path).quarantine_path(case.name).exists()


async def test_streams_under_different_keys_keep_their_own_cursor(case: Case,
                                                                  tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    await run_adapter(make(case), RecordingSink(), store, state_key="stream-a")
    assert store.load("stream-a").runs == 1
    assert store.load("stream-b") == State()
    other = await run_adapter(make(case), RecordingSink(), store, state_key="stream-b")
    assert other.written > 0  # not skipped by stream-a's cursor or position
