"""Conformance, continued: a refusal the configuration causes is never a quarantined row.

Every adapter's fixture is run into a stand-in hub (fakehub.py) that, from its second
request on, answers one refusal kind — 401, 403 (scope or another organisation's
dataset), 404 on the endpoint, 409 (whole batch or one entity), 400 NoOwningDataset or
ContractsContextMissing, 5xx with an HTML page, no answer before the timeout — then
recovers. The run stops as ``failed`` with the fix in its message, quarantines nothing
the hub caused, and one re-run with the same state writes exactly what is missing:
nothing lost, nothing counted or written twice (issue #15).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.sdk import HubSink, Quarantine, StateStore, run_adapter
from tests.adapters.cases import CASES, Case, make
from tests.adapters.fakehub import FAULTS, FakeHub
from tests.adapters.recording import RecordingSink

#: words each fault's message must contain: the fix, not just the status
FIX = {"401": "--token", "403-scope": "write scope", "404-url": "--hub",
       "409-whole": "another organisation", "503": "healthy", "409-entity": "registry",
       "400-no-owner": "NoOwningDataset", "400-context": "ContractsContextMissing",
       "403-dataset": "organisation that owns", "timeout": "unreachable"}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_a_refusal_mid_run_stops_and_one_rerun_writes_exactly_the_rest(
        case: Case, fault: str, tmp_path: Path) -> None:
    own_quarantines = sum(isinstance(o, Quarantine) for o in make(case).read())
    clean = RecordingSink()
    whole = await run_adapter(make(case), clean, StateStore(tmp_path / "clean"), batch_size=5)
    store = StateStore(tmp_path / "s")
    async with FakeHub(fault, fault_from=2) as hub:
        # --hub given as the NGSI-LD API root works as well as the base URL
        async with HubSink(hub.url + "/ngsi-ld/v1/", timeout=0.25, retries=1) as sink:
            first = await run_adapter(make(case), sink, store, batch_size=5, in_flight=1)
        assert first.status == "failed" and first.reconciles(), first
        assert FIX[fault] in (first.error or ""), first.error
        assert first.unacknowledged > 0
        # nothing the hub caused is quarantined: only the mapping's own rows, if any
        assert all("hub" not in q["reason"] for q in store.quarantined(case.name))
        assert first.quarantined <= own_quarantines
        hub.recover()
        async with HubSink(hub.url, timeout=5, retries=1) as sink:
            second = await run_adapter(make(case), sink, store, batch_size=5, in_flight=1)
    assert second.status == whole.status and second.reconciles(), second
    # every row counted once across the two runs, exactly as one clean run counts them
    assert first.written + second.written == whole.written
    assert first.quarantined + second.quarantined == whole.quarantined == own_quarantines
    assert len(store.quarantined(case.name)) == own_quarantines
    # nothing lost: the hub holds exactly what one clean run stores
    assert hub.stored == clean.stored
    # nothing the hub acknowledged is sent again: only the batch the run stopped on (which
    # the hub may have stored without answering, after a timeout) is written a second time
    again = [i for i in set(hub.writes) if hub.writes.count(i) > 1]
    assert len(again) <= 5 * max(len(o.entities) for o in make(case).read()
                                 if hasattr(o, "entities"))
